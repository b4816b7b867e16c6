//! Webhooks: endpoints, the deliveries of events to them, and the attempts
//! at sending each.
//!
//! An event's deliveries are written by the transaction that causes the
//! event (a trigger batch, a finish, a pause…) through an [`Outbox`], so an
//! event exists exactly when its cause committed. Delivery workers then
//! claim due deliveries ([`deliveries::claim_due`]) and record what the
//! endpoints answered ([`deliveries::record_attempts`]).

pub mod deliveries;
mod endpoints;
mod handoff;
mod outbox;

use std::sync::{Arc, OnceLock};

use runway_api::enums::WebhookEventType;
use tokio::sync::Notify;

pub use endpoints::*;
pub use handoff::{HANDOFF_LIMIT, Handed, Written};
pub use outbox::Outbox;

use crate::entity::{deployment, deployment_run, webhook_endpoint};

/// Endpoints being changed; see [`WebhookHub::changing`].
#[must_use = "hold it over the commit"]
pub(crate) struct EndpointsChanging<'a> {
    hub: &'a WebhookHub,
    ids: Vec<String>,
}

impl Drop for EndpointsChanging<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            self.hub.changes.changed(id);
        }
    }
}

/// What an event is about, as the transaction that causes it holds it.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Run(&'a deployment_run::Model),
    Deployment(&'a deployment::Model),
    Endpoint(&'a webhook_endpoint::Model),
}

/// Renders an event's body (`{"id","type","created_at","data"}`, `data` the
/// subject as the REST API renders it). The server provides it: rendering
/// is the API's business, not storage's.
pub trait WebhookRenderer: Send + Sync + 'static {
    fn body(&self, event_id: &str, kind: WebhookEventType, at: i64, subject: Subject<'_>)
    -> String;
}

/// The process-wide part of webhooks: the renderer, the worker's bell, and
/// the hand-off to the worker.
#[derive(Default)]
pub struct WebhookHub {
    renderer: OnceLock<Arc<dyn WebhookRenderer>>,
    due: Notify,
    handoff: OnceLock<handoff::Handoff>,
    changes: Arc<handoff::EndpointChanges>,
}

impl std::fmt::Debug for WebhookHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookHub")
            .field("renderer", &self.renderer.get().is_some())
            .finish()
    }
}

impl WebhookHub {
    /// Installs the renderer (once per process; later calls are ignored).
    pub fn set_renderer(&self, renderer: Arc<dyn WebhookRenderer>) {
        let _ = self.renderer.set(renderer);
    }

    pub(crate) fn renderer(&self) -> Option<&Arc<dyn WebhookRenderer>> {
        self.renderer.get()
    }

    /// Tells this process's delivery worker that deliveries became due.
    /// Called after the transaction that wrote them commits.
    pub fn wake(&self) {
        self.due.notify_one();
    }

    /// Makes the caller this process's delivery worker: deliveries written
    /// here from now on are leased to it for `lease` nanoseconds and handed
    /// over. `None` if a worker is attached already.
    pub fn attach_worker(&self, lease: i64) -> Option<Handed> {
        let (handoff, handed) = handoff::Handoff::new(lease, self.changes.clone());
        self.handoff.set(handoff).ok().map(|()| handed)
    }

    /// The lease for `rows` deliveries about to be written, if this
    /// process's worker can take them.
    pub(crate) fn handoff_lease(&self, rows: usize) -> Option<i64> {
        self.handoff.get()?.lease_for(rows)
    }

    /// After the commit: hands the leased deliveries to the worker and
    /// wakes it for the due ones.
    pub fn dispatch(&self, written: Written) {
        if !written.handed.is_empty()
            && let Some(handoff) = self.handoff.get()
        {
            handoff.send(written.handed, written.generation);
        }
        if !written.due.is_empty() {
            self.wake();
        }
    }

    /// The last endpoint change this process made (read before reading
    /// endpoints to write deliveries with).
    pub(crate) fn endpoint_generation(&self) -> u64 {
        self.changes.generation()
    }

    /// Endpoints `ids` are being changed (updated, rotated, switched,
    /// deleted): hold the answer over the commit. When it drops — after
    /// the commit, or at a failed or abandoned one, whose outcome is
    /// unknown — deliveries handed over with an older copy of them are left
    /// to be claimed with the endpoints as they are (a change that did not
    /// happen costs such a delivery a wait for its lease).
    pub(crate) fn changing(&self, ids: impl IntoIterator<Item = String>) -> EndpointsChanging<'_> {
        EndpointsChanging {
            hub: self,
            ids: ids.into_iter().collect(),
        }
    }

    /// Waits for [`WebhookHub::wake`].
    pub async fn woken(&self) {
        self.due.notified().await;
    }
}
