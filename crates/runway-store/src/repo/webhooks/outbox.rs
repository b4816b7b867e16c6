//! [`Outbox`]: the deliveries a transaction's events make, written by that
//! transaction.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use runway_api::enums::{WebhookDeliveryStatus, WebhookEventType};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::deliveries::Claimed;
use super::{Subject, WebhookHub, WebhookRenderer, Written};
use crate::entity::webhook_delivery;
use crate::entity::webhook_endpoint::{self, Entity as Endpoint};
use crate::ids::IdKind;
use crate::{Store, StoreError, StoreResult};

/// Rows per insert statement (a delivery binds 13 values; SQLite allows 32,766).
const INSERT_CHUNK: usize = 1000;

/// Collects the deliveries of the events a transaction causes. Load it
/// with the organizations the transaction touches (one query), emit each
/// event, write it before the commit, and dispatch what it wrote after
/// ([`WebhookHub::dispatch`]).
pub struct Outbox {
    endpoints: HashMap<String, Vec<webhook_endpoint::Model>>,
    renderer: Option<Arc<dyn WebhookRenderer>>,
    hub: Arc<WebhookHub>,
    /// The endpoint change read before the endpoints were.
    generation: u64,
    /// Each delivery with the endpoint it goes to.
    rows: Vec<Claimed>,
}

impl Outbox {
    /// The enabled endpoints of `orgs`, read in the caller's transaction.
    pub(crate) async fn load<'a>(
        db: &impl ConnectionTrait,
        store: &Store,
        orgs: impl IntoIterator<Item = &'a str>,
    ) -> StoreResult<Outbox> {
        // Before the endpoints: a change committed after this reading is
        // newer than the copies read below (see `EndpointChanges`).
        let generation = store.webhooks().endpoint_generation();
        let orgs: BTreeSet<&str> = orgs.into_iter().collect();
        let mut endpoints: HashMap<String, Vec<webhook_endpoint::Model>> = HashMap::new();
        if !orgs.is_empty() {
            for endpoint in Endpoint::find()
                .filter(webhook_endpoint::Column::OrgId.is_in(orgs))
                .filter(webhook_endpoint::Column::Enabled.eq(true))
                .all(db)
                .await?
            {
                endpoints
                    .entry(endpoint.org_id.clone())
                    .or_default()
                    .push(endpoint);
            }
        }
        Ok(Outbox {
            endpoints,
            renderer: store.webhooks().renderer().cloned(),
            hub: store.webhook_hub(),
            generation,
            rows: Vec::new(),
        })
    }

    /// Emits one event in `org_id` and writes its deliveries: [`Outbox::load`],
    /// [`Outbox::emit`] and [`Outbox::write`] at once. Returns what was
    /// written, to dispatch after the commit.
    pub(crate) async fn send(
        db: &impl ConnectionTrait,
        store: &Store,
        org_id: &str,
        kind: WebhookEventType,
        subject: Subject<'_>,
        now: i64,
    ) -> StoreResult<Written> {
        let mut outbox = Outbox::load(db, store, [org_id]).await?;
        outbox.emit(org_id, kind, subject, now)?;
        outbox.write(db).await
    }

    /// Records event `kind` about `subject` in `org_id` at `now`, for every
    /// enabled endpoint of the organization that subscribes to it. The
    /// body is rendered once (only when someone subscribes).
    pub(crate) fn emit(
        &mut self,
        org_id: &str,
        kind: WebhookEventType,
        subject: Subject<'_>,
        now: i64,
    ) -> StoreResult<()> {
        let Some(endpoints) = self.endpoints.get(org_id) else {
            return Ok(());
        };
        let targets: Vec<webhook_endpoint::Model> = endpoints
            .iter()
            .filter(|e| e.subscribes_to(kind) && !is_about(subject, e))
            .cloned()
            .collect();
        self.push(targets, kind, subject, now)
    }

    /// Records event `kind` for `endpoint` alone, whatever it subscribes to
    /// (a test event).
    pub(crate) fn emit_to(
        &mut self,
        endpoint: &webhook_endpoint::Model,
        kind: WebhookEventType,
        subject: Subject<'_>,
        now: i64,
    ) -> StoreResult<()> {
        self.push(vec![endpoint.clone()], kind, subject, now)
    }

    fn push(
        &mut self,
        targets: Vec<webhook_endpoint::Model>,
        kind: WebhookEventType,
        subject: Subject<'_>,
        now: i64,
    ) -> StoreResult<()> {
        if targets.is_empty() {
            return Ok(());
        }
        let renderer = self
            .renderer
            .as_ref()
            .ok_or(StoreError::NoWebhookRenderer)?;
        let event_id = IdKind::WebhookEvent.generate();
        let body = renderer.body(&event_id, kind, now, subject);
        for endpoint in targets {
            let delivery = webhook_delivery::Model {
                id: IdKind::WebhookDelivery.generate(),
                org_id: endpoint.org_id.clone(),
                endpoint_id: endpoint.id.clone(),
                event_id: event_id.clone(),
                event_type: kind,
                body: body.clone(),
                status: WebhookDeliveryStatus::Pending,
                attempt_count: 0,
                next_attempt_at: Some(now),
                parked_at: None,
                redelivery_of: None,
                created_at: now,
                updated_at: now,
            };
            self.rows.push(Claimed { delivery, endpoint });
        }
        Ok(())
    }

    /// Inserts the deliveries in the caller's transaction, leased to this
    /// process's worker when it has room (due otherwise); returns them, to
    /// dispatch after the commit.
    pub(crate) async fn write(mut self, db: &impl ConnectionTrait) -> StoreResult<Written> {
        let lease = self.hub.handoff_lease(self.rows.len());
        if let Some(lease) = lease {
            for row in &mut self.rows {
                row.delivery.next_attempt_at = Some(row.delivery.created_at + lease);
            }
        }
        let models: Vec<webhook_delivery::ActiveModel> = self
            .rows
            .iter()
            .map(|c| webhook_delivery::ActiveModel::from(c.delivery.clone()))
            .collect();
        let mut rows = models.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
            webhook_delivery::Entity::insert_many(chunk)
                .exec_without_returning(db)
                .await?;
        }
        Ok(match lease {
            Some(_) => Written {
                handed: self.rows,
                due: Vec::new(),
                generation: self.generation,
            },
            None => Written {
                handed: Vec::new(),
                due: self.rows,
                generation: self.generation,
            },
        })
    }
}

/// An endpoint is not told about itself being disabled: it is not listening.
fn is_about(subject: Subject<'_>, endpoint: &webhook_endpoint::Model) -> bool {
    matches!(subject, Subject::Endpoint(e) if e.id == endpoint.id)
}
