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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use super::deliveries::Claimed;

/// The most deliveries waiting in memory for the worker; past it, new ones
/// are written due and claimed from the table.
pub const HANDOFF_LIMIT: usize = 1024;

/// The worker's end of the hand-off.
pub struct Handed {
    receiver: mpsc::UnboundedReceiver<Claimed>,
    queued: Arc<AtomicUsize>,
}

impl Handed {
    /// The next delivery handed over (None once the process stops handing).
    pub async fn recv(&mut self) -> Option<Claimed> {
        let claimed = self.receiver.recv().await;
        if claimed.is_some() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        claimed
    }

    /// A delivery handed over, if one waits.
    pub fn try_recv(&mut self) -> Option<Claimed> {
        let claimed = self.receiver.try_recv().ok();
        if claimed.is_some() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        claimed
    }
}

/// The process's end: where committed deliveries go, and for how long
/// they are leased.
pub(super) struct Handoff {
    lease: i64,
    sender: mpsc::UnboundedSender<Claimed>,
    queued: Arc<AtomicUsize>,
}

impl Handoff {
    pub(super) fn new(lease: i64) -> (Handoff, Handed) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let handed = Handed {
            receiver,
            queued: queued.clone(),
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

    pub(super) fn send(&self, claimed: Vec<Claimed>) {
        self.queued.fetch_add(claimed.len(), Ordering::Relaxed);
        for delivery in claimed {
            // A worker that stopped leaves them to their lease.
            if self.sender.send(delivery).is_err() {
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
        self.handed.extend(other.handed);
        self.due.extend(other.due);
        self
    }
}
