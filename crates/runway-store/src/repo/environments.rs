//! Environments: the pools of runners that execute runs.

use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::idempotency::{self, IdempotencyClaim};
use super::{begin, modify_row, stamp_if_changed};
use crate::entity::environment::{self, Entity as Environment};
use crate::ids::IdKind;
use crate::page::{self, Key, Page, PageQuery};
use crate::{Store, StoreError, StoreResult};

/// Creates an environment at `now`, claiming `idempotency` in the same
/// transaction.
pub async fn create(
    store: &Store,
    org_id: &str,
    name: String,
    description: Option<String>,
    idempotency: Option<&IdempotencyClaim>,
    now: i64,
) -> StoreResult<environment::Model> {
    let row = environment::Model {
        id: IdKind::Environment.generate(),
        org_id: org_id.to_string(),
        name,
        description,
        archived_at: None,
        created_at: now,
        updated_at: now,
    };
    let txn = begin(store).await?;
    if let Some(claim) = idempotency {
        idempotency::record(&txn, org_id, claim, &row.id).await?;
    }
    let saved = Environment::insert(row.into_active_model())
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The environment `id` of `org_id`.
pub async fn get(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<environment::Model>> {
    Ok(Environment::find_by_id(id)
        .filter(environment::Column::OrgId.eq(org_id))
        .one(store.reader())
        .await?)
}

/// The paging key of environment `id`, to resolve `after_id` / `before_id`.
pub async fn key_of(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<Key>> {
    Ok(get(store, org_id, id).await?.map(|e| Key {
        at: e.created_at,
        id: e.id,
    }))
}

/// One page of `org_id`'s environments, newest first.
pub async fn list(
    store: &Store,
    org_id: &str,
    include_archived: bool,
    query: &PageQuery,
) -> StoreResult<Page<environment::Model>> {
    let mut select = Environment::find().filter(environment::Column::OrgId.eq(org_id));
    if !include_archived {
        select = select.filter(environment::Column::ArchivedAt.is_null());
    }
    page::fetch(
        store.reader(),
        select,
        environment::Column::CreatedAt,
        environment::Column::Id,
        query,
        |e| Key {
            at: e.created_at,
            id: e.id.clone(),
        },
    )
    .await
}

/// Changes environment `id` at `now` through `change`, which sees the
/// locked row and may refuse. `Ok(None)` when it does not exist.
pub async fn modify<E: From<StoreError>>(
    store: &Store,
    org_id: &str,
    id: &str,
    now: i64,
    change: impl FnOnce(&mut environment::Model) -> Result<(), E>,
) -> Result<Option<environment::Model>, E> {
    let find = Environment::find_by_id(id).filter(environment::Column::OrgId.eq(org_id));
    modify_row(store, find, |row| {
        stamp_if_changed(row, change, |row| row.updated_at = now)
    })
    .await
}
