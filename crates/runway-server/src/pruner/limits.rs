//! How hard the pruner works: batch sizes, how long a transaction should
//! hold the writer, and how long it rests after, by backend.

use std::time::Duration;

use runway_store::Backend;

/// How hard the pruner works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneLimits {
    /// The most runs (or deliveries, or keys) one transaction deletes.
    pub max_batch: u64,
    /// The most transcript events one transaction deletes.
    pub max_event_batch: u64,
    /// The most free SQLite pages one transaction hands back.
    pub max_reclaim_pages: u64,
    /// How long one transaction should hold the writer: batch sizes adapt
    /// to it (see `pace`).
    pub hold: Duration,
    /// After a transaction that took `t`, the pruner rests `rest_factor × t`
    /// (32: it holds the writer about 3 % of the time). Measured at 2,000
    /// triggers/s on a 1 M-run SQLite history (BENCHMARKS.md, "Retention"),
    /// 4 doubled the triggers' p99 while it pruned, 32 adds about a fifth;
    /// it prunes 170–260 runs a second there (15 M a day), far above any
    /// run rate.
    pub rest_factor: u32,
}

impl Default for PruneLimits {
    fn default() -> Self {
        Self {
            max_batch: 500,
            max_event_batch: 5_000,
            max_reclaim_pages: 2_000,
            hold: Duration::from_millis(2),
            rest_factor: 32,
        }
    }
}

impl PruneLimits {
    /// The limits for `backend`: the default on SQLite, longer
    /// transactions on PostgreSQL. There no trigger waits for a pruner
    /// transaction (they lock different rows), and a transaction's commit
    /// alone (its WAL flush, ~3 ms here) outlasted 2 ms: the batches shrank
    /// to one run and the pruner to 30 runs a second. 25 ms is mostly rows.
    pub fn for_backend(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::default(),
            Backend::Postgres => Self {
                hold: Duration::from_millis(25),
                ..Self::default()
            },
        }
    }
}
