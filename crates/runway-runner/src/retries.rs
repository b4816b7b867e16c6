//! Reports that must reach the server: a runner's report is retried while
//! the server restarts, instead of losing a finished turn.

use std::time::Duration;

/// How long a report keeps being retried while the server does not answer.
/// A server that was down longer than a lease lets its runners' leases be
/// renewed before it reaps any (see the server's reaper), so a report that
/// arrives when it is back still counts: an upgrade or a database failover
/// must not turn finished work into `runner_lost_error` and run it again.
const PATIENCE: Duration = Duration::from_secs(3600);

/// The longest wait between two tries, unless the caller's is shorter.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Whether a failed call may succeed later unchanged: the server is away
/// or restarting.
fn transient(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
    )
}

/// Calls `call` until the server answers something other than a transient
/// failure, for up to [`PATIENCE`]: waits from 200 ms doubling to
/// `max_wait` (a turn's heartbeat interval, a third of its lease: a server
/// back from an outage waits one lease before it takes any for lost, so a
/// report must come again within it) or 5 s, whichever is shorter.
pub(crate) async fn with_retries<T, F, Fut>(max_wait: Duration, call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    retry_for(PATIENCE, max_wait.min(MAX_WAIT), call).await
}

async fn retry_for<T, F, Fut>(
    patience: Duration,
    max_wait: Duration,
    mut call: F,
) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let give_up = tokio::time::Instant::now() + patience;
    let mut wait = Duration::from_millis(200).min(max_wait);
    let mut failures = 0u32;
    loop {
        match call().await {
            Err(status)
                if transient(status.code()) && tokio::time::Instant::now() + wait <= give_up =>
            {
                // Once, then about once a minute: an outage is one story.
                if failures.is_multiple_of(12) {
                    tracing::warn!(
                        code = ?status.code(),
                        message = %crate::told(&status),
                        "the server does not take the report yet; retrying"
                    );
                }
                failures += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(max_wait);
            }
            answer => return answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A call that fails with `code` `failures` times, then answers its
    /// attempt number.
    fn flaky(
        code: tonic::Code,
        failures: u32,
        calls: &AtomicU32,
    ) -> impl FnMut() -> std::future::Ready<Result<u32, tonic::Status>> + '_ {
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            std::future::ready(if n <= failures {
                Err(tonic::Status::new(code, "away"))
            } else {
                Ok(n)
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_outlasts_an_outage_of_many_minutes() {
        let calls = AtomicU32::new(0);
        // 200 ms, 400 ms, … then every 5 s: 200 failures are ~16 minutes.
        let started = tokio::time::Instant::now();
        let answer = with_retries(MAX_WAIT, flaky(tonic::Code::Unavailable, 200, &calls)).await;
        assert_eq!(answer.unwrap(), 201);
        assert!(started.elapsed() > Duration::from_secs(900));
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_gives_up_after_its_patience() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let answer = retry_for(
            Duration::from_secs(60),
            MAX_WAIT,
            flaky(tonic::Code::Unavailable, u32::MAX, &calls),
        )
        .await;
        assert_eq!(answer.unwrap_err().code(), tonic::Code::Unavailable);
        assert!(started.elapsed() <= Duration::from_secs(60));
        assert!(started.elapsed() >= Duration::from_secs(55));
    }

    #[tokio::test(start_paused = true)]
    async fn tries_come_at_least_as_often_as_the_callers_wait() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let wait = Duration::from_millis(333);
        // 200 ms, then every 333 ms: 10 failures take 200 + 9 × 333 ms.
        let answer = with_retries(wait, flaky(tonic::Code::Unavailable, 10, &calls)).await;
        assert_eq!(answer.unwrap(), 11);
        assert_eq!(started.elapsed(), Duration::from_millis(200 + 9 * 333));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_will_not_change_is_not_retried() {
        for code in [tonic::Code::FailedPrecondition, tonic::Code::NotFound] {
            let calls = AtomicU32::new(0);
            let answer = with_retries(MAX_WAIT, flaky(code, 1, &calls)).await;
            assert_eq!(answer.unwrap_err().code(), code);
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        }
    }
}
