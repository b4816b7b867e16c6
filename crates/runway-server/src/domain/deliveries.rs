//! Webhook delivery rules: what counts as delivered, and when a failed
//! attempt is tried again.

use std::time::Duration;

/// The waits after each failed attempt (Standard Webhooks' schedule):
/// attempt 1 at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h:
/// eight attempts over about 27.6 hours.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How long an endpoint may fail with no success before it is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);

/// How long an attempt may take: a 2xx answered within it is a success.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// A 2xx is a delivery; anything else, 3xx included (redirects are not
/// followed), is a failure.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

/// When attempt `failed + 1` is due after attempt `failed` failed at `now`,
/// or `None` when `failed` was the last. The wait is jittered by up to
/// ±10 % (`jitter` in [-1, 1]), so endpoints that failed together are not
/// retried together.
pub fn next_attempt(delays: &[Duration], failed: i32, now: i64, jitter: f64) -> Option<i64> {
    let index = usize::try_from(failed).ok()?.checked_sub(1)?;
    let wait = delays.get(index)?.as_nanos() as f64;
    let jittered = wait * (1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
    Some(now.saturating_add(jittered as i64))
}

/// The longest a continuously failing endpoint goes between two failed
/// attempts: its longest retry wait, jittered up by 10 % and with a
/// margin, then the claim (a poll, or a crashed worker's lease running
/// out) and the attempt itself. A failure longer after the last one starts
/// a new failing streak: every delivery had finished, so the endpoint was
/// not being called, not failing.
pub fn failing_streak_gap(
    delays: &[Duration],
    attempt_timeout: Duration,
    poll_interval: Duration,
    claim_lease: Duration,
) -> Duration {
    let longest = delays.iter().max().copied().unwrap_or_default();
    longest.mul_f64(1.25) + attempt_timeout + poll_interval * 2 + claim_lease
}

/// An endpoint's share of a worker's attempts under way: past it, the
/// endpoint's deliveries handed over wait for its slots, and a claim takes
/// its due deliveries only after every other endpoint's, so a slow endpoint
/// cannot hold the other endpoints' deliveries back.
pub const MAX_IN_FLIGHT_PER_ENDPOINT: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_streak_survives_the_longest_retry_wait_and_no_more() {
        let gap = failing_streak_gap(
            &RETRY_DELAYS,
            ATTEMPT_TIMEOUT,
            Duration::from_secs(1),
            ATTEMPT_TIMEOUT * 4,
        );
        // 10 h, jittered up to 11 h, with the claim and the attempt.
        assert_eq!(gap, Duration::from_secs(12 * 3600 + 30 * 60 + 77));
        let longest_wait = next_attempt(&RETRY_DELAYS, 7, 0, 1.0).unwrap();
        assert!(Duration::from_nanos(longest_wait as u64) < gap);
    }

    #[test]
    fn eight_attempts_then_the_delivery_fails() {
        let waits: Vec<i64> = (1..=7)
            .map(|n| next_attempt(&RETRY_DELAYS, n, 0, 0.0).unwrap() / S)
            .collect();
        assert_eq!(waits, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(next_attempt(&RETRY_DELAYS, 8, 0, 0.0), None);
        assert_eq!(next_attempt(&RETRY_DELAYS, 0, 0, 0.0), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        assert_eq!(next_attempt(&RETRY_DELAYS, 2, 0, 1.0), Some(330 * S));
        assert_eq!(next_attempt(&RETRY_DELAYS, 2, 0, -1.0), Some(270 * S));
        assert_eq!(next_attempt(&RETRY_DELAYS, 2, 0, 7.0), Some(330 * S));
    }

    #[test]
    fn only_2xx_is_delivered() {
        assert!(delivered(200) && delivered(204) && delivered(299));
        for status in [100, 301, 302, 304, 400, 404, 429, 500, 503] {
            assert!(!delivered(status), "{status}");
        }
    }
}
