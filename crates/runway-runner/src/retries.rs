//! Reports that must reach the server: a runner's report is retried while
//! the server restarts, instead of losing a finished turn.

use std::time::Duration;

/// Retries a report a few times: the server may be restarting.
pub(crate) async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut wait = Duration::from_millis(200);
    for _ in 0..8 {
        match call().await {
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
                ) =>
            {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
    call().await
}
