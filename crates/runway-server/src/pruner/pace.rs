//! How much the pruner deletes per transaction: as much as fits in its
//! writer budget. On SQLite every write queues for one connection, so a
//! trigger arriving during a pruner transaction waits for all of it; the
//! size adapts to what the last transactions cost, so each holds the
//! writer about `hold` whatever the rows cost on this database and disk.

use std::time::Duration;

/// The next transaction's size, from what the last ones cost.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pace {
    size: u64,
    max: u64,
    hold: Duration,
}

/// Where every pace starts: small, so the first transaction of a pass on
/// a slow disk holds the writer no longer than a few.
const START: u64 = 8;

impl Pace {
    pub(crate) fn new(max: u64, hold: Duration) -> Self {
        let max = max.max(1);
        Self {
            size: START.min(max),
            max,
            hold,
        }
    }

    /// Rows for the next transaction.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// A transaction of `rows` rows took `took`: moves the size halfway to
    /// what would have taken `hold`, within 1..=max.
    pub(crate) fn record(&mut self, rows: u64, took: Duration) {
        if rows == 0 {
            return;
        }
        let per_row = took.as_secs_f64() / rows as f64;
        let ideal = if per_row > 0.0 {
            self.hold.as_secs_f64() / per_row
        } else {
            self.max as f64
        };
        let size = self.size as f64;
        let halfway = (size + ideal) / 2.0;
        // Rounded towards the ideal, so the size reaches it.
        let next = if ideal < size {
            halfway.floor()
        } else {
            halfway.ceil()
        };
        self.size = (next as u64).clamp(1, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grows_while_transactions_are_cheap_up_to_the_max() {
        let mut pace = Pace::new(200, 4 * MS);
        assert_eq!(pace.size(), 8);
        for _ in 0..20 {
            let rows = pace.size();
            // 10 µs a row.
            pace.record(rows, Duration::from_micros(10 * rows));
        }
        assert_eq!(pace.size(), 200);
    }

    #[test]
    fn shrinks_to_the_writer_budget_when_rows_are_dear() {
        let mut pace = Pace::new(200, 4 * MS);
        for _ in 0..30 {
            let rows = pace.size();
            // 1 ms a row: 4 rows fit in the budget.
            pace.record(rows, rows as u32 * MS);
        }
        assert_eq!(pace.size(), 4);
        // Never below one.
        pace.record(4, 400 * MS);
        pace.record(1, 100 * MS);
        assert_eq!(pace.size(), 1);
    }

    #[test]
    fn an_empty_transaction_teaches_nothing() {
        let mut pace = Pace::new(200, 4 * MS);
        pace.record(0, 50 * MS);
        assert_eq!(pace.size(), 8);
        assert_eq!(Pace::new(3, MS).size(), 3);
    }
}
