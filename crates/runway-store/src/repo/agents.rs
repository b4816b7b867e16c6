//! Agents and their immutable versions.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set,
};

use super::idempotency::{self, IdempotencyClaim};
use super::{begin, modify_row};
use crate::entity::agent::{self, Entity as Agent};
use crate::entity::agent_version::{self, Entity as AgentVersion};
use crate::ids::IdKind;
use crate::json_text::JsonText;
use crate::page::{self, Key, Page, PageQuery};
use crate::{Store, StoreError, StoreResult};

pub use crate::entity::agent_version::{AgentFields, AgentSnapshot};

fn apply_fields(row: &mut agent::Model, fields: &AgentFields) {
    row.name = fields.name.clone();
    row.description = fields.description.clone();
    row.model = fields.model.clone();
    row.system = fields.system.clone();
    row.instructions = fields.instructions.clone();
    row.tools = JsonText(fields.tools.clone());
    row.metadata = JsonText(fields.metadata.clone());
}

fn version_row(
    org_id: &str,
    id: &str,
    version: i32,
    fields: AgentFields,
    at: i64,
) -> agent_version::ActiveModel {
    let snapshot = AgentSnapshot {
        id: id.to_string(),
        version,
        fields,
    };
    agent_version::ActiveModel {
        agent_id: Set(id.to_string()),
        version: Set(version),
        org_id: Set(org_id.to_string()),
        snapshot: Set(JsonText(snapshot)),
        created_at: Set(at),
    }
}

/// Creates an agent at version 1 at `now`, claiming `idempotency` in the
/// same transaction.
pub async fn create(
    store: &Store,
    org_id: &str,
    fields: AgentFields,
    idempotency: Option<&IdempotencyClaim>,
    now: i64,
) -> StoreResult<agent::Model> {
    let id = IdKind::Agent.generate();
    let mut row = agent::Model {
        id: id.clone(),
        org_id: org_id.to_string(),
        name: String::new(),
        description: None,
        model: String::new(),
        system: None,
        instructions: None,
        tools: JsonText::default(),
        metadata: JsonText::default(),
        version: 1,
        archived_at: None,
        created_at: now,
        updated_at: now,
    };
    apply_fields(&mut row, &fields);
    let txn = begin(store).await?;
    if let Some(claim) = idempotency {
        idempotency::record(&txn, org_id, claim, &id).await?;
    }
    let saved = Agent::insert(row.into_active_model())
        .exec_with_returning(&txn)
        .await?;
    AgentVersion::insert(version_row(org_id, &id, 1, fields, now))
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The agent `id` of `org_id`.
pub async fn get(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<agent::Model>> {
    Ok(Agent::find_by_id(id)
        .filter(agent::Column::OrgId.eq(org_id))
        .one(store.reader())
        .await?)
}

/// One version of an agent, and when: the agent as it was once this
/// version was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub snapshot: AgentSnapshot,
    /// When the agent was created (its first version).
    pub agent_created_at: i64,
    /// When this version was made.
    pub created_at: i64,
}

/// Version `version` of agent `id` of `org_id`.
pub async fn get_version(
    store: &Store,
    org_id: &str,
    id: &str,
    version: i32,
) -> StoreResult<Option<StoredVersion>> {
    let rows = AgentVersion::find()
        .filter(agent_version::Column::OrgId.eq(org_id))
        .filter(agent_version::Column::AgentId.eq(id))
        .filter(agent_version::Column::Version.is_in([1, version]))
        .all(store.reader())
        .await?;
    let first = rows.iter().find(|r| r.version == 1).map(|r| r.created_at);
    Ok(rows
        .into_iter()
        .find(|r| r.version == version)
        .map(|r| StoredVersion {
            agent_created_at: first.unwrap_or(r.created_at),
            created_at: r.created_at,
            snapshot: r.snapshot.0,
        }))
}

/// The paging key of agent `id`, to resolve `after_id` / `before_id`.
pub async fn key_of(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<Key>> {
    Ok(get(store, org_id, id).await?.map(|a| Key {
        at: a.created_at,
        id: a.id,
    }))
}

/// One page of `org_id`'s agents, newest first.
pub async fn list(
    store: &Store,
    org_id: &str,
    include_archived: bool,
    query: &PageQuery,
) -> StoreResult<Page<agent::Model>> {
    let mut select = Agent::find().filter(agent::Column::OrgId.eq(org_id));
    if !include_archived {
        select = select.filter(agent::Column::ArchivedAt.is_null());
    }
    page::fetch(
        store.reader(),
        select,
        agent::Column::CreatedAt,
        agent::Column::Id,
        query,
        |a| Key {
            at: a.created_at,
            id: a.id.clone(),
        },
    )
    .await
}

/// Updates agent `id` at `now`: `change` sees the locked row and returns its new
/// fields (or refuses). The agent moves to a new version, stored beside the
/// old ones, unless the fields are the ones it has. `Ok(None)` when the
/// agent does not exist.
pub async fn update<E: From<StoreError>>(
    store: &Store,
    org_id: &str,
    id: &str,
    now: i64,
    change: impl FnOnce(&agent::Model) -> Result<AgentFields, E>,
) -> Result<Option<agent::Model>, E> {
    let txn = begin(store).await?;
    let Some(mut row) = Agent::find_by_id(id)
        .filter(agent::Column::OrgId.eq(org_id))
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(None);
    };
    let fields = change(&row)?;
    if fields == AgentFields::of(&row) {
        // Nothing changes: no new version (a deployment created now pins
        // the one there is).
        txn.commit().await.map_err(StoreError::from)?;
        return Ok(Some(row));
    }
    apply_fields(&mut row, &fields);
    row.version += 1;
    row.updated_at = now;
    AgentVersion::insert(version_row(org_id, id, row.version, fields, now))
        .exec_without_returning(&txn)
        .await
        .map_err(StoreError::from)?;
    let saved = row
        .into_active_model()
        .reset_all()
        .update(&txn)
        .await
        .map_err(StoreError::from)?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Some(saved))
}

/// Archives agent `id` at `now` once `check` allows it. `Ok(None)` when it does not exist.
pub async fn archive<E: From<StoreError>>(
    store: &Store,
    org_id: &str,
    id: &str,
    now: i64,
    check: impl FnOnce(&agent::Model) -> Result<(), E>,
) -> Result<Option<agent::Model>, E> {
    let find = Agent::find_by_id(id).filter(agent::Column::OrgId.eq(org_id));
    modify_row(store, find, |row| {
        check(row)?;
        row.archived_at = Some(now);
        row.updated_at = now;
        Ok(())
    })
    .await
}
