//! What the reaper looks for: lost leases, turns past their time limit,
//! due retries — each read through an index of the active runs only.

use runway_api::enums::RunStatus;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::turns::NANOS_PER_MS;
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::{Store, StoreResult};

/// Runs the reaper should look at, oldest first, at most `limit` of each kind.
#[derive(Debug, Default, Clone)]
pub struct ReapCandidates {
    /// Claimed turns whose lease expired.
    pub lost: Vec<String>,
    /// Started turns no runner claimed within their time limit.
    pub unclaimed: Vec<String>,
    /// Claimed turns running past their time limit plus the grace.
    pub overrun: Vec<String>,
    /// Pending retries whose backoff is over.
    pub due_retries: Vec<String>,
}

/// The reaper's four queries at `now`: leases that expired before
/// `lost_before`, unclaimed turns past their limit, claimed turns whose limit
/// plus `grace` passed before `lost_before`, due retries; each at most
/// `limit` rows. Each reads only running or pending runs, through an
/// index (`idx_runs_active`, or the lease and backoff ones).
pub fn reap_queries(
    now: i64,
    lost_before: i64,
    grace: i64,
    limit: u64,
) -> [sea_orm::Select<DeploymentRun>; 4] {
    use deployment_run::Column as C;
    let deadline = Expr::col(C::StartedAt).add(Expr::col(C::TimeoutMs).mul(NANOS_PER_MS));
    [
        DeploymentRun::find()
            .filter(C::Status.eq(RunStatus::Running))
            .filter(C::LeaseExpiresAt.lt(lost_before))
            .filter(C::ClaimedAt.is_not_null())
            .limit(limit),
        DeploymentRun::find()
            .filter(C::Status.eq(RunStatus::Running))
            .filter(C::ClaimedAt.is_null())
            .filter(deadline.clone().lt(now))
            .limit(limit),
        DeploymentRun::find()
            .filter(C::Status.eq(RunStatus::Running))
            .filter(C::ClaimedAt.is_not_null())
            .filter(deadline.add(grace).lt(lost_before))
            .limit(limit),
        DeploymentRun::find()
            .filter(C::Status.eq(RunStatus::Pending))
            .filter(C::StartAfter.lte(now))
            .order_by_asc(C::StartAfter)
            .limit(limit),
    ]
}

/// The earliest instant a pending retry falls due (read through the
/// backoff index, as the due retries are).
pub fn next_retry_query() -> sea_orm::Select<DeploymentRun> {
    use deployment_run::Column as C;
    DeploymentRun::find()
        .select_only()
        .column(C::StartAfter)
        .filter(C::Status.eq(RunStatus::Pending))
        .filter(C::StartAfter.is_not_null())
        .order_by_asc(C::StartAfter)
        .limit(1)
}

/// When the next pending retry falls due, if one waits (whichever process
/// created it).
pub async fn next_retry_at(store: &Store) -> StoreResult<Option<i64>> {
    let next: Option<Option<i64>> = next_retry_query().into_tuple().one(store.reader()).await?;
    Ok(next.flatten())
}

/// Finds work for the reaper. Each id is re-checked under lock by
/// [`super::turns::finish`] / [`super::retries::start_retry`], so a stale
/// candidate is harmless.
pub async fn reap_candidates(
    store: &Store,
    now: i64,
    lost_before: i64,
    grace: i64,
    limit: u64,
) -> StoreResult<ReapCandidates> {
    let db = store.reader();
    let [lost, unclaimed, overrun, due_retries] = reap_queries(now, lost_before, grace, limit);
    let ids = |rows: Vec<deployment_run::Model>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    Ok(ReapCandidates {
        lost: ids(lost.all(db).await?),
        unclaimed: ids(unclaimed.all(db).await?),
        overrun: ids(overrun.all(db).await?),
        due_retries: ids(due_retries.all(db).await?),
    })
}

/// Turns claimed by a runner whose lease has not expired.
pub async fn count_leased(store: &Store, now: i64) -> StoreResult<i64> {
    use sea_orm::PaginatorTrait;
    let n = DeploymentRun::find()
        .filter(deployment_run::Column::Status.eq(RunStatus::Running))
        .filter(deployment_run::Column::LeaseExpiresAt.gte(now))
        .count(store.reader())
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}
