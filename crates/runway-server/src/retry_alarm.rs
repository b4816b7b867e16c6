//! When the retries this process created fall due, so that the reaper
//! starts each one as its backoff ends rather than at its next pass (up to
//! a pass's interval later). A retry created by another replica, or before
//! a restart, is still started by the passes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Instants set further out than this many are left to the passes: the
/// alarm never grows without bound under a storm of failures.
const MAX_SET: usize = 100_000;

#[derive(Default)]
pub struct RetryAlarm {
    /// The instants (clock nanoseconds) retries fall due, earliest first.
    due: Mutex<BinaryHeap<Reverse<i64>>>,
    /// Told when an instant earlier than all the others is set.
    earlier: Notify,
}

impl RetryAlarm {
    /// A retry falls due at `at`.
    pub fn set(&self, at: i64) {
        let mut due = self.due.lock().expect("alarm lock");
        if due.len() >= MAX_SET {
            return;
        }
        let earliest = due.peek().is_none_or(|&Reverse(first)| at < first);
        due.push(Reverse(at));
        if earliest {
            // Stored if nobody waits yet: the next wait returns at once.
            self.earlier.notify_one();
        }
    }

    /// The earliest instant set and not yet passed.
    pub fn next(&self) -> Option<i64> {
        self.due
            .lock()
            .expect("alarm lock")
            .peek()
            .map(|&Reverse(at)| at)
    }

    /// A pass at `now` starts every retry due by then: forgets their instants.
    pub fn passed(&self, now: i64) {
        let mut due = self.due.lock().expect("alarm lock");
        while due.peek().is_some_and(|&Reverse(at)| at <= now) {
            due.pop();
        }
    }

    /// Resolves when an instant earlier than [`RetryAlarm::next`] was set.
    pub async fn earlier(&self) {
        self.earlier.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_instant_is_next_until_a_pass_goes_by_it() {
        let alarm = RetryAlarm::default();
        assert_eq!(alarm.next(), None);
        alarm.set(30);
        alarm.set(10);
        alarm.set(20);
        assert_eq!(alarm.next(), Some(10));
        alarm.passed(9);
        assert_eq!(alarm.next(), Some(10), "not yet due");
        alarm.passed(20);
        assert_eq!(alarm.next(), Some(30), "both due by 20 are forgotten");
        alarm.passed(30);
        assert_eq!(alarm.next(), None);
    }

    #[tokio::test]
    async fn an_earlier_instant_wakes_the_waiter_even_if_set_before_it_waits() {
        let alarm = RetryAlarm::default();
        alarm.set(10);
        // Set before anyone waited: the wait returns at once.
        tokio::time::timeout(std::time::Duration::from_secs(5), alarm.earlier())
            .await
            .expect("woken");
        alarm.set(20);
        let later = tokio::time::timeout(std::time::Duration::from_millis(50), alarm.earlier());
        assert!(later.await.is_err(), "a later instant wakes nobody");
    }
}
