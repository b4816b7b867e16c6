//! Retention policies and the runs they no longer keep. The rules (which
//! policy applies, where its cutoffs fall) are the server's; here the
//! policies are stored and the expired runs found, each by index ranges
//! that cost the same however long the history ([`expired_selects`]).

use std::collections::{HashMap, HashSet};

use runway_api::enums::{RunStatus, TriggerType};
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::entity::deployment::{self, Entity as Deployment};
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::entity::organization::{self, Entity as Organization, RetentionRules};
use crate::json_text::JsonText;
use crate::{Store, StoreError, StoreResult};

mod walk;

pub use walk::{WalkedRun, runs_in_time_order, runs_in_time_order_select};

/// An organization's policy and when it last changed (`None`: never set).
pub async fn policy(
    store: &Store,
    org_id: &str,
) -> StoreResult<Option<(RetentionRules, Option<i64>)>> {
    Ok(Organization::find_by_id(org_id)
        .one(store.reader())
        .await?
        .map(|org| (org.retention.0, org.retention_updated_at)))
}

/// Changes an organization's policy at `now` with `apply`, under the
/// organization's row lock (two changes at once both apply); `Ok(None)`
/// when there is no such organization.
pub async fn update_policy<E: From<StoreError>>(
    store: &Store,
    org_id: &str,
    now: i64,
    apply: impl FnOnce(&mut RetentionRules) -> Result<(), E>,
) -> Result<Option<(RetentionRules, Option<i64>)>, E> {
    let row = super::modify_row(store, Organization::find_by_id(org_id), |org| {
        super::stamp_if_changed(
            org,
            |org| apply(&mut org.retention.0),
            |org| org.retention_updated_at = Some(now),
        )
    })
    .await?;
    Ok(row.map(|org| (org.retention.0, org.retention_updated_at)))
}

/// A deployment and the rules that apply to its runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRetention {
    pub deployment_id: String,
    pub org_id: String,
    /// Runs ever recorded: at least as many as it has now.
    pub total_runs: i64,
    pub rules: RetentionRules,
}

#[derive(Debug, FromQueryResult)]
struct DeploymentRules {
    id: String,
    org_id: String,
    total_runs: i64,
    retention: Option<JsonText<RetentionRules>>,
}

impl DeploymentRules {
    /// The columns of `select` that say which rules apply.
    fn of(select: Select<Deployment>) -> sea_orm::Selector<sea_orm::SelectModel<Self>> {
        use deployment::Column as D;
        select
            .select_only()
            .columns([D::Id, D::OrgId, D::TotalRuns, D::Retention])
            .into_model::<Self>()
    }

    /// The deployment under its own rules, or else `organization`'s.
    fn resolve(self, organization: impl FnOnce() -> RetentionRules) -> DeploymentRetention {
        let rules = match self.retention {
            Some(own) => own.0,
            None => organization(),
        };
        DeploymentRetention {
            deployment_id: self.id,
            org_id: self.org_id,
            total_runs: self.total_runs,
            rules,
        }
    }
}

/// Every deployment whose runs some rule limits (its own, or else its
/// organization's), archived ones included.
pub async fn deployments_to_prune(store: &Store) -> StoreResult<Vec<DeploymentRetention>> {
    let orgs: std::collections::HashMap<String, RetentionRules> =
        organization_policies(store).await?.into_iter().collect();
    let rows = DeploymentRules::of(Deployment::find())
        .all(store.reader())
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let org = orgs.get(&row.org_id).copied();
            row.resolve(|| org.unwrap_or_default())
        })
        .filter(|dep| !dep.rules.keeps_everything())
        .collect())
}

/// `deployment_id` and the rules that apply to its runs now (its own, or
/// else its organization's); `None` when there is no such deployment. A
/// pass reads them again before each batch, so a change applies from the
/// next one.
pub async fn rules_of(
    store: &Store,
    deployment_id: &str,
) -> StoreResult<Option<DeploymentRetention>> {
    Ok(rules_of_many(store, &[deployment_id]).await?.pop())
}

/// [`rules_of`] for each of `deployment_ids` that exists (in no particular
/// order), in two reads however many there are.
pub async fn rules_of_many(
    store: &Store,
    deployment_ids: &[&str],
) -> StoreResult<Vec<DeploymentRetention>> {
    if deployment_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = DeploymentRules::of(
        Deployment::find().filter(deployment::Column::Id.is_in(deployment_ids.iter().copied())),
    )
    .all(store.reader())
    .await?;
    let orgs: HashSet<String> = rows
        .iter()
        .filter(|row| row.retention.is_none())
        .map(|row| row.org_id.clone())
        .collect();
    let policies: HashMap<String, RetentionRules> = if orgs.is_empty() {
        HashMap::new()
    } else {
        Organization::find()
            .filter(organization::Column::Id.is_in(orgs))
            .all(store.reader())
            .await?
            .into_iter()
            .map(|org| (org.id, org.retention.0))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let org = policies.get(&row.org_id).copied();
            row.resolve(|| org.unwrap_or_default())
        })
        .collect())
}

/// When each organization's policy last changed (`None`: never set): a
/// pruner walking under the policies read after this sees any change since
/// as a different value.
pub async fn policy_versions(store: &Store) -> StoreResult<HashMap<String, Option<i64>>> {
    use organization::Column as O;
    let rows: Vec<(String, Option<i64>)> = Organization::find()
        .select_only()
        .columns([O::Id, O::RetentionUpdatedAt])
        .into_tuple()
        .all(store.reader())
        .await?;
    Ok(rows.into_iter().collect())
}

/// Every organization's policy, for what is pruned by organization
/// (webhook deliveries).
pub async fn organization_policies(store: &Store) -> StoreResult<Vec<(String, RetentionRules)>> {
    Ok(Organization::find()
        .all(store.reader())
        .await?
        .into_iter()
        .map(|org| (org.id, org.retention.0))
        .collect())
}

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
