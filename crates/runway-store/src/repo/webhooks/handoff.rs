//! The hand-off: deliveries written by this process go straight to its own
//! delivery worker, already claimed.
//!
//! A transaction that writes deliveries while this process's worker has
//! room writes them leased to it (due at the lease's end, as a claim would
//! leave them) and, once it commits, hands them over in memory: the worker
//! sends them without a claim transaction of its own. If the process dies
//! first, the lease ends and any worker claims them from the table, as it
//! does deliveries written while the worker was full, retries and
//! redeliveries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::deliveries::Claimed;

/// The most deliveries waiting in memory for the worker; past it, new ones
/// are written due and claimed from the table.
pub const HANDOFF_LIMIT: usize = 1024;

/// Endpoints whose last change is remembered one by one; past it, every
/// delivery written before counts as written with a stale endpoint.
const TRACKED_ENDPOINTS: usize = 100_000;

/// The endpoint changes this process committed (an update, a rotation, a
/// switch off, a deletion), numbered: a delivery handed over carries the
/// number read before its transaction read its endpoint, so the worker can
/// tell that the copy it holds may be older than the endpoint now. Changes
/// made by other replicas are not seen here; they last until the hand-over
/// is sent (or, past half its lease, left to a claim).
#[derive(Default)]
pub(super) struct EndpointChanges {
    inner: Mutex<Changes>,
}

#[derive(Default)]
struct Changes {
    generation: u64,
    /// Each changed endpoint's last change.
    last: HashMap<String, u64>,
    /// Every change up to this one is forgotten (not kept one by one).
    forgotten: u64,
}

impl EndpointChanges {
    /// The number of the last change: read it before reading endpoints.
    pub(super) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Endpoint `id` changed: call after the change commits.
    pub(super) fn changed(&self, id: &str) {
        let mut changes = self.lock();
        changes.generation += 1;
        if changes.last.len() >= TRACKED_ENDPOINTS {
            changes.last.clear();
            changes.forgotten = changes.generation - 1;
        }
        let generation = changes.generation;
        changes.last.insert(id.to_string(), generation);
    }

    /// Whether endpoint `id` changed after change `generation`.
    fn since(&self, id: &str, generation: u64) -> bool {
        let changes = self.lock();
        changes.forgotten > generation || changes.last.get(id).is_some_and(|&g| g > generation)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Changes> {
        // The map is consistent after every statement: a panic elsewhere
        // leaves nothing half-done.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The worker's end of the hand-off.
pub struct Handed {
    receiver: mpsc::UnboundedReceiver<(Claimed, u64)>,
    queued: Arc<AtomicUsize>,
    changes: Arc<EndpointChanges>,
}

impl Handed {
    /// The next delivery handed over (None once the process stops handing).
    /// One whose endpoint this process changed after the delivery's
    /// transaction read it is skipped: it stays leased in the table and is
    /// claimed when its lease ends, with its endpoint as it is then (sent
    /// to the new URL, parked if switched off, gone if deleted).
    pub async fn recv(&mut self) -> Option<Claimed> {
        loop {
            let handed = self.receiver.recv().await?;
            if let Some(claimed) = self.take(handed) {
                return Some(claimed);
            }
        }
    }

    /// A delivery handed over, if one waits (skipping as [`Handed::recv`]).
    pub fn try_recv(&mut self) -> Option<Claimed> {
        loop {
            let handed = self.receiver.try_recv().ok()?;
            if let Some(claimed) = self.take(handed) {
                return Some(claimed);
            }
        }
    }

    /// The number of the last endpoint change this process committed: a
    /// worker that keeps a hand-over waiting reads it before receiving, and
    /// asks [`Handed::changed_since`] before it sends.
    pub fn generation(&self) -> u64 {
        self.changes.generation()
    }

    /// Whether endpoint `id` changed after change `generation`.
    pub fn changed_since(&self, id: &str, generation: u64) -> bool {
        self.changes.since(id, generation)
    }

    /// A hand-over received that the worker keeps waiting (its endpoint
    /// busy) counts against [`HANDOFF_LIMIT`] again, until
    /// [`Handed::stopped_waiting`]: past the limit, deliveries are written
    /// due and claimed, in turn with the other endpoints'.
    pub fn kept_waiting(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// A hand-over kept waiting was sent, or left to its lease.
    pub fn stopped_waiting(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    fn take(&self, (claimed, generation): (Claimed, u64)) -> Option<Claimed> {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        (!self.changes.since(&claimed.endpoint.id, generation)).then_some(claimed)
    }
}

/// The process's end: where committed deliveries go, and for how long
/// they are leased.
pub(super) struct Handoff {
    lease: i64,
    sender: mpsc::UnboundedSender<(Claimed, u64)>,
    queued: Arc<AtomicUsize>,
}

impl Handoff {
    pub(super) fn new(lease: i64, changes: Arc<EndpointChanges>) -> (Handoff, Handed) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let handed = Handed {
            receiver,
            queued: queued.clone(),
            changes,
        };
        (
            Handoff {
                lease,
                sender,
                queued,
            },
            handed,
        )
    }

    /// The lease for `rows` more deliveries, if the worker runs and has
    /// room (concurrent transactions may each pass this check before any
    /// dispatches: the limit is approximate, by a few batches).
    pub(super) fn lease_for(&self, rows: usize) -> Option<i64> {
        let room = self.queued.load(Ordering::Relaxed) + rows <= HANDOFF_LIMIT;
        (room && !self.sender.is_closed()).then_some(self.lease)
    }

    /// Hands `claimed` over; `generation`: the endpoint change read before
    /// their transaction read their endpoints.
    pub(super) fn send(&self, claimed: Vec<Claimed>, generation: u64) {
        self.queued.fetch_add(claimed.len(), Ordering::Relaxed);
        for delivery in claimed {
            // A worker that stopped leaves them to their lease.
            if self.sender.send((delivery, generation)).is_err() {
                self.queued.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// The deliveries a transaction wrote: dispatch them once it commits
/// ([`super::WebhookHub::dispatch`]).
#[must_use = "dispatch the deliveries once the transaction commits"]
#[derive(Debug, Default)]
pub struct Written {
    /// Written leased to this process's worker, with their endpoints.
    pub(super) handed: Vec<Claimed>,
    /// Written due, for any worker to claim.
    pub(super) due: Vec<Claimed>,
    /// The endpoint change read before the endpoints were
    /// ([`EndpointChanges::generation`]).
    pub(super) generation: u64,
}

impl Written {
    /// How many deliveries were written.
    pub fn len(&self) -> usize {
        self.handed.len() + self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The deliveries as stored.
    pub fn deliveries(&self) -> impl Iterator<Item = &crate::entity::webhook_delivery::Model> {
        self.handed.iter().chain(&self.due).map(|c| &c.delivery)
    }

    /// Both writes' deliveries (for a transaction that writes twice).
    pub fn merge(mut self, other: Written) -> Written {
        // The older reading: a change after either counts for both.
        self.generation = match (self.handed.is_empty(), other.handed.is_empty()) {
            (true, _) => other.generation,
            (false, true) => self.generation,
            (false, false) => self.generation.min(other.generation),
        };
        self.handed.extend(other.handed);
        self.due.extend(other.due);
        self
    }
}
