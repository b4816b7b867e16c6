//! The users' side of deliveries: list an endpoint's, redeliver one, and
//! park an endpoint's pending deliveries while it is disabled.

use std::collections::HashMap;

use runway_api::enums::WebhookDeliveryStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::webhook_attempt::{self, Entity as Attempt};
use crate::entity::webhook_delivery::{self, Entity as Delivery};
use crate::entity::webhook_endpoint::{self, Entity as Endpoint};
use crate::ids::IdKind;
use crate::page::{self, Key, Page, PageQuery};
use crate::repo::begin;
use crate::{Store, StoreResult};

/// The statement that parks endpoint `endpoint_id`'s pending deliveries
/// (`enabled` false: the workers' claim no longer sees them) or unparks
/// them (`enabled` true: as they were, due at their time — at once for
/// most, their time having come while the endpoint was disabled; a
/// delivery in flight at the switch keeps its lease). Parking seeks the
/// endpoint's pending deliveries through its `(endpoint_id, status, …)`
/// index, unparking its parked ones through the partial index of parked
/// deliveries: an endpoint's deliveries include every one it was ever sent.
/// `now` is when they are parked (unused when unparking).
pub fn pending_switch(endpoint_id: &str, enabled: bool, now: i64) -> sea_orm::UpdateMany<Delivery> {
    use webhook_delivery::Column as C;
    let switch = Delivery::update_many().filter(C::EndpointId.eq(endpoint_id));
    match enabled {
        true => switch
            .col_expr(C::ParkedAt, Expr::value(Option::<i64>::None))
            .filter(C::ParkedAt.is_not_null()),
        false => switch
            .col_expr(C::ParkedAt, Expr::value(now))
            .filter(C::Status.eq(WebhookDeliveryStatus::Pending))
            .filter(C::ParkedAt.is_null()),
    }
}

/// The enabled endpoints that have parked deliveries: none, unless a
/// replica of a version before parking enabled one (it does not unpark)
/// or something else left some behind. One probe of the parked
/// deliveries' partial index per enabled endpoint, stopping at the first
/// row (a scalar subquery with `LIMIT 1`, which neither planner turns into
/// a join over every parked delivery): next to nothing when there are
/// none, however many a disabled endpoint has parked.
pub fn enabled_with_parked(backend: sea_orm::DbBackend) -> sea_orm::Statement {
    sea_orm::Statement::from_string(
        backend,
        "SELECT e.id AS id FROM webhook_endpoints e WHERE e.enabled = true AND \
         (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id \
          AND d.parked_at IS NOT NULL LIMIT 1) IS NOT NULL",
    )
}

/// Unparks the deliveries of enabled endpoints that still have parked ones
/// (see [`enabled_with_parked`]); the deliveries unparked. Each delivery
/// worker runs it now and then. The endpoints are locked (shared) and
/// checked again first, so a switch of one waits for this, or this for it.
pub async fn repair_parked(store: &Store, now: i64) -> StoreResult<u64> {
    use sea_orm::ConnectionTrait;
    let reader = store.reader();
    let candidates: Vec<String> = reader
        .query_all_raw(enabled_with_parked(reader.get_database_backend()))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "id"))
        .collect::<Result<_, _>>()?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let txn = begin(store).await?;
    let enabled = Endpoint::find()
        .filter(webhook_endpoint::Column::Id.is_in(candidates))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .order_by_asc(webhook_endpoint::Column::Id)
        .lock_shared()
        .all(&txn)
        .await?;
    let mut unparked = 0;
    for endpoint in enabled {
        unparked += pending_switch(&endpoint.id, true, now)
            .exec(&txn)
            .await?
            .rows_affected;
    }
    txn.commit().await?;
    if unparked > 0 {
        store.webhooks().wake();
    }
    Ok(unparked)
}

/// A delivery and its attempts, oldest first.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub delivery: webhook_delivery::Model,
    pub attempts: Vec<webhook_attempt::Model>,
}

/// The paging key of delivery `id` of endpoint `endpoint_id`.
pub async fn delivery_key(
    store: &Store,
    org_id: &str,
    endpoint_id: &str,
    id: &str,
) -> StoreResult<Option<Key>> {
    Ok(Delivery::find_by_id(id)
        .filter(webhook_delivery::Column::OrgId.eq(org_id))
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .one(store.reader())
        .await?
        .map(|d| Key {
            at: d.created_at,
            id: d.id,
        }))
}

/// Endpoint `endpoint_id`'s deliveries, of `status` if given, in no order
/// yet (see [`page::page_select`]).
pub fn list_select(
    org_id: &str,
    endpoint_id: &str,
    status: Option<WebhookDeliveryStatus>,
) -> sea_orm::Select<Delivery> {
    use webhook_delivery::Column as C;
    let select = Delivery::find()
        .filter(C::OrgId.eq(org_id))
        .filter(C::EndpointId.eq(endpoint_id));
    match status {
        Some(status) => select.filter(C::Status.eq(status)),
        None => select,
    }
}

/// One page of an endpoint's deliveries, newest first, each with its attempts.
pub async fn list_deliveries(
    store: &Store,
    org_id: &str,
    endpoint_id: &str,
    status: Option<WebhookDeliveryStatus>,
    query: &PageQuery,
) -> StoreResult<Page<DeliveryRecord>> {
    use webhook_delivery::Column as C;
    let select = list_select(org_id, endpoint_id, status);
    let page = page::fetch(store.reader(), select, C::CreatedAt, C::Id, query, |d| {
        Key {
            at: d.created_at,
            id: d.id.clone(),
        }
    })
    .await?;
    let ids: Vec<&str> = page.items.iter().map(|d| d.id.as_str()).collect();
    let mut attempts: HashMap<String, Vec<webhook_attempt::Model>> = HashMap::new();
    if !ids.is_empty() {
        for attempt in Attempt::find()
            .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
            .order_by_asc(webhook_attempt::Column::Number)
            .all(store.reader())
            .await?
        {
            attempts
                .entry(attempt.delivery_id.clone())
                .or_default()
                .push(attempt);
        }
    }
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|delivery| DeliveryRecord {
                attempts: attempts.remove(&delivery.id).unwrap_or_default(),
                delivery,
            })
            .collect(),
        has_more: page.has_more,
        next: page.next,
    })
}

/// What a redelivery came to.
#[derive(Debug, Clone)]
pub enum Redelivery {
    NotFound,
    /// The delivery is still being attempted.
    Pending(Box<webhook_delivery::Model>),
    Queued(Box<webhook_delivery::Model>),
}

/// Queues delivery `id`'s event again for its endpoint, as a new delivery
/// due at `now` (same event id and body), or parked if the endpoint is
/// disabled.
pub async fn redeliver(store: &Store, org_id: &str, id: &str, now: i64) -> StoreResult<Redelivery> {
    let txn = begin(store).await?;
    let Some(original) = Delivery::find_by_id(id)
        .filter(webhook_delivery::Column::OrgId.eq(org_id))
        .one(&txn)
        .await?
    else {
        return Ok(Redelivery::NotFound);
    };
    if original.status == WebhookDeliveryStatus::Pending {
        return Ok(Redelivery::Pending(Box::new(original)));
    }
    // To a disabled endpoint it waits, parked, until the endpoint is
    // enabled. The endpoint is locked (shared) so a switch of it waits for
    // this insert, and this for the switch.
    let Some(endpoint) = Endpoint::find_by_id(&original.endpoint_id)
        .lock_shared()
        .one(&txn)
        .await?
    else {
        return Ok(Redelivery::NotFound);
    };
    let enabled = endpoint.enabled;
    let again = webhook_delivery::Model {
        id: IdKind::WebhookDelivery.generate(),
        status: WebhookDeliveryStatus::Pending,
        attempt_count: 0,
        next_attempt_at: Some(now),
        parked_at: (!enabled).then_some(now),
        redelivery_of: Some(original.id.clone()),
        created_at: now,
        updated_at: now,
        ..original
    };
    Delivery::insert(again.clone().into_active_model())
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    if enabled {
        store.webhooks().wake();
    }
    Ok(Redelivery::Queued(Box::new(again)))
}
