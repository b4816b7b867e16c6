//! Deployment runs: reads and lists here, the trigger transaction in
//! `record`.

use runway_api::enums::{RunStatus, TriggerType};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::page::{self, Key, Page, PageQuery};
use crate::sqlite_reads::INLINE_PAGE_ROWS;
use crate::{Store, StoreResult};

mod record;

pub use record::*;

/// The run `id` of `org_id`.
pub async fn get(
    store: &Store,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<deployment_run::Model>> {
    store
        .read_one(DeploymentRun::find_by_id(id).filter(deployment_run::Column::OrgId.eq(org_id)))
        .await
}

/// The paging key of run `id`, to resolve `after_id` / `before_id`.
pub async fn key_of(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<Key>> {
    Ok(get(store, org_id, id).await?.map(|r| Key {
        at: r.triggered_at,
        id: r.id,
    }))
}

/// Which runs a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub deployment_id: Option<String>,
    pub status: Option<RunStatus>,
    pub trigger_type: Option<TriggerType>,
    pub has_error: Option<bool>,
    /// Runs triggered at or after this instant.
    pub triggered_after: Option<i64>,
    /// Runs triggered before this instant.
    pub triggered_before: Option<i64>,
}

/// Whose runs a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunScope<'a> {
    /// Every run of an organization.
    Organization(&'a str),
    /// The runs of one deployment (of the caller's organization: checked
    /// before, so the query need not name the organization).
    Deployment(&'a str),
}

/// The statuses a filter admits, when it narrows them: `status`, and
/// `has_error` (a run has an error exactly when it failed or was skipped).
fn statuses(filter: &RunFilter) -> Option<Vec<RunStatus>> {
    let by_error: Option<&[RunStatus]> = match filter.has_error {
        Some(true) => Some(&[RunStatus::Failed, RunStatus::Skipped]),
        Some(false) => Some(&[RunStatus::Pending, RunStatus::Running, RunStatus::Completed]),
        None => None,
    };
    match (filter.status, by_error) {
        (None, None) => None,
        (Some(status), None) => Some(vec![status]),
        (None, Some(set)) => Some(set.to_vec()),
        (Some(status), Some(set)) => Some(set.iter().copied().filter(|s| *s == status).collect()),
    }
}

/// The selects a page of `scope`'s runs under `filter` is the union of,
/// each one index range read up to a page plus one: `(scope, triggered_at,
/// id)` without a status or trigger filter; otherwise one range of
/// `(scope, status, trigger_type, triggered_at, id)` per admitted status
/// and trigger type. No list reads history beyond the rows it shows.
pub fn list_selects(
    scope: RunScope<'_>,
    filter: &RunFilter,
    query: &PageQuery,
) -> Vec<sea_orm::Select<DeploymentRun>> {
    use deployment_run::Column as C;
    let base = || {
        let select = match scope {
            RunScope::Organization(org) => DeploymentRun::find().filter(C::OrgId.eq(org)),
            RunScope::Deployment(id) => DeploymentRun::find().filter(C::DeploymentId.eq(id)),
        };
        // `has_error` is in the statuses (every failed or skipped run has
        // its error, no other run has one): the key reads stay index-only.
        select
    };
    let window = page::Window {
        from: filter.triggered_after,
        until: filter.triggered_before,
    };
    let statuses = statuses(filter);
    if statuses.is_none() && filter.trigger_type.is_none() {
        return vec![page::page_select_within(
            base(),
            C::TriggeredAt,
            C::Id,
            query,
            window,
        )];
    }
    let statuses = statuses.unwrap_or_else(|| RunStatus::ALL.to_vec());
    let triggers = match filter.trigger_type {
        Some(t) => vec![t],
        None => TriggerType::ALL.to_vec(),
    };
    let mut parts = Vec::new();
    for status in &statuses {
        for trigger in &triggers {
            let select = base()
                .filter(C::Status.eq(*status))
                .filter(C::TriggerType.eq(*trigger));
            parts.push(page::page_select_within(
                select,
                C::TriggeredAt,
                C::Id,
                query,
                window,
            ));
        }
    }
    parts
}

/// One page of `org_id`'s runs, newest first by `triggered_at`. A
/// deployment filter naming no deployment of `org_id` matches nothing.
pub async fn list(
    store: &Store,
    org_id: &str,
    filter: &RunFilter,
    query: &PageQuery,
) -> StoreResult<Page<deployment_run::Model>> {
    let scope = match &filter.deployment_id {
        Some(id) => {
            let owned = super::deployments::get(store, org_id, id).await?;
            if owned.is_none() {
                return Ok(Page {
                    items: Vec::new(),
                    has_more: false,
                    next: None,
                });
            }
            RunScope::Deployment(id)
        }
        None => RunScope::Organization(org_id),
    };
    list_in(store, scope, filter, query).await
}

/// One page of `scope`'s runs under `filter`, newest first by
/// `triggered_at`: for a caller that has already checked the deployment's
/// organization (its own 404), so the page costs no second read of it.
pub async fn list_in(
    store: &Store,
    scope: RunScope<'_>,
    filter: &RunFilter,
    query: &PageQuery,
) -> StoreResult<Page<deployment_run::Model>> {
    use deployment_run::Column as C;
    let parts = list_selects(scope, filter, query);
    let key = |r: &deployment_run::Model| Key {
        at: r.triggered_at,
        id: r.id.clone(),
    };
    // A page of up to 100 runs is read inline (a few short index ranges);
    // a longer one through sqlx, off the async workers.
    if query.limit <= INLINE_PAGE_ROWS {
        page::fetch_merged(store, parts, C::TriggeredAt, C::Id, query, key).await
    } else {
        page::fetch_merged(store.reader(), parts, C::TriggeredAt, C::Id, query, key).await
    }
}
