//! The command line: `serve`, `gateway`, `migrate`, `token create`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use runway_store::repo::tenants;

use crate::app::{self, DEFAULT_DATA_DIR, ServeConfig};
use crate::client;
use crate::logging::{self, LogFormat};
use runway_server::Runway;

#[derive(Debug, Parser)]
#[command(
    name = "runway",
    version,
    about = "Self-hostable Qoder Cloud Deployments API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on standard error are written: `text`, or `json` (one
    /// object a line) for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC and the REST gateway from one process.
    Serve(ServeArgs),
    /// Serve only the REST gateway, calling a runway gRPC server.
    Gateway(GatewayArgs),
    /// Execute the turns of an environment: spawn CMD for each.
    Runner(RunnerArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the REST API's OpenAPI 3.1 document (docs/openapi.json).
    Openapi,
    /// Delete now what the retention policies no longer keep (as every
    /// `serve` does each --prune-interval-ms), or with --dry-run tell what
    /// would go.
    Prune(PruneArgs),
    /// Deployments: list, get, create, update, pause, unpause, archive, run.
    Deployments {
        #[command(subcommand)]
        command: client::DeploymentCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Runs: list, get, cancel, watch.
    Runs {
        #[command(subcommand)]
        command: client::RunCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Agents: list, get, create, update, archive.
    Agents {
        #[command(subcommand)]
        command: client::AgentCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Environments: list, get, create, update, archive.
    Environments {
        #[command(subcommand)]
        command: client::EnvironmentCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// `sqlite://FILE` or `postgres://USER@HOST/DB`; default: SQLite in --data-dir.
    #[arg(long, env = "RUNWAY_DATABASE_URL")]
    database_url: Option<String>,
    /// Where the default SQLite database and the admin token live.
    #[arg(long, env = "RUNWAY_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
struct PruneArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// gRPC listen address.
    #[arg(long, env = "RUNWAY_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    grpc_addr: SocketAddr,
    /// REST listen address.
    #[arg(long, env = "RUNWAY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// Database connections (PostgreSQL pool size, or SQLite readers).
    #[arg(long, env = "RUNWAY_MAX_CONNECTIONS", default_value_t = 8)]
    max_connections: u32,
    /// SQLite durability: `full` fsyncs every commit (a 200 means the run is
    /// on disk, even across power loss); `normal` survives process crashes only.
    #[arg(long, env = "RUNWAY_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = ["full", "normal"])]
    sqlite_synchronous: String,
    /// Do not run the scheduler in this process (another replica does).
    #[arg(long, env = "RUNWAY_NO_SCHEDULER")]
    no_scheduler: bool,
    /// How often the scheduler looks for due deployments, in milliseconds.
    #[arg(long, env = "RUNWAY_SCHEDULER_INTERVAL_MS", default_value_t = 1000)]
    scheduler_interval_ms: u64,
    /// How long a runner's claim lasts without a heartbeat, in milliseconds.
    #[arg(long, env = "RUNWAY_LEASE_TTL_MS", default_value_t = 30_000)]
    lease_ttl_ms: u64,
    /// The first retry's backoff in milliseconds (doubling per attempt, at most 5 minutes).
    #[arg(long, env = "RUNWAY_RETRY_BACKOFF_MS", default_value_t = 1000)]
    retry_backoff_ms: u64,
    /// How often the lease reaper runs, in milliseconds (default: a tenth of the lease TTL).
    #[arg(long, env = "RUNWAY_REAPER_INTERVAL_MS")]
    reaper_interval_ms: Option<u64>,
    /// Do not run the lease reaper in this process (another replica does).
    #[arg(long, env = "RUNWAY_NO_REAPER")]
    no_reaper: bool,
    /// How often the retention pruner starts a pass, in milliseconds.
    #[arg(long, env = "RUNWAY_PRUNE_INTERVAL_MS", default_value_t = 60_000)]
    prune_interval_ms: u64,
    /// Do not run the retention pruner in this process (another replica,
    /// or `runway prune`, does).
    #[arg(long, env = "RUNWAY_NO_PRUNER")]
    no_pruner: bool,
    /// How often an event stream (SSE) sends a `heartbeat`, in milliseconds.
    #[arg(long, env = "RUNWAY_SSE_HEARTBEAT_MS", default_value_t = 15_000)]
    sse_heartbeat_ms: u64,
    /// Let webhook endpoints use plain http and private, loopback or
    /// link-local addresses (self-hosted and test setups).
    #[arg(long, env = "RUNWAY_WEBHOOKS_ALLOW_PRIVATE")]
    webhooks_allow_private: bool,
    /// Waits between a webhook's attempts, in milliseconds, comma-separated
    /// (default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    #[arg(long, env = "RUNWAY_WEBHOOKS_RETRY_DELAYS_MS", value_delimiter = ',')]
    webhooks_retry_delays_ms: Option<Vec<u64>>,
    /// Disable a webhook endpoint whose deliveries fail this long with no
    /// success, in milliseconds (default: 5 days).
    #[arg(long, env = "RUNWAY_WEBHOOKS_DISABLE_AFTER_MS")]
    webhooks_disable_after_ms: Option<u64>,
    /// How long a claimed webhook delivery stays with this server before
    /// another may send it, in milliseconds (default 60 s; more than the 15 s
    /// an attempt may take).
    #[arg(long, env = "RUNWAY_WEBHOOKS_CLAIM_LEASE_MS")]
    webhooks_claim_lease_ms: Option<u64>,
    /// Requests a second each token may make, sustained (gRPC calls and REST
    /// requests alike; over it: 429 with `Retry-After`, RESOURCE_EXHAUSTED
    /// with `RetryInfo`). 0: no limit.
    #[arg(long, env = "RUNWAY_RATE_LIMIT_PER_SECOND", default_value_t = 20_000)]
    rate_limit_per_second: u32,
    /// Requests a token may make at once after a quiet spell (default: one
    /// second's worth).
    #[arg(long, env = "RUNWAY_RATE_LIMIT_BURST")]
    rate_limit_burst: Option<u32>,
    /// Also run an embedded runner that executes every turn of the
    /// `default` organization with this command (the single-machine case).
    #[arg(long, env = "RUNWAY_EXEC")]
    exec: Option<String>,
    /// Turns the embedded runner executes at once.
    #[arg(long, env = "RUNWAY_EXEC_CONCURRENCY", default_value_t = 4)]
    exec_concurrency: usize,
    #[command(flatten)]
    tls: crate::tls::ListenTlsArgs,
    /// CA certificates (PEM): gRPC then requires a client certificate they
    /// signed (mutual TLS, for runners and internal services; REST stays
    /// token-only).
    #[arg(long, env = "RUNWAY_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunnerArgs {
    /// The runway gRPC server, e.g. http://127.0.0.1:50051 or https://runway.internal:50051.
    #[arg(long, env = "RUNWAY_SERVER")]
    server: String,
    #[command(flatten)]
    tls: crate::tls::ClientTlsArgs,
    /// A PAT of the environment's organization.
    #[arg(long, env = "RUNWAY_TOKEN", hide_env_values = true)]
    token: String,
    /// The environment whose turns to execute (env_…).
    #[arg(long, env = "RUNWAY_ENVIRONMENT")]
    environment: String,
    /// The command each turn runs (through `sh -c`), with the run context as
    /// JSON on stdin and RUNWAY_RUN_ID, RUNWAY_SESSION_ID, RUNWAY_DEPLOYMENT_ID set.
    #[arg(long)]
    exec: String,
    /// Turns executed at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// A name for this runner in the server's logs (default: host:pid).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Debug, Args)]
struct GatewayArgs {
    /// The runway gRPC server to call, e.g. http://127.0.0.1:50051 or https://….
    #[arg(long, env = "RUNWAY_GRPC_URL")]
    grpc: String,
    #[command(flatten)]
    grpc_tls: crate::tls::ClientTlsArgs,
    #[command(flatten)]
    tls: crate::tls::ListenTlsArgs,
    /// REST listen address.
    #[arg(long, env = "RUNWAY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// How often an event stream (SSE) sends a `heartbeat`, in milliseconds.
    #[arg(long, env = "RUNWAY_SSE_HEARTBEAT_MS", default_value_t = 15_000)]
    sse_heartbeat_ms: u64,
    /// Also serve the web console at `/` (as `runway serve` does).
    #[arg(long, env = "RUNWAY_CONSOLE")]
    console: bool,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token and print its secret once. With --org: straight into
    /// the database, for that organization (created if new); without:
    /// through the API, for the caller's organization (an admin token).
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The organization's name (writes the database directly).
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        spec: client::tokens::NewTokenArgs,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// List the organization's tokens (never their secrets).
    List {
        #[command(flatten)]
        list: client::ListArgs,
        /// Also list revoked tokens.
        #[arg(long)]
        include_revoked: bool,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Revoke a token: every replica refuses it within 10 seconds.
    Revoke {
        /// The token's id (tok_…).
        id: String,
        #[command(flatten)]
        client: client::ClientArgs,
    },
}

/// Runs the command line and maps failure to exit code 1.
pub fn main() -> ExitCode {
    crate::tls::install_crypto_provider();
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("runway: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("runway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `command`; the exit code (client commands report a run's outcome).
async fn run(command: Command) -> anyhow::Result<u8> {
    let code = match command {
        Command::Deployments { command, client } => {
            client::run(client, client::ClientCommand::Deployments(command)).await?
        }
        Command::Runs { command, client } => {
            client::run(client, client::ClientCommand::Runs(command)).await?
        }
        Command::Agents { command, client } => {
            client::run(client, client::ClientCommand::Agents(command)).await?
        }
        Command::Environments { command, client } => {
            client::run(client, client::ClientCommand::Environments(command)).await?
        }
        other => {
            run_service(other).await?;
            0
        }
    };
    Ok(u8::try_from(code).unwrap_or(1))
}

async fn run_service(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Gateway(args) => gateway(args).await,
        Command::Runner(args) => {
            let config = runway_runner::RunnerConfig {
                tls: args.tls.grpc(&args.server)?,
                server: args.server,
                token: args.token,
                environment_id: args.environment,
                exec: args.exec,
                concurrency: args.concurrency,
                name: args.name.unwrap_or_else(default_runner_name),
            };
            runway_runner::run(config, shutdown_signal()).await
        }
        Command::Openapi => {
            print!("{}", runway_gateway::openapi::document());
            Ok(())
        }
        Command::Prune(args) => prune(args).await,
        Command::Migrate(db) => {
            let url = app::database_url(db.database_url.as_deref(), &db.data_dir);
            app::open_store(&url, &db.data_dir, 2, true)
                .await?
                .close()
                .await;
            println!("runway: migrations applied");
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            database,
            org: Some(org),
            spec,
            ..
        }) => create_token_in_database(database, &org, &spec).await,
        Command::Token(TokenCommand::Create {
            org: None,
            spec,
            client,
            ..
        }) => client::tokens::create(client, &spec).await,
        Command::Token(TokenCommand::List {
            list,
            include_revoked,
            client,
        }) => client::tokens::list(client, &list, include_revoked).await,
        Command::Token(TokenCommand::Revoke { id, client }) => {
            client::tokens::revoke(client, &id).await
        }
        Command::Deployments { .. }
        | Command::Runs { .. }
        | Command::Agents { .. }
        | Command::Environments { .. } => {
            unreachable!("client commands are run by `run`")
        }
    }
}

/// `prune`: one retention pass on the database itself, or its count.
async fn prune(args: PruneArgs) -> anyhow::Result<()> {
    let db = args.database;
    let url = app::database_url(db.database_url.as_deref(), &db.data_dir);
    let store = app::open_store(&url, &db.data_dir, 2, true).await?;
    let runway = Runway::new(
        store.clone(),
        std::sync::Arc::new(runway_server::SystemClock),
        runway_server::ExecutionConfig::default(),
    );
    let pruner = runway.pruner();
    let (counts, verb) = if args.dry_run {
        (pruner.dry_run().await?, "would delete")
    } else {
        (pruner.run_once().await?, "deleted")
    };
    println!(
        "runway: {verb} {} runs, {} sessions, {} session events, {} webhook deliveries, {} idempotency keys",
        counts.runs, counts.sessions, counts.events, counts.deliveries, counts.idempotency_keys
    );
    store.close().await;
    Ok(())
}

/// `token create --org`: the operator's way in, on the database itself
/// (the organization is created if new), with the API's rules.
async fn create_token_in_database(
    database: DatabaseArgs,
    org: &str,
    spec: &client::tokens::NewTokenArgs,
) -> anyhow::Result<()> {
    let url = app::database_url(database.database_url.as_deref(), &database.data_dir);
    let store = app::open_store(&url, &database.data_dir, 2, true).await?;
    let now = runway_server::Clock::now_nanos(&runway_server::SystemClock);
    let new = spec.new_token(now)?;
    runway_server::domain::access::check_new_token(new.scope, &new.environment_ids)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let named: Vec<&String> = new
        .environment_ids
        .iter()
        .filter(|e| *e != runway_server::domain::access::ALL_ENVIRONMENTS)
        .collect();
    let org_row = match tenants::find_organization(&store, org).await? {
        Some(row) => row,
        // A new organization has no environment to name.
        None if !named.is_empty() => {
            anyhow::bail!(
                "organization {org:?} does not exist, so it has no environment {}",
                named[0]
            );
        }
        None => {
            eprintln!("runway: created organization {org:?}");
            tenants::create_organization(&store, org).await?
        }
    };
    for env in named {
        if runway_store::repo::environments::get(&store, &org_row.id, env)
            .await?
            .is_none()
        {
            anyhow::bail!("organization {org:?} has no environment {env}");
        }
    }
    let token = tenants::create_token(&store, &org_row.id, &new, now).await?;
    println!("{}", token.secret);
    store.close().await;
    Ok(())
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
        tls,
    };
    let running = app::start(&config).await?;
    let embedded = match &args.exec {
        Some(exec) => Some(embedded_runner(&running, exec, args.exec_concurrency).await?),
        None => None,
    };
    if let Some(token) = &running.admin_token {
        let saved = config.data_dir.join("admin-token");
        // Standard output that is not a terminal is usually a log file or a
        // collector: the token stays in the 0600 file.
        if std::io::stdout().is_terminal() {
            println!(
                "runway: created organization \"default\"; its admin token (shown once, also saved to {}):\n{token}",
                saved.display()
            );
        } else {
            println!(
                "runway: created organization \"default\"; its admin token is in {} (mode 0600)",
                saved.display()
            );
        }
    }
    // One line scripts read: "gRPC on ADDR, REST on URL" (both TLS or neither).
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "runway: gRPC on {}, REST on {scheme}://{}/api/v1/cloud",
        running.grpc_addr, running.http_addr
    );
    println!("runway: console on {scheme}://{}/", running.http_addr);
    shutdown_signal().await;
    tracing::info!("shutting down");
    if let Some(embedded) = embedded {
        let _ = embedded.stop.send(());
        embedded.task.await??;
        // Its token is useless once it stops; nothing keeps it alive.
        let now = runway_server::Clock::now_nanos(&runway_server::SystemClock);
        tenants::revoke_named(&running.store, &embedded.org_id, &embedded.token_name, now).await?;
    }
    running.shutdown().await
}

/// The runner `serve --exec` runs, and the token minted for it.
struct EmbeddedRunner {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    org_id: String,
    token_name: String,
}

/// Starts a runner inside `serve` for every environment of the `default`
/// organization, with a token minted for it at start.
async fn embedded_runner(
    running: &app::RunningApp,
    exec: &str,
    concurrency: usize,
) -> anyhow::Result<EmbeddedRunner> {
    let org = tenants::find_organization(&running.store, "default")
        .await?
        .context("--exec runs the turns of the organization \"default\", which does not exist")?;
    // A runner token: it may execute turns, nothing else, for every
    // environment the organization has or will have. Named after this host,
    // so a restart revokes what the last start here minted (a replica on
    // another host keeps its own), and revoked again at a graceful stop.
    let name = format!("embedded-runner@{}", host_name());
    let now = runway_server::Clock::now_nanos(&runway_server::SystemClock);
    tenants::revoke_named(&running.store, &org.id, &name, now).await?;
    let new = tenants::NewToken {
        name: name.clone(),
        scope: runway_api::enums::TokenScope::Runner,
        environment_ids: vec![runway_server::domain::access::ALL_ENVIRONMENTS.into()],
        expires_at: None,
    };
    let token = tenants::create_token(&running.store, &org.id, &new, now).await?;
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
    println!("runway: embedded runner executing `{exec}` ({concurrency} at once)");
    Ok(EmbeddedRunner {
        stop,
        task,
        org_id: org.id,
        token_name: name,
    })
}

fn host_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    match host.trim() {
        "" => "localhost".to_string(),
        host => host.to_string(),
    }
}

fn default_runner_name() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

async fn gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let tls = args.tls.load(&[args.http_addr], None)?;
    let mut endpoint = tonic::transport::Endpoint::from_shared(args.grpc.clone())
        .with_context(|| format!("{:?} is not a URL", args.grpc))?;
    if let Some(client_tls) = args.grpc_tls.grpc(&args.grpc)? {
        endpoint = endpoint
            .tls_config(client_tls)
            .context("the TLS settings are not usable")?;
    }
    let channel = endpoint.connect_lazy();
    let services =
        runway_api::services::Services::remote(runway_api::transport::over_channel(channel));
    let gateway = runway_gateway::Gateway::new(services.clone())
        .with_heartbeat(Duration::from_millis(args.sse_heartbeat_ms.max(10)));
    let mut router = runway_gateway::router(gateway, observability_registry());
    if args.console {
        let console = runway_console::Console::new(services, tls.is_some());
        router = router.merge(runway_console::router(console));
    }
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("binding REST to {}", args.http_addr))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "runway: REST on {scheme}://{}/api/v1/cloud → {}",
        listener.local_addr()?,
        args.grpc
    );
    runway_gateway::serve_with_tls(
        listener,
        router,
        tls.map(|tls| tls.rest()),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// A standalone gateway's metrics: its own requests only.
fn observability_registry() -> runway_gateway::Observability {
    runway_gateway::Observability::new(prometheus_client::registry::Registry::default())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
