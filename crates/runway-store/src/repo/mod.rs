//! Repositories: every read and every transaction the service runs. Domain
//! decisions (may this deployment run? is this update allowed?) are made by
//! the caller through closures that run inside the transaction, so the rules
//! live in the server while the atomicity lives here.

pub mod agents;
pub mod deployments;
pub mod environments;
pub mod events;
pub mod history;
pub mod idempotency;
pub mod prune;
pub mod reaping;
pub mod retention;
pub mod retries;
pub mod runs;
pub mod schedules;
pub mod sessions;
pub mod tenants;
pub mod trigger_queue;
pub mod turns;
pub mod webhooks;

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    QuerySelect, Select, TransactionTrait,
};

use crate::{Store, StoreError};

/// Runs `apply` on the row `find` selects, locked for the transaction
/// (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's single writer serializes),
/// then writes the row back when `apply` changed it. `Ok(None)` when no row
/// matches.
pub(crate) async fn modify_row<Ent, E>(
    store: &Store,
    find: Select<Ent>,
    apply: impl FnOnce(&mut Ent::Model) -> Result<(), E>,
) -> Result<Option<Ent::Model>, E>
where
    Ent: EntityTrait,
    Ent::Model: IntoActiveModel<Ent::ActiveModel> + Clone + PartialEq,
    Ent::ActiveModel: ActiveModelTrait<Entity = Ent> + ActiveModelBehavior + Send,
    E: From<StoreError>,
{
    let txn = begin(store).await?;
    let saved = modify_row_in(&txn, find, apply).await?;
    if saved.is_some() {
        txn.commit().await.map_err(StoreError::from)?;
    }
    Ok(saved)
}

/// Runs `change` on `row` and, when it changed anything, `stamp` (which
/// moves the row's `updated_at`): an update that changes nothing leaves the
/// row as it was.
pub(crate) fn stamp_if_changed<M: Clone + PartialEq, E>(
    row: &mut M,
    change: impl FnOnce(&mut M) -> Result<(), E>,
    stamp: impl FnOnce(&mut M),
) -> Result<(), E> {
    let before = row.clone();
    change(row)?;
    if *row != before {
        stamp(row);
    }
    Ok(())
}

/// [`modify_row`] inside `txn`, for a caller with more to write in it.
pub(crate) async fn modify_row_in<Ent, E>(
    txn: &DatabaseTransaction,
    find: Select<Ent>,
    apply: impl FnOnce(&mut Ent::Model) -> Result<(), E>,
) -> Result<Option<Ent::Model>, E>
where
    Ent: EntityTrait,
    Ent::Model: IntoActiveModel<Ent::ActiveModel> + Clone + PartialEq,
    Ent::ActiveModel: ActiveModelTrait<Entity = Ent> + ActiveModelBehavior + Send,
    E: From<StoreError>,
{
    let Some(mut row) = find
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(None);
    };
    let before = row.clone();
    apply(&mut row)?;
    if row == before {
        return Ok(Some(row));
    }
    let saved = row
        .into_active_model()
        .reset_all()
        .update(txn)
        .await
        .map_err(StoreError::from)?;
    Ok(Some(saved))
}

/// Starts a write transaction on the store's writer.
pub(crate) async fn begin(store: &Store) -> Result<DatabaseTransaction, StoreError> {
    Ok(store.writer().begin().await?)
}
