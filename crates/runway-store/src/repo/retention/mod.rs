//! Retention policies and the runs they no longer keep. The rules (which
//! policy applies, where its cutoffs fall) are the server's; here the
//! policies are stored and the expired runs found, each by index ranges
//! that cost the same however long the history ([`expired_selects`], in
//! `expiry.rs`).

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Select};

use crate::entity::deployment::{self, Entity as Deployment};
use crate::entity::organization::{self, Entity as Organization, RetentionRules};
use crate::json_text::JsonText;
use crate::{Store, StoreError, StoreResult};

mod expiry;
mod walk;

pub use expiry::{
    ExpiredRun, RunCutoffs, active_retries_select, count_expired, expired_runs, expired_selects,
    newest_kept, newest_kept_select, still_retrying,
};
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
