//! An organization's runs in the order they were triggered, for the
//! pruner's walk. Runs are stored in about the order they were triggered,
//! every deployment's interleaved with the others': a batch of one
//! deployment's expired runs leaves a row or two on each of hundreds of
//! pages (of the table and of each index in time order), and each of those
//! pages is written again for the next deployment. A batch of neighbours in
//! time empties pages whole: 0.26 pages written per run deleted against
//! 1.13, with a quarter of SQLite's time (BENCHMARKS.md, "The pruner walks
//! runs in time order").

use runway_api::enums::RunStatus;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::ExpiredRun;
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::{Store, StoreResult};

/// A run as the walk reads it: enough to judge it under its deployment's
/// rules and to delete it.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct WalkedRun {
    pub id: String,
    pub org_id: String,
    pub deployment_id: String,
    pub session_id: Option<String>,
    pub status: RunStatus,
    pub triggered_at: i64,
}

impl WalkedRun {
    /// Where the walk resumes after this run.
    pub fn position(&self) -> (i64, String) {
        (self.triggered_at, self.id.clone())
    }

    /// The run, to delete.
    pub fn into_expired(self) -> ExpiredRun {
        ExpiredRun {
            id: self.id,
            org_id: self.org_id,
            session_id: self.session_id,
        }
    }
}

/// The statement of [`runs_in_time_order`] (public for the query-plan
/// tests): one range of `(org_id, triggered_at, id)`, bounded by two
/// row-value comparisons so that the planner seeks to the position.
pub fn runs_in_time_order_select(
    org_id: &str,
    after: Option<(i64, &str)>,
    before: i64,
    limit: u64,
) -> Select<DeploymentRun> {
    use deployment_run::Column as C;
    let position = || Expr::tuple([Expr::col(C::TriggeredAt), Expr::col(C::Id)]);
    let key = |at: i64, id: &str| Expr::tuple([Expr::val(at), Expr::val(id.to_string())]);
    let mut select = DeploymentRun::find()
        .select_only()
        .columns([
            C::Id,
            C::OrgId,
            C::DeploymentId,
            C::SessionId,
            C::Status,
            C::TriggeredAt,
        ])
        .filter(C::OrgId.eq(org_id))
        // An id is never empty: `(at, id) < (before, '')` is `at < before`.
        .filter(position().lt(key(before, "")));
    if let Some((at, id)) = after {
        select = select.filter(position().gt(key(at, id)));
    }
    select
        .order_by_asc(C::TriggeredAt)
        .order_by_asc(C::Id)
        .limit(limit)
}

/// Up to `limit` of `org_id`'s runs triggered before `before`, after the
/// position `after` (`(triggered_at, id)`), oldest first, whatever their
/// status: the caller judges each.
pub async fn runs_in_time_order(
    store: &Store,
    org_id: &str,
    after: Option<(i64, &str)>,
    before: i64,
    limit: u64,
) -> StoreResult<Vec<WalkedRun>> {
    Ok(runs_in_time_order_select(org_id, after, before, limit)
        .into_model::<WalkedRun>()
        .all(store.reader())
        .await?)
}
