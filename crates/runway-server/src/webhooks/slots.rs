//! What a delivery worker holds while it sends: its two limits (send
//! slots, answers not yet recorded), each delivery's ticket under them, and
//! where an attempt's task reports.

use std::sync::Arc;

use runway_store::repo::webhooks::deliveries::AttemptOutcome;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Deliveries one worker sends at once (to one endpoint, at most
/// [`crate::domain::deliveries::MAX_IN_FLIGHT_PER_ENDPOINT`] of them).
pub const MAX_IN_FLIGHT: usize = 256;

/// Deliveries one worker has sent or is sending whose answers are not yet
/// recorded, at most (they stay leased until recorded).
pub(super) const MAX_UNRECORDED: usize = 1024;

/// Where an attempt's task reports: its answer to the recorder, its end to
/// the worker loop (which endpoint's).
#[derive(Clone)]
pub(super) struct Reports {
    pub answers: mpsc::UnboundedSender<Answer>,
    pub ended: mpsc::UnboundedSender<String>,
}

/// Tells the worker loop, when dropped, that an attempt to `endpoint` ended.
pub(super) struct Ended {
    pub endpoint: Option<String>,
    pub to: mpsc::UnboundedSender<String>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        if let Some(endpoint) = self.endpoint.take() {
            let _ = self.to.send(endpoint);
        }
    }
}

/// An attempt's outcome, and its place under the unrecorded limit.
pub(super) type Answer = (AttemptOutcome, OwnedSemaphorePermit);

/// What a delivery holds while this worker has it: a send slot until the
/// attempt ends, a place under the unrecorded limit until its answer is
/// recorded.
pub(super) struct Ticket {
    pub sending: OwnedSemaphorePermit,
    pub unrecorded: OwnedSemaphorePermit,
}

/// The worker's two limits. Only the worker loop takes permits, so what it
/// sees free stays free until it takes it.
pub(super) struct Slots {
    sending: Arc<Semaphore>,
    unrecorded: Arc<Semaphore>,
}

impl Slots {
    pub fn new() -> Slots {
        Slots {
            sending: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            unrecorded: Arc::new(Semaphore::new(MAX_UNRECORDED)),
        }
    }

    /// How many deliveries could start now.
    pub fn free(&self) -> usize {
        self.sending
            .available_permits()
            .min(self.unrecorded.available_permits())
    }

    pub fn take(&self) -> Option<Ticket> {
        Some(Ticket {
            sending: self.sending.clone().try_acquire_owned().ok()?,
            unrecorded: self.unrecorded.clone().try_acquire_owned().ok()?,
        })
    }

    /// Until `n` deliveries could start.
    pub async fn wait_free(&self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        for limit in [&self.sending, &self.unrecorded] {
            // Closed never: the semaphores live as long as the loop.
            if let Ok(permits) = limit.acquire_many(n).await {
                drop(permits);
            }
        }
    }
}
