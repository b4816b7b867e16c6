//! The runs a deployment's rules no longer keep: their cutoffs, and the
//! index ranges that find them ([`expired_selects`]); the retries that keep
//! a failed run.

use std::collections::HashSet;

use runway_api::enums::{RunStatus, TriggerType};
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::{Store, StoreResult};

/// What a deployment's rules delete, as instants: runs triggered before
/// them go (`None`: no such limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCutoffs {
    /// Completed and skipped runs triggered before this.
    pub keep_before: Option<i64>,
    /// Failed runs triggered before this.
    pub failed_before: Option<i64>,
    /// Terminal runs older than the deployment's newest `max_runs` runs:
    /// its oldest kept run's `(triggered_at, id)`.
    pub newest_kept: Option<(i64, String)>,
}

impl RunCutoffs {
    /// Whether a run of `status` triggered at `triggered_at` goes under
    /// these cutoffs: the rule [`expired_selects`] reads as index ranges,
    /// for runs read some other way (the pruner's walk in time order). An
    /// active run never goes.
    pub fn expires(&self, status: RunStatus, triggered_at: i64, id: &str) -> bool {
        if status.is_active() {
            return false;
        }
        let before = match status {
            RunStatus::Failed => self.failed_before,
            _ => self.keep_before,
        };
        before.is_some_and(|before| triggered_at < before)
            || self
                .newest_kept
                .as_ref()
                .is_some_and(|(at, kept)| (triggered_at, id) < (*at, kept.as_str()))
    }

    /// An instant every run that goes was triggered before (`None`: none
    /// goes).
    pub fn expire_before(&self) -> Option<i64> {
        let by_count = self
            .newest_kept
            .as_ref()
            .map(|(at, _)| at.saturating_add(1));
        [self.keep_before, self.failed_before, by_count]
            .into_iter()
            .flatten()
            .max()
    }
}

/// A run to delete, with its session (and so its transcript).
#[derive(Debug, Clone, PartialEq, Eq, Hash, FromQueryResult)]
pub struct ExpiredRun {
    pub id: String,
    pub org_id: String,
    pub session_id: Option<String>,
}

/// The `(triggered_at, id)` of `deployment_id`'s `n`-th newest run, the
/// oldest that `max_runs = n` keeps; `None` when it has no more than `n`.
/// Reads `n` entries of `(deployment_id, triggered_at, id)`.
pub async fn newest_kept(
    store: &Store,
    deployment_id: &str,
    n: i64,
) -> StoreResult<Option<(i64, String)>> {
    if n <= 0 {
        return Ok(None);
    }
    let select = newest_kept_select(deployment_id, n);
    Ok(select
        .into_tuple::<(i64, String)>()
        .one(store.reader())
        .await?)
}

/// The statement of [`newest_kept`] (public for the query-plan tests).
pub fn newest_kept_select(deployment_id: &str, n: i64) -> Select<DeploymentRun> {
    use deployment_run::Column as C;
    DeploymentRun::find()
        .select_only()
        .columns([C::TriggeredAt, C::Id])
        .filter(C::DeploymentId.eq(deployment_id))
        .order_by_desc(C::TriggeredAt)
        .order_by_desc(C::Id)
        .offset((n - 1) as u64)
        .limit(1)
}

/// The selects whose union is the expired runs of `deployment_id` under
/// `cutoffs`, each one range of `(deployment_id, status, trigger_type,
/// triggered_at, id)`: terminal statuses only, so no active run is ever
/// among them.
pub fn expired_selects(deployment_id: &str, cutoffs: &RunCutoffs) -> Vec<Select<DeploymentRun>> {
    use deployment_run::Column as C;
    let range = |status: RunStatus, trigger: TriggerType| {
        DeploymentRun::find()
            .select_only()
            .columns([C::Id, C::OrgId, C::SessionId])
            .filter(C::DeploymentId.eq(deployment_id))
            .filter(C::Status.eq(status))
            .filter(C::TriggerType.eq(trigger))
    };
    let mut selects = Vec::new();
    for &status in RunStatus::ALL.iter().filter(|s| !s.is_active()) {
        let before = match status {
            RunStatus::Failed => cutoffs.failed_before,
            _ => cutoffs.keep_before,
        };
        for &trigger in TriggerType::ALL {
            // The older of the two bounds that apply: every run before it
            // goes, whichever rule says so.
            let by_count = cutoffs.newest_kept.as_ref().map(|(at, _)| *at);
            if let Some(at) = [before, by_count].into_iter().flatten().max() {
                selects.push(range(status, trigger).filter(C::TriggeredAt.lt(at)));
            }
            // Runs triggered at the very instant of the oldest one kept by
            // count, but before it in id order.
            if let Some((at, id)) = &cutoffs.newest_kept
                && before.is_none_or(|b| b <= *at)
            {
                selects.push(
                    range(status, trigger)
                        .filter(C::TriggeredAt.eq(*at))
                        .filter(C::Id.lt(id.as_str())),
                );
            }
        }
    }
    selects
}

/// Up to `limit` expired runs of `deployment_id` (any of them: the pruner
/// takes them in whatever order the ranges give).
pub async fn expired_runs(
    store: &Store,
    deployment_id: &str,
    cutoffs: &RunCutoffs,
    limit: u64,
) -> StoreResult<Vec<ExpiredRun>> {
    let mut found: Vec<ExpiredRun> = Vec::new();
    for select in expired_selects(deployment_id, cutoffs) {
        let left = limit.saturating_sub(found.len() as u64);
        if left == 0 {
            break;
        }
        let rows = select
            .limit(left)
            .into_model::<ExpiredRun>()
            .all(store.reader())
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// How many runs, sessions and transcript events of `deployment_id`
/// have expired under `cutoffs`, but for the runs in `kept` (a dry run).
pub async fn count_expired(
    store: &Store,
    deployment_id: &str,
    cutoffs: &RunCutoffs,
    kept: &HashSet<String>,
) -> StoreResult<(u64, u64, u64)> {
    use deployment_run::Column as C;
    use sea_orm::{PaginatorTrait, QueryTrait};
    let (mut runs, mut sessions, mut events) = (0, 0, 0);
    for select in expired_selects(deployment_id, cutoffs) {
        let select = select.filter(C::Id.is_not_in(kept.iter().map(String::as_str)));
        runs += select.clone().count(store.reader()).await?;
        let with_session = select.filter(C::SessionId.is_not_null());
        sessions += with_session.clone().count(store.reader()).await?;
        let session_ids = with_session.select_only().column(C::SessionId).into_query();
        events += crate::entity::session_event::Entity::find()
            .filter(crate::entity::session_event::Column::SessionId.in_subquery(session_ids))
            .count(store.reader())
            .await?;
    }
    Ok((runs, sessions, events))
}

/// The pending and running retries, with the run each retries: two
/// ranges of `(status, …)` (public for the query-plan tests).
pub fn active_retries_select() -> Select<DeploymentRun> {
    use deployment_run::Column as C;
    DeploymentRun::find()
        .select_only()
        .columns([C::Id, C::RetryOf])
        .filter(C::Status.is_in(RunStatus::ACTIVE))
        .filter(C::TriggerType.eq(TriggerType::Retry))
}

/// The runs a pruner must keep whatever their age: every run of a retry
/// chain that is still going (a pending or running retry, and each run it
/// retries, back to the chain's first). Read after the candidates: a
/// terminal run's retry exists from the transaction that ended it, and a
/// chain with no active run never gets one again, so a candidate missing
/// here is safe to delete.
pub async fn still_retrying(store: &Store) -> StoreResult<HashSet<String>> {
    use deployment_run::Column as C;
    let mut kept = HashSet::new();
    let mut next: Vec<String> = Vec::new();
    // One statement, one snapshot: two (pending, then running) could miss
    // a chain whose running retry failed in between, creating a pending one.
    let rows: Vec<(String, Option<String>)> = active_retries_select()
        .into_tuple()
        .all(store.reader())
        .await?;
    for (id, retry_of) in rows {
        kept.insert(id);
        next.extend(retry_of);
    }
    // Up the chains: at most max_retries levels.
    while !next.is_empty() {
        let level: Vec<String> = next
            .drain(..)
            .filter(|id| kept.insert(id.clone()))
            .collect();
        for chunk in level.chunks(500) {
            let rows: Vec<Option<String>> = DeploymentRun::find()
                .select_only()
                .column(C::RetryOf)
                .filter(C::Id.is_in(chunk.iter().map(String::as_str)))
                .into_tuple()
                .all(store.reader())
                .await?;
            next.extend(rows.into_iter().flatten());
        }
    }
    Ok(kept)
}
