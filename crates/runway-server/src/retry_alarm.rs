//! When retries fall due, so that the reaper starts each one as its
//! backoff ends rather than at its next pass (up to a pass's interval
//! later). A retry this process creates is set at once; one another
//! replica (or this process before a restart) created is set when a pass
//! finds it the next to fall due.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// The most distinct instants kept: past it the latest go (the passes
/// start those), so the alarm never grows without bound under a storm of
/// failures.
const MAX_INSTANTS: usize = 100_000;

#[derive(Default)]
pub struct RetryAlarm {
    /// Whether a reaper loop listens (else nothing would ever empty it).
    armed: AtomicBool,
    /// How many retries fall due at each instant (clock nanoseconds).
    due: Mutex<BTreeMap<i64, u32>>,
    /// Told when an instant earlier than all the others is set.
    earlier: Notify,
}

impl RetryAlarm {
    /// A reaper loop listens from now on.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// A retry falls due at `at`.
    pub fn set(&self, at: i64) {
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        let mut due = self.due.lock().expect("alarm lock");
        let earliest = due.first_key_value().is_none_or(|(&first, _)| at < first);
        *due.entry(at).or_default() += 1;
        if due.len() > MAX_INSTANTS {
            due.pop_last();
        }
        if earliest {
            // Stored if nobody waits yet: the next wait returns at once.
            self.earlier.notify_one();
        }
    }

    /// The earliest instant set and not yet passed.
    pub fn next(&self) -> Option<i64> {
        let due = self.due.lock().expect("alarm lock");
        due.first_key_value().map(|(&at, _)| at)
    }

    /// A pass at `now` starts every retry due by then: forgets their
    /// instants (a pass that fails leaves them to the next tick).
    pub fn passed(&self, now: i64) {
        let mut due = self.due.lock().expect("alarm lock");
        *due = due.split_off(&now.saturating_add(1));
    }

    /// Resolves when an instant earlier than [`RetryAlarm::next`] was set.
    pub async fn earlier(&self) {
        self.earlier.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armed() -> RetryAlarm {
        let alarm = RetryAlarm::default();
        alarm.arm();
        alarm
    }

    #[test]
    fn the_earliest_instant_is_next_until_a_pass_goes_by_it() {
        let alarm = armed();
        assert_eq!(alarm.next(), None);
        alarm.set(30);
        alarm.set(10);
        alarm.set(20);
        alarm.set(10);
        assert_eq!(alarm.next(), Some(10));
        alarm.passed(9);
        assert_eq!(alarm.next(), Some(10), "not yet due");
        alarm.passed(20);
        assert_eq!(alarm.next(), Some(30), "both due by 20 are forgotten");
        alarm.passed(30);
        assert_eq!(alarm.next(), None);
    }

    #[test]
    fn an_alarm_no_reaper_listens_to_keeps_nothing() {
        let alarm = RetryAlarm::default();
        alarm.set(10);
        assert_eq!(alarm.next(), None);
    }

    #[test]
    fn a_full_alarm_keeps_the_earliest_instants() {
        let alarm = armed();
        for at in 1..=MAX_INSTANTS as i64 {
            alarm.set(at + 1);
        }
        alarm.set(1);
        assert_eq!(alarm.next(), Some(1));
        assert_eq!(alarm.due.lock().unwrap().len(), MAX_INSTANTS);
        assert_eq!(
            alarm.due.lock().unwrap().last_key_value(),
            Some((&(MAX_INSTANTS as i64), &1)),
            "the latest went"
        );
    }

    #[tokio::test]
    async fn an_earlier_instant_wakes_the_waiter_even_if_set_before_it_waits() {
        let alarm = armed();
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
