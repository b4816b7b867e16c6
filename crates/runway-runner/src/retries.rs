//! Reports that must reach the server: a runner's report is retried while
//! the server restarts, instead of losing a finished turn.

use std::time::Duration;

/// How long a report keeps being retried while the server does not answer.
/// A server that was down longer than a lease lets its runners' leases be
/// renewed before it reaps any (see the server's reaper), so a report that
/// arrives when it is back still counts: an upgrade or a database failover
/// must not turn finished work into `runner_lost_error` and run it again.
const PATIENCE: Duration = Duration::from_secs(3600);

/// The longest wait between two tries.
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
/// failure, for up to [`PATIENCE`] (waits from 200 ms doubling to 5 s).
pub(crate) async fn with_retries<T, F, Fut>(call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    retry_for(PATIENCE, call).await
}

async fn retry_for<T, F, Fut>(patience: Duration, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let give_up = tokio::time::Instant::now() + patience;
    let mut wait = Duration::from_millis(200);
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
                        message = status.message(),
                        "the server does not take the report yet; retrying"
                    );
                }
                failures += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_WAIT);
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
        let answer = with_retries(flaky(tonic::Code::Unavailable, 200, &calls)).await;
        assert_eq!(answer.unwrap(), 201);
        assert!(started.elapsed() > Duration::from_secs(900));
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_gives_up_after_its_patience() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let answer = retry_for(
            Duration::from_secs(60),
            flaky(tonic::Code::Unavailable, u32::MAX, &calls),
        )
        .await;
        assert_eq!(answer.unwrap_err().code(), tonic::Code::Unavailable);
        assert!(started.elapsed() <= Duration::from_secs(60));
        assert!(started.elapsed() >= Duration::from_secs(55));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_will_not_change_is_not_retried() {
        for code in [tonic::Code::FailedPrecondition, tonic::Code::NotFound] {
            let calls = AtomicU32::new(0);
            let answer = with_retries(flaky(code, 1, &calls)).await;
            assert_eq!(answer.unwrap_err().code(), code);
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        }
    }
}
