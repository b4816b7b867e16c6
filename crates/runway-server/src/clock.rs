//! The service's notion of "now", injectable so tests move time instead of
//! sleeping. Schedules, fire times and trigger instants read it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current instant, in Unix nanoseconds.
pub trait Clock: std::fmt::Debug + Send + Sync + 'static {
    fn now_nanos(&self) -> i64;
}

/// A clock shared by every part of a server.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_nanos(&self) -> i64 {
        runway_store::time::now_nanos()
    }
}

/// A clock that moves only when told to (for tests and simulations).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_nanos: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicI64::new(now_nanos)))
    }

    pub fn set(&self, now_nanos: i64) {
        self.0.store(now_nanos, Ordering::SeqCst);
    }

    pub fn advance(&self, nanos: i64) {
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
