//! [`Outbox`]: the deliveries a transaction's events make, written by that
//! transaction.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use runway_api::enums::{WebhookDeliveryStatus, WebhookEventType};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{Subject, WebhookRenderer};
use crate::entity::webhook_delivery;
use crate::entity::webhook_endpoint::{self, Entity as Endpoint};
use crate::ids::IdKind;
use crate::{Store, StoreError, StoreResult};

/// Rows per insert statement (a delivery binds 12 values; SQLite allows 32,766).
const INSERT_CHUNK: usize = 1000;

/// Collects the deliveries of the events a transaction causes. Load it
/// with the organizations the transaction touches (one query), emit each
/// event, write it before the commit, and wake the workers after.
pub struct Outbox {
    endpoints: HashMap<String, Vec<webhook_endpoint::Model>>,
    renderer: Option<Arc<dyn WebhookRenderer>>,
    rows: Vec<webhook_delivery::Model>,
}

impl Outbox {
    /// The enabled endpoints of `orgs`, read in the caller's transaction.
    pub(crate) async fn load<'a>(
        db: &impl ConnectionTrait,
        store: &Store,
        orgs: impl IntoIterator<Item = &'a str>,
    ) -> StoreResult<Outbox> {
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
            rows: Vec::new(),
        })
    }

    /// Emits one event in `org_id` and writes its deliveries: [`Outbox::load`],
    /// [`Outbox::emit`] and [`Outbox::write`] at once. Returns how many
    /// deliveries were written (wake the workers after the commit if any).
    pub(crate) async fn send(
        db: &impl ConnectionTrait,
        store: &Store,
        org_id: &str,
        kind: WebhookEventType,
        subject: Subject<'_>,
        now: i64,
    ) -> StoreResult<usize> {
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
        let targets: Vec<(String, String)> = endpoints
            .iter()
            .filter(|e| e.subscribes_to(kind) && !is_about(subject, e))
            .map(|e| (e.id.clone(), e.org_id.clone()))
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
        let target = vec![(endpoint.id.clone(), endpoint.org_id.clone())];
        self.push(target, kind, subject, now)
    }

    fn push(
        &mut self,
        targets: Vec<(String, String)>,
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
        for (endpoint_id, org_id) in targets {
            self.rows.push(webhook_delivery::Model {
                id: IdKind::WebhookDelivery.generate(),
                org_id,
                endpoint_id,
                event_id: event_id.clone(),
                event_type: kind,
                body: body.clone(),
                status: WebhookDeliveryStatus::Pending,
                attempt_count: 0,
                next_attempt_at: Some(now),
                redelivery_of: None,
                created_at: now,
                updated_at: now,
            });
        }
        Ok(())
    }

    /// The deliveries emitted so far.
    pub(crate) fn rows(&self) -> &[webhook_delivery::Model] {
        &self.rows
    }

    /// Inserts the deliveries in the caller's transaction; returns how many.
    pub(crate) async fn write(self, db: &impl ConnectionTrait) -> StoreResult<usize> {
        let written = self.rows.len();
        let mut rows = self
            .rows
            .into_iter()
            .map(webhook_delivery::ActiveModel::from)
            .peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
            webhook_delivery::Entity::insert_many(chunk)
                .exec_without_returning(db)
                .await?;
        }
        Ok(written)
    }
}

/// An endpoint is not told about itself being disabled: it is not listening.
fn is_about(subject: Subject<'_>, endpoint: &webhook_endpoint::Model) -> bool {
    matches!(subject, Subject::Endpoint(e) if e.id == endpoint.id)
}
