//! Webhook endpoints: create, read, list, change, delete, and the test event.

use runway_api::enums::WebhookEventType;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect};

use super::{Outbox, Subject, deliveries};
use crate::entity::webhook_attempt::{self, Entity as Attempt};
use crate::entity::webhook_delivery::{self, Entity as Delivery};
use crate::entity::webhook_endpoint::{self, Entity as Endpoint};
use crate::page::{self, Key, Page, PageQuery};
use crate::repo::idempotency::{self, IdempotencyClaim};
use crate::repo::{begin, modify_row_in, stamp_if_changed};
use crate::{Store, StoreError, StoreResult};

/// Creates `row`, claiming `idempotency` in the same transaction.
pub async fn create_endpoint(
    store: &Store,
    row: webhook_endpoint::Model,
    idempotency: Option<&IdempotencyClaim>,
) -> StoreResult<webhook_endpoint::Model> {
    let txn = begin(store).await?;
    if let Some(claim) = idempotency {
        idempotency::record(&txn, &row.org_id, claim, &row.id).await?;
    }
    let saved = Endpoint::insert(row.into_active_model())
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// The endpoint `id` of `org_id`.
pub async fn get_endpoint(
    store: &Store,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<webhook_endpoint::Model>> {
    Ok(Endpoint::find_by_id(id)
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .one(store.reader())
        .await?)
}

/// The paging key of endpoint `id`, to resolve `after_id` / `before_id`.
pub async fn endpoint_key(store: &Store, org_id: &str, id: &str) -> StoreResult<Option<Key>> {
    Ok(get_endpoint(store, org_id, id).await?.map(|e| Key {
        at: e.created_at,
        id: e.id,
    }))
}

/// One page of `org_id`'s endpoints, newest first.
pub async fn list_endpoints(
    store: &Store,
    org_id: &str,
    query: &PageQuery,
) -> StoreResult<Page<webhook_endpoint::Model>> {
    use webhook_endpoint::Column as C;
    let select = Endpoint::find().filter(C::OrgId.eq(org_id));
    page::fetch(store.reader(), select, C::CreatedAt, C::Id, query, |e| {
        Key {
            at: e.created_at,
            id: e.id.clone(),
        }
    })
    .await
}

/// Applies `apply` to endpoint `id` of `org_id`, locked; `Ok(None)` when it
/// does not exist. Disabling it parks its pending deliveries (since `now`),
/// enabling it unparks them, in the same transaction.
pub async fn modify_endpoint<E: From<StoreError>>(
    store: &Store,
    org_id: &str,
    id: &str,
    now: i64,
    apply: impl FnOnce(&mut webhook_endpoint::Model) -> Result<(), E>,
) -> Result<Option<webhook_endpoint::Model>, E> {
    let find = Endpoint::find_by_id(id).filter(webhook_endpoint::Column::OrgId.eq(org_id));
    let txn = begin(store).await?;
    let mut before = None;
    let saved = modify_row_in(&txn, find, |row| {
        before = Some(row.clone());
        stamp_if_changed(row, apply, |row| row.updated_at = now)
    })
    .await?;
    let (Some(saved), Some(before)) = (saved, before) else {
        return Ok(None);
    };
    if before.enabled != saved.enabled {
        deliveries::pending_switch(&saved.id, saved.enabled, now)
            .exec(&txn)
            .await
            .map_err(StoreError::from)?;
    }
    // What a delivery is sent with (a description is not).
    let sent_differently = before.url != saved.url
        || before.secret != saved.secret
        || before.previous_secret != saved.previous_secret
        || before.enabled != saved.enabled
        || before.event_types != saved.event_types;
    let _changed = sent_differently.then(|| store.webhooks().changing([saved.id.clone()]));
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Some(saved))
}

/// The deletion of the attempts of endpoint `endpoint_id`'s deliveries.
/// Their deliveries are found by endpoint alone (ids are unique; the
/// endpoint's organization is checked as it is deleted): with the
/// organization too, SQLite's planner seeks the organization's deliveries
/// instead — every one it ever had.
pub fn attempts_delete(endpoint_id: &str) -> sea_orm::DeleteMany<Attempt> {
    let deliveries = Query::select()
        .column(webhook_delivery::Column::Id)
        .from(Delivery)
        .and_where(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .to_owned();
    Attempt::delete_many().filter(webhook_attempt::Column::DeliveryId.in_subquery(deliveries))
}

/// Deletes endpoint `id` of `org_id` with its deliveries and their
/// attempts. False when it does not exist.
pub async fn delete_endpoint(store: &Store, org_id: &str, id: &str) -> StoreResult<bool> {
    let txn = begin(store).await?;
    let deleted = Endpoint::delete_many()
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .exec(&txn)
        .await?
        .rows_affected;
    if deleted == 0 {
        return Ok(false);
    }
    attempts_delete(id).exec(&txn).await?;
    Delivery::delete_many()
        .filter(webhook_delivery::Column::EndpointId.eq(id))
        .exec(&txn)
        .await?;
    let _changed = store.webhooks().changing([id.to_string()]);
    txn.commit().await?;
    Ok(true)
}

/// What a test of an endpoint came to.
#[derive(Debug, Clone)]
pub enum TestEvent {
    NotFound,
    /// The endpoint is disabled: nothing would be sent.
    Disabled(Box<webhook_endpoint::Model>),
    Queued(Box<webhook_delivery::Model>),
}

/// Queues a `webhook.test` event (about the endpoint itself) for endpoint
/// `id` of `org_id` at `now`.
pub async fn test_endpoint(
    store: &Store,
    org_id: &str,
    id: &str,
    now: i64,
) -> StoreResult<TestEvent> {
    let txn = begin(store).await?;
    // Locked (shared): a switch of the endpoint waits for this event. So no
    // change can commit between this read and the outbox's reading of the
    // endpoint changes below (which a hand-over is checked against), though
    // the endpoint is read first here.
    let Some(endpoint) = Endpoint::find_by_id(id)
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .lock_shared()
        .one(&txn)
        .await?
    else {
        return Ok(TestEvent::NotFound);
    };
    if !endpoint.enabled {
        return Ok(TestEvent::Disabled(Box::new(endpoint)));
    }
    let mut outbox = Outbox::load(&txn, store, []).await?;
    outbox.emit_to(
        &endpoint,
        WebhookEventType::WebhookTest,
        Subject::Endpoint(&endpoint),
        now,
    )?;
    let written = outbox.write(&txn).await?;
    let delivery = written
        .deliveries()
        .next()
        .cloned()
        .expect("a test event goes to its endpoint");
    txn.commit().await?;
    store.webhooks().dispatch(written);
    Ok(TestEvent::Queued(Box::new(delivery)))
}
