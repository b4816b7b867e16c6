//! The reference runner: `runway runner --exec CMD`.
//!
//! Each worker claims the next turn of its environment, runs `sh -c CMD`
//! with the run context as one JSON document on stdin, heartbeats while the
//! process runs, and reports: exit 0 → completed; any other exit → failed
//! with `agent_error` and the last 4 KiB of stderr; past `timeout_ms` the
//! process group is killed and the run fails with `timeout_error`. When a
//! heartbeat is refused (the run was canceled, or its lease was lost) the
//! process group is killed and nothing is reported. A claim the server
//! refuses for good (a bad token, another environment's) stops the runner
//! with that error; one it could answer later (the server away) is retried.

mod context;
mod execute;
mod retries;
pub mod transcript;

use std::time::Duration;

use anyhow::Context;
use runway_api::transport::{self, GrpcTransport};
use runway_api::v1::ClaimTurnRequest;
use runway_api::v1::runner_service_client::RunnerServiceClient;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{ClientTlsConfig, Endpoint};

pub use execute::{STDERR_TAIL_BYTES, TurnOutcome, end_all_turns, kill_all_turns, turns_ended};

/// How a runner runs.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The gRPC server, e.g. `http://127.0.0.1:50051` or `https://…`.
    pub server: String,
    /// How to trust an `https://` server (and, for mutual TLS, the
    /// runner's certificate); `None` for `http://`.
    pub tls: Option<ClientTlsConfig>,
    /// A PAT of the organization whose turns to run.
    pub token: String,
    /// The environment whose turns to claim; empty: every environment.
    pub environment_id: String,
    /// The command each turn runs (through `sh -c`).
    pub exec: String,
    /// Turns executed at once.
    pub concurrency: usize,
    /// Shown in the server's logs.
    pub name: String,
}

/// The runner's gRPC client, with the token on every call.
pub type Client = RunnerServiceClient<InterceptedService<GrpcTransport, Bearer>>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Connects lazily: a runner started before its server keeps trying. A
/// `server` that is not an `http://` or `https://` URL with a host is
/// refused here: retrying would never make it one.
pub fn client(server: &str, tls: Option<ClientTlsConfig>, token: &str) -> anyhow::Result<Client> {
    let uri: tonic::codegen::http::Uri = server
        .parse()
        .with_context(|| format!("{server:?} is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        anyhow::bail!("{server:?} is not an http:// or https:// URL (e.g. http://127.0.0.1:50051)");
    }
    let mut endpoint = Endpoint::from_shared(server.to_string())
        .with_context(|| format!("{server:?} is not a URL"))?
        .connect_timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .context("the TLS settings are not usable")?;
    }
    client_over(transport::over_channel(endpoint.connect_lazy()), token)
}

/// A client on any transport (the server's own routes, for the runner
/// embedded in `runway serve`).
pub fn client_over(transport: GrpcTransport, token: &str) -> anyhow::Result<Client> {
    let bearer = Bearer(
        format!("Bearer {token}")
            .parse()
            .context("the token is not valid header text")?,
    );
    // A claimed turn carries its initial events: take as much as the
    // server may send (tonic's default is 4 MiB).
    Ok(RunnerServiceClient::with_interceptor(transport, bearer)
        .max_decoding_message_size(runway_api::services::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(runway_api::services::MAX_MESSAGE_BYTES))
}

/// Runs `config.concurrency` workers against `config.server` until
/// `shutdown` resolves. A turn in progress when it does is finished first.
pub async fn run(
    config: RunnerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let client = client(&config.server, config.tls.clone(), &config.token)?;
    run_with(client, config, shutdown).await
}

/// Like [`run`], calling the server through `client`.
pub async fn run_with(
    client: Client,
    config: RunnerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!(
            "stopping: no new turns are claimed; the turns under way finish and report first (a second signal ends them at once)"
        );
        let _ = stop_tx.send(true);
    });
    // In a set, so dropping this future (a caller that cannot wait) aborts
    // the workers too, and with them their turns' process groups.
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..config.concurrency.max(1) {
        let (client, config, stop) = (client.clone(), config.clone(), stop_rx.clone());
        workers.spawn(async move { work(worker, client, config, stop).await });
    }
    while let Some(finished) = workers.join_next().await {
        // One worker refused for good stops them all (dropping the set).
        finished.context("runner worker panicked")??;
    }
    Ok(())
}

/// A status as an operator needs it: its message and what caused it — a
/// "transport error" alone hides the TLS alert or refused connection
/// behind it (e.g. a server that requires a client certificate).
pub(crate) fn told(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut cause = std::error::Error::source(status);
    while let Some(error) = cause {
        let said = error.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = error.source();
    }
    text
}

/// Whether a refused claim would be refused again, whatever the wait: the
/// token is not (or no longer) valid, may not claim these turns, or names
/// what does not exist. Retrying those forever would look healthy to a
/// supervisor while every run waits for a runner and times out.
fn refused_for_good(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unauthenticated
            | Code::PermissionDenied
            | Code::NotFound
            | Code::InvalidArgument
            | Code::Unimplemented
    )
}

async fn work(
    worker: usize,
    mut client: Client,
    config: RunnerConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let name = format!("{}#{worker}", config.name);
    let mut backoff = Duration::from_millis(200);
    while !*stop.borrow() {
        let request = ClaimTurnRequest {
            environment_id: config.environment_id.clone(),
            runner_name: name.clone(),
            wait_ms: 10_000,
        };
        let claimed = tokio::select! {
            _ = stop.changed() => break,
            r = client.claim_turn(request) => r,
        };
        match claimed {
            Ok(response) => {
                backoff = Duration::from_millis(200);
                if let Some(turn) = response.into_inner().turn {
                    let run_id = turn.run.as_ref().map(|r| r.id.clone()).unwrap_or_default();
                    tracing::info!(%run_id, runner = %name, "executing turn");
                    let outcome = execute::execute(&mut client, &config.exec, turn).await;
                    match outcome {
                        execute::TurnOutcome::Completed | execute::TurnOutcome::Failed { .. } => {
                            tracing::info!(%run_id, ?outcome, "turn done")
                        }
                        // Work thrown away: the run was canceled, or its
                        // lease lost (a server that could not renew it).
                        execute::TurnOutcome::Abandoned | execute::TurnOutcome::Broken => {
                            tracing::warn!(%run_id, ?outcome, "turn done, not reported")
                        }
                    }
                }
            }
            // Only runway's own answer (it carries an ErrorInfo): a proxy's
            // 401/403/404 during a rollout becomes such a code too.
            Err(status) if refused_for_good(status.code()) && !status.details().is_empty() => {
                anyhow::bail!(
                    "the server refuses this runner's claims ({:?}): {}",
                    status.code(),
                    status.message()
                );
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = %told(&status), "claim failed; retrying");
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{refused_for_good, told};
    use tonic::Code;

    #[test]
    fn a_status_is_told_with_what_caused_it() {
        #[derive(Debug)]
        struct Transport(std::io::Error);
        impl std::fmt::Display for Transport {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("transport error")
            }
        }
        impl std::error::Error for Transport {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let alert = std::io::Error::other("received fatal alert: CertificateRequired");
        let status = tonic::Status::from_error(Box::new(Transport(alert)));
        assert_eq!(
            told(&status),
            "transport error: received fatal alert: CertificateRequired"
        );
        assert_eq!(told(&tonic::Status::unavailable("down")), "down");
    }

    #[test]
    fn only_refusals_that_would_repeat_stop_the_runner() {
        for code in [
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::NotFound,
            Code::InvalidArgument,
            Code::Unimplemented,
        ] {
            assert!(refused_for_good(code), "{code:?}");
        }
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Internal,
            Code::Unknown,
            Code::Aborted,
            Code::Cancelled,
            Code::FailedPrecondition,
        ] {
            assert!(!refused_for_good(code), "{code:?}");
        }
    }
}
