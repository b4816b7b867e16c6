//! `serve`: the service, its flags, and the runner `--exec` embeds.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use runway_store::repo::tenants;

use super::database::DatabaseArgs;

/// How long a stop waits, past its grace, for the embedded runner's killed
/// turns to report their runs failed (in-process: well under a second).
const REPORT_GRACE: Duration = Duration::from_secs(5);
use super::{default_runner_name, exit_on_a_second_signal, host_name, shutdown_signal};
use crate::app::{self, ServeConfig};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    pub(super) database: DatabaseArgs,
    /// gRPC listen address.
    #[arg(long, env = "RUNWAY_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub(super) grpc_addr: SocketAddr,
    /// REST listen address.
    #[arg(long, env = "RUNWAY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub(super) http_addr: SocketAddr,
    /// Database connections (PostgreSQL pool size, or SQLite readers).
    #[arg(long, env = "RUNWAY_MAX_CONNECTIONS", default_value_t = 8)]
    pub(super) max_connections: u32,
    /// SQLite durability: `full` fsyncs every commit (a 200 means the run is
    /// on disk, even across power loss); `normal` survives process crashes only.
    #[arg(long, env = "RUNWAY_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = ["full", "normal"])]
    pub(super) sqlite_synchronous: String,
    /// Do not run the scheduler in this process (another replica does).
    #[arg(long, env = "RUNWAY_NO_SCHEDULER")]
    pub(super) no_scheduler: bool,
    /// How often the scheduler looks for due deployments, in milliseconds.
    #[arg(long, env = "RUNWAY_SCHEDULER_INTERVAL_MS", default_value_t = 1000)]
    pub(super) scheduler_interval_ms: u64,
    /// How long a runner's claim lasts without a heartbeat, in milliseconds.
    #[arg(long, env = "RUNWAY_LEASE_TTL_MS", default_value_t = 30_000)]
    pub(super) lease_ttl_ms: u64,
    /// The first retry's backoff in milliseconds (doubling per attempt, at most 5 minutes).
    #[arg(long, env = "RUNWAY_RETRY_BACKOFF_MS", default_value_t = 1000)]
    pub(super) retry_backoff_ms: u64,
    /// How often the lease reaper runs, in milliseconds (default: a tenth of the lease TTL).
    #[arg(long, env = "RUNWAY_REAPER_INTERVAL_MS")]
    pub(super) reaper_interval_ms: Option<u64>,
    /// Do not run the lease reaper in this process (another replica does).
    #[arg(long, env = "RUNWAY_NO_REAPER")]
    pub(super) no_reaper: bool,
    /// How often the retention pruner starts a pass, in milliseconds.
    #[arg(long, env = "RUNWAY_PRUNE_INTERVAL_MS", default_value_t = 60_000)]
    pub(super) prune_interval_ms: u64,
    /// Do not run the retention pruner in this process (another replica,
    /// or `runway prune`, does).
    #[arg(long, env = "RUNWAY_NO_PRUNER")]
    pub(super) no_pruner: bool,
    /// How often an event stream (SSE) sends a `heartbeat`, in milliseconds.
    #[arg(long, env = "RUNWAY_SSE_HEARTBEAT_MS", default_value_t = 15_000)]
    pub(super) sse_heartbeat_ms: u64,
    /// How long a connection may stay silent, in milliseconds: before its
    /// first request, on HTTP/1.1 between requests, and within a request's
    /// body (keep it above a load balancer's idle timeout, so the balancer
    /// closes first). At least 100.
    #[arg(long, env = "RUNWAY_IDLE_TIMEOUT_MS", default_value_t = 75_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub(super) idle_timeout_ms: u64,
    /// Let webhook endpoints use plain http and private, loopback or
    /// link-local addresses (self-hosted and test setups).
    #[arg(long, env = "RUNWAY_WEBHOOKS_ALLOW_PRIVATE")]
    pub(super) webhooks_allow_private: bool,
    /// Waits between a webhook's attempts, in milliseconds, comma-separated
    /// (default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    #[arg(long, env = "RUNWAY_WEBHOOKS_RETRY_DELAYS_MS", value_delimiter = ',')]
    pub(super) webhooks_retry_delays_ms: Option<Vec<u64>>,
    /// Disable a webhook endpoint whose deliveries fail this long with no
    /// success, in milliseconds (default: 5 days).
    #[arg(long, env = "RUNWAY_WEBHOOKS_DISABLE_AFTER_MS")]
    pub(super) webhooks_disable_after_ms: Option<u64>,
    /// How long a claimed webhook delivery stays with this server before
    /// another may send it, in milliseconds (default 60 s; more than the 15 s
    /// an attempt may take).
    #[arg(long, env = "RUNWAY_WEBHOOKS_CLAIM_LEASE_MS")]
    pub(super) webhooks_claim_lease_ms: Option<u64>,
    /// Requests a second each token may make, sustained (gRPC calls and REST
    /// requests alike; over it: 429 with `Retry-After`, RESOURCE_EXHAUSTED
    /// with `RetryInfo`). 0: no limit.
    #[arg(long, env = "RUNWAY_RATE_LIMIT_PER_SECOND", default_value_t = 20_000)]
    pub(super) rate_limit_per_second: u32,
    /// Requests a token may make at once after a quiet spell (default: one
    /// second's worth).
    #[arg(long, env = "RUNWAY_RATE_LIMIT_BURST")]
    pub(super) rate_limit_burst: Option<u32>,
    /// Also run an embedded runner that executes every turn of the
    /// `default` organization with this command (the single-machine case).
    #[arg(long, env = "RUNWAY_EXEC")]
    pub(super) exec: Option<String>,
    /// Turns the embedded runner executes at once.
    #[arg(long, env = "RUNWAY_EXEC_CONCURRENCY", default_value_t = 4)]
    pub(super) exec_concurrency: usize,
    #[command(flatten)]
    pub(super) tls: crate::tls::ListenTlsArgs,
    /// CA certificates (PEM): gRPC then requires a client certificate they
    /// signed (mutual TLS, for runners and internal services; REST stays
    /// token-only).
    #[arg(long, env = "RUNWAY_TLS_CLIENT_CA", requires = "tls_cert")]
    pub(super) tls_client_ca: Option<PathBuf>,
}

fn rate_limit(args: &ServeArgs) -> Option<runway_server::rate_limit::RateLimit> {
    let per_second = NonZeroU32::new(args.rate_limit_per_second)?;
    Some(runway_server::rate_limit::RateLimit {
        per_second,
        burst: args
            .rate_limit_burst
            .and_then(NonZeroU32::new)
            .unwrap_or(per_second),
    })
}

fn webhook_config(args: &ServeArgs) -> runway_server::webhooks::WebhookConfig {
    let mut config = runway_server::webhooks::WebhookConfig {
        allow_private: args.webhooks_allow_private,
        ..Default::default()
    };
    if let Some(delays) = &args.webhooks_retry_delays_ms {
        config.retry_delays = delays.iter().map(|ms| Duration::from_millis(*ms)).collect();
    }
    if let Some(ms) = args.webhooks_disable_after_ms {
        config.disable_after = Duration::from_millis(ms);
    }
    if let Some(ms) = args.webhooks_claim_lease_ms {
        config.claim_lease = Duration::from_millis(ms.max(100));
        if config.claim_lease <= config.attempt_timeout + Duration::from_secs(1) {
            // Allowed (tests shorten it to be quick); the worker then lets
            // deliveries come due and be claimed instead of starting them
            // when handed over, and a claimed attempt may outlast its lease.
            tracing::warn!(
                lease_ms = ms,
                attempt_timeout_ms = config.attempt_timeout.as_millis() as u64,
                "the webhook claim lease is not longer than an attempt may take: an attempt that outlasts it may be sent again by another server"
            );
        }
    }
    config
}

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let tls = args.tls.load(
        &[args.grpc_addr, args.http_addr],
        args.tls_client_ca.as_deref(),
    )?;
    let webhooks = webhook_config(&args);
    let rate_limit = rate_limit(&args);
    let config = ServeConfig {
        grpc_addr: args.grpc_addr,
        http_addr: args.http_addr,
        database_url: args.database.database_url,
        data_dir: args.database.data_dir,
        max_connections: args.max_connections,
        sqlite_durable: args.sqlite_synchronous == "full",
        scheduler_interval: (!args.no_scheduler)
            .then(|| std::time::Duration::from_millis(args.scheduler_interval_ms.max(10))),
        clock: std::sync::Arc::new(runway_server::SystemClock),
        execution: runway_server::ExecutionConfig {
            lease_ttl: Duration::from_millis(args.lease_ttl_ms.max(100)),
            retry_backoff: Duration::from_millis(args.retry_backoff_ms),
            retry_backoff_cap: Duration::from_secs(300),
            webhooks,
            rate_limit,
        },
        reaper_interval: (!args.no_reaper).then(|| {
            Duration::from_millis(
                args.reaper_interval_ms
                    .unwrap_or(args.lease_ttl_ms / 10)
                    .clamp(10, 5_000),
            )
        }),
        prune_interval: (!args.no_pruner)
            .then(|| Duration::from_millis(args.prune_interval_ms.max(10))),
        sse_heartbeat: Duration::from_millis(args.sse_heartbeat_ms.max(10)),
        idle_timeout: Duration::from_millis(args.idle_timeout_ms),
        tls,
    };
    let running = app::start(&config).await?;
    let mut embedded = match &args.exec {
        Some(exec) => {
            Some(embedded_runner(&running, &config.data_dir, exec, args.exec_concurrency).await?)
        }
        None => None,
    };
    if let Some(token) = &running.admin_token {
        let saved = config.data_dir.join(crate::data_dir::ADMIN_TOKEN_FILE);
        // Standard output that is not a terminal is usually a log file or a
        // collector: the token stays in the 0600 file.
        if std::io::stdout().is_terminal() {
            crate::logging::announce(format_args!(
                "runway: created organization \"default\"; its admin token (shown once, also saved to {}):\n{token}",
                saved.display()
            ));
        } else {
            crate::logging::announce(format_args!(
                "runway: created organization \"default\"; its admin token is in {} (mode 0600)",
                saved.display()
            ));
        }
    }
    // One line scripts read: "gRPC on ADDR, REST on URL" (both TLS or neither).
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    crate::logging::announce(format_args!(
        "runway: gRPC on {}, REST on {scheme}://{}/api/v1/cloud",
        running.grpc_addr, running.http_addr
    ));
    crate::logging::announce(format_args!(
        "runway: console on {scheme}://{}/",
        running.http_addr
    ));
    // A server whose embedded runner was refused for good (its token revoked)
    // would look healthy while every run waits for a runner: it stops, and
    // exits 1 with the runner's error, for its supervisor to see.
    let runner_failure = tokio::select! {
        _ = shutdown_signal() => None,
        failure = stopped_on_its_own(&mut embedded) => Some(failure),
    };
    match &runner_failure {
        None => tracing::info!("shutting down"),
        Some(failure) => tracing::error!("the embedded runner stopped: {failure:#}; shutting down"),
    }
    exit_on_a_second_signal();
    // Stop serving first (the embedded runner reports in-process), then
    // give the runner's turns the grace to end; past it they are killed and
    // their runs failed as a lost runner's are.
    running.begin_shutdown();
    let mut outcome = Ok(());
    if let Some(embedded) = embedded {
        if runner_failure.is_none() {
            let _ = embedded.stop.send(());
            let mut task = embedded.task;
            match tokio::time::timeout(app::SHUTDOWN_GRACE, &mut task).await {
                Ok(finished) => outcome = finished.map_err(anyhow::Error::from).and_then(|r| r),
                Err(_) => {
                    tracing::warn!(
                        "the embedded runner's turns outlasted the shutdown grace: killed, their runs failed as runner_lost_error"
                    );
                    // Each turn reports its run failed (in-process) and
                    // ends; one that cannot in time is dropped, its run left
                    // to its lease.
                    runway_runner::end_all_turns();
                    if tokio::time::timeout(REPORT_GRACE, &mut task).await.is_err() {
                        task.abort();
                        // Cancelled, its workers and their turns' process groups go.
                        let _ = task.await;
                    }
                }
            }
        }
        // Its token is useless once it stops; nothing keeps it alive. The
        // server stops either way.
        let revoked = revoke_token(&running.store, &embedded.org_id, &embedded.token_id).await;
        if let Err(err) = revoked {
            outcome = outcome.and(Err(
                anyhow::Error::from(err).context("revoking the embedded runner's token")
            ));
        }
    }
    running.shutdown().await?;
    match runner_failure {
        Some(failure) => Err(failure.context("the embedded runner stopped")),
        None => outcome,
    }
}

/// The embedded runner's end when it ends before it is asked to (its claims
/// refused for good); never, without one.
async fn stopped_on_its_own(embedded: &mut Option<EmbeddedRunner>) -> anyhow::Error {
    let Some(runner) = embedded else {
        return std::future::pending().await;
    };
    match (&mut runner.task).await {
        Ok(Err(failure)) => failure,
        Ok(Ok(())) => anyhow::anyhow!("it ended without being asked to"),
        Err(panicked) => anyhow::Error::from(panicked),
    }
}

/// The runner `serve --exec` runs, and the token minted for it.
struct EmbeddedRunner {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    org_id: String,
    token_id: String,
    /// The data directory's record of the token, locked while this runs.
    _record: Option<crate::data_dir::EmbeddedRunnerRecord>,
}

/// Revokes token `token_id` of `org_id` (already revoked or gone: nothing).
async fn revoke_token(
    store: &runway_store::Store,
    org_id: &str,
    token_id: &str,
) -> Result<(), runway_store::StoreError> {
    let now = runway_server::Clock::now_nanos(&runway_server::SystemClock);
    tenants::modify_token(store, org_id, token_id, |row| {
        row.revoked_at.get_or_insert(now);
        Ok::<_, runway_store::StoreError>(())
    })
    .await
    .map(drop)
}

/// Starts a runner inside `serve` for every environment of the `default`
/// organization, with a token minted for it at start.
async fn embedded_runner(
    running: &app::RunningApp,
    data_dir: &std::path::Path,
    exec: &str,
    concurrency: usize,
) -> anyhow::Result<EmbeddedRunner> {
    let org = tenants::find_organization(&running.store, "default")
        .await?
        .context("--exec runs the turns of the organization \"default\", which does not exist")?;
    // A runner token: it may execute turns, nothing else, for every
    // environment the organization has or will have. Its id is recorded in
    // the data directory, so the next start with it revokes this one (a
    // killed start's too); another replica's, on this host or another,
    // is never this one's to revoke. A graceful stop revokes its own.
    // A data directory that cannot hold the record (read-only, no file
    // locks) costs only the revocation at the next start: warned, not fatal.
    let mut record = match crate::data_dir::EmbeddedRunnerRecord::claim(data_dir) {
        Ok(Some(record)) => Some(record),
        Ok(None) => {
            tracing::warn!(
                data_dir = %data_dir.display(),
                "another `runway serve --exec` uses this data directory: this one's runner token is not recorded there, so if this process is killed its token stays live (revoke it with `runway token revoke`); give each serve a data directory of its own"
            );
            None
        }
        Err(err) => {
            tracing::warn!(
                data_dir = %data_dir.display(),
                err = format!("{err:#}"),
                "the embedded runner's token cannot be recorded in the data directory: if this process is killed, its token stays live (revoke it with `runway token revoke`)"
            );
            None
        }
    };
    if let Some((_, Some(previous))) = &record {
        revoke_token(&running.store, &org.id, previous)
            .await
            .context("revoking the token the last start's embedded runner used")?;
    }
    let name = format!("embedded-runner@{}", host_name());
    let now = runway_server::Clock::now_nanos(&runway_server::SystemClock);
    let new = tenants::NewToken {
        name: name.clone(),
        scope: runway_api::enums::TokenScope::Runner,
        environment_ids: vec![runway_server::domain::access::ALL_ENVIRONMENTS.into()],
        expires_at: None,
    };
    let token = tenants::create_token(&running.store, &org.id, &new, now).await?;
    let token_id = token.token.id.clone();
    if let Some((file, _)) = &mut record
        && let Err(err) = file.record(&token_id)
    {
        tracing::warn!(%err, "the embedded runner's token is not recorded in the data directory: if this process is killed, its token stays live (revoke it with `runway token revoke`)");
    }
    // In-process, through the proto like any runner, without a network hop
    // (or a certificate to trust when serve speaks TLS).
    let client = runway_runner::client_over(
        runway_api::transport::in_process(running.routes.clone()),
        &token.secret,
    )?;
    let config = runway_runner::RunnerConfig {
        server: format!("in-process://{}", running.grpc_addr),
        tls: None,
        token: token.secret,
        environment_id: String::new(),
        exec: exec.to_string(),
        concurrency,
        name: format!("embedded@{}", default_runner_name()),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(runway_runner::run_with(client, config, async move {
        let _ = stopped.await;
    }));
    crate::logging::announce(format_args!(
        "runway: embedded runner executing `{exec}` ({concurrency} at once)"
    ));
    Ok(EmbeddedRunner {
        stop,
        task,
        org_id: org.id,
        token_id,
        _record: record.map(|(file, _)| file),
    })
}
