//! Deployments: creation, reads, and locked read-modify-write changes.

use std::collections::BTreeMap;

use runway_api::enums::{DeploymentStatus, SessionStrategy, WebhookEventType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};

use super::begin;
use super::idempotency::{self, IdempotencyClaim};
use super::webhooks::{Outbox, Subject, Written};
use crate::entity::deployment::{self, Entity as Deployment, InitialEvent};
use crate::entity::organization::RetentionRules;
use crate::ids::IdKind;
use crate::json_text::JsonText;
use crate::page::{self, Key, Page, PageQuery};
use crate::{Store, StoreError, StoreResult};

/// A validated new deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentDraft {
    pub name: String,
    pub description: Option<String>,
    pub agent_id: String,
    pub agent_version: i32,
    pub environment_id: String,
    pub initial_events: Vec<InitialEvent>,
    pub schedule_expression: Option<String>,
    pub schedule_timezone: Option<String>,
    pub next_fire_at: Option<i64>,
    /// Resource objects, each with a `type`.
    pub resources: Vec<serde_json::Map<String, serde_json::Value>>,
    pub vault_ids: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub max_concurrent: i32,
    pub max_retries: i32,
    pub max_consecutive_failures: Option<i32>,
    pub timeout_ms: i64,
    pub session_strategy: SessionStrategy,
    /// Its own retention rules; `None`: its organization's policy.
    pub retention: Option<RetentionRules>,
}

/// Which deployments a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentFilter {
    pub status: Option<DeploymentStatus>,
    pub include_archived: bool,
    pub agent_id: Option<String>,
}

/// Creates an `active` deployment at `now`, claiming `idempotency` in the
/// same transaction.
pub async fn create(
    store: &Store,
    org_id: &str,
    draft: DeploymentDraft,
    idempotency: Option<&IdempotencyClaim>,
    now: i64,
) -> StoreResult<deployment::Model> {
    let row = deployment::Model {
        id: IdKind::Deployment.generate(),
        org_id: org_id.to_string(),
        name: draft.name,
        description: draft.description,
        agent_id: draft.agent_id,
        agent_version: draft.agent_version,
        environment_id: draft.environment_id,
        initial_events: JsonText(draft.initial_events),
        schedule_expression: draft.schedule_expression,
        schedule_timezone: draft.schedule_timezone,
        last_run_at: None,
        next_fire_at: draft.next_fire_at,
        status: DeploymentStatus::Active,
        paused_reason: None,
        archived_at: None,
        resources: JsonText(draft.resources),
        vault_ids: JsonText(draft.vault_ids),
        metadata: JsonText(draft.metadata),
        max_concurrent: draft.max_concurrent,
        max_retries: draft.max_retries,
        max_consecutive_failures: draft.max_consecutive_failures,
        timeout_ms: draft.timeout_ms,
        session_strategy: draft.session_strategy,
        total_runs: 0,
        total_failures: 0,
        consecutive_failures: 0,
        last_triggered_at: None,
        missed_fires: 0,
        active_runs: 0,
        retention: draft.retention.map(JsonText),
        created_at: now,
        updated_at: now,
    };
    let txn = begin(store).await?;
    if let Some(claim) = idempotency {
        idempotency::record(&txn, org_id, claim, &row.id).await?;
    }
    let saved = Deployment::insert(row.into_active_model())
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The deployment `id` of `org_id`.
pub async fn get(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<deployment::Model>> {
    store
        .read_one(Deployment::find_by_id(id).filter(deployment::Column::OrgId.eq(org_id)))
        .await
}

/// The paging key of deployment `id`, to resolve `after_id` / `before_id`.
pub async fn key_of(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<Key>> {
    Ok(get(store, org_id, id).await?.map(|d| Key {
        at: d.created_at,
        id: d.id,
    }))
}

/// One page of `org_id`'s deployments, newest first.
pub async fn list(
    store: &Store,
    org_id: &str,
    filter: &DeploymentFilter,
    query: &PageQuery,
) -> StoreResult<Page<deployment::Model>> {
    let mut select = Deployment::find().filter(deployment::Column::OrgId.eq(org_id));
    if !filter.include_archived {
        select = select.filter(deployment::Column::ArchivedAt.is_null());
    }
    if let Some(status) = &filter.status {
        select = select.filter(deployment::Column::Status.eq(*status));
    }
    if let Some(agent_id) = &filter.agent_id {
        select = select.filter(deployment::Column::AgentId.eq(agent_id));
    }
    // Through sqlx, not inline: the status, archived and agent filters are
    // checked row by row along `(org_id, created_at, id)`, so a page may
    // read many rows.
    page::fetch(
        store.reader(),
        select,
        deployment::Column::CreatedAt,
        deployment::Column::Id,
        query,
        |d| Key {
            at: d.created_at,
            id: d.id.clone(),
        },
    )
    .await
}

/// Changes deployment `id` at `now` through `change`, which sees the locked
/// row and may refuse. `Ok(None)` when it does not exist. A change of state
/// (paused, unpaused, archived) emits its webhook event in the same
/// transaction.
pub async fn modify<E: From<StoreError>>(
    store: &Store,
    org_id: &str,
    id: &str,
    now: i64,
    change: impl FnOnce(&mut deployment::Model) -> Result<(), E>,
) -> Result<Option<deployment::Model>, E> {
    let txn = begin(store).await?;
    let Some(mut row) = Deployment::find_by_id(id)
        .filter(deployment::Column::OrgId.eq(org_id))
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(None);
    };
    let before = row.clone();
    change(&mut row)?;
    if row == before {
        // Nothing changes: nothing written, `updated_at` stays.
        return Ok(Some(row));
    }
    row.updated_at = now;
    let saved = row
        .into_active_model()
        .reset_all()
        .update(&txn)
        .await
        .map_err(StoreError::from)?;
    let mut written = Written::default();
    if let Some(kind) = state_event(&before, &saved) {
        written = Outbox::send(&txn, store, org_id, kind, Subject::Deployment(&saved), now).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    store.webhooks().dispatch(written);
    Ok(Some(saved))
}

/// The webhook event a deployment's change of state is, if it is one.
pub(crate) fn state_event(
    before: &deployment::Model,
    after: &deployment::Model,
) -> Option<WebhookEventType> {
    if before.archived_at.is_none() && after.archived_at.is_some() {
        return Some(WebhookEventType::DeploymentArchived);
    }
    match (before.status, after.status) {
        (DeploymentStatus::Active, DeploymentStatus::Paused) => {
            Some(WebhookEventType::DeploymentPaused)
        }
        (DeploymentStatus::Paused, DeploymentStatus::Active) => {
            Some(WebhookEventType::DeploymentUnpaused)
        }
        _ => None,
    }
}
