//! `runway serve`: one process with the gRPC services and the REST gateway
//! (calling them in-process), on SQLite by default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use runway_server::{ExecutionConfig, LeaseReaper, Pruner, Runway, Scheduler, SharedClock};
use runway_store::repo::tenants;
use runway_store::{Backend, Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::data_dir;

/// Where `runway serve` keeps its SQLite database and admin token.
pub const DEFAULT_DATA_DIR: &str = "./runway-data";

/// What `runway serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// `None`: SQLite at `<data_dir>/runway.db`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    /// Database connections (PostgreSQL pool, or SQLite readers).
    pub max_connections: u32,
    /// SQLite: fsync every commit (`synchronous=FULL`, survives power loss)
    /// when true; `NORMAL` (survives a process crash) when false.
    pub sqlite_durable: bool,
    /// How often the scheduler looks for due deployments; `None` disables
    /// the scheduler loop in this process (another replica runs it).
    pub scheduler_interval: Option<Duration>,
    /// The services' and the scheduler's "now".
    pub clock: SharedClock,
    /// Leases and retries.
    pub execution: ExecutionConfig,
    /// How often the lease reaper runs; `None` disables it in this process.
    pub reaper_interval: Option<Duration>,
    /// How often the retention pruner starts a pass; `None` disables it
    /// in this process.
    pub prune_interval: Option<Duration>,
    /// How often an event stream (SSE) sends a `heartbeat`.
    pub sse_heartbeat: Duration,
    /// How long a connection may stay silent: before its first request, on
    /// HTTP/1.1 between requests, and within a request's body.
    pub idle_timeout: Duration,
    /// TLS for gRPC and REST (mutual on gRPC with a client CA); `None`:
    /// plaintext.
    pub tls: Option<std::sync::Arc<crate::tls::ServerTls>>,
}

/// The database URL `config` means.
pub fn database_url(database_url: Option<&str>, data_dir: &Path) -> String {
    match database_url {
        Some(url) => url.to_string(),
        None => format!("sqlite://{}", data_dir.join("runway.db").display()),
    }
}

/// Opens a database `serve` or `migrate` made, as it is: never creating a
/// SQLite file nor migrating. An operator's command against a mistyped path
/// must not answer from a new, empty database ("nothing to prune"), nor a
/// newer binary migrate production ahead of its servers.
pub async fn open_existing_store(url: &str, max_connections: u32) -> anyhow::Result<Store> {
    let mut options = StoreOptions::new(url);
    options.max_connections = max_connections;
    options.must_exist = true;
    let store = Store::open(&options).await.context(
        "opening the database (it must exist: `runway serve` or `runway migrate` makes it)",
    )?;
    let pending = match store.pending_migrations().await {
        Ok(pending) => pending,
        Err(err) => {
            store.close().await;
            return Err(err.into());
        }
    };
    if let Some(first) = pending.first() {
        store.close().await;
        anyhow::bail!(
            "the database lacks {} of this runway's migrations (the first: {first}): run `runway migrate` first",
            pending.len()
        );
    }
    Ok(store)
}

/// Opens (creating the SQLite directory when needed) and migrates.
pub async fn open_store(
    url: &str,
    data_dir: &Path,
    max_connections: u32,
    sqlite_durable: bool,
) -> anyhow::Result<Store> {
    if url.starts_with("sqlite:") {
        data_dir::create_private_dir(data_dir)?;
    }
    let mut options = StoreOptions::new(url);
    options.max_connections = max_connections;
    options.sqlite_durable = sqlite_durable;
    let store = Store::open(&options)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// How long a stop waits for open requests and webhook attempts (each at
/// most 15 s) before it closes them: the REST gateway's grace.
pub const SHUTDOWN_GRACE: Duration = runway_gateway::SHUTDOWN_GRACE;

/// A running `serve`: its bound addresses and a way to stop it.
pub struct RunningApp {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// The admin token, when this start bootstrapped an empty database.
    pub admin_token: Option<String>,
    pub store: Store,
    /// This process's scheduler (looping when enabled; callable either way).
    pub scheduler: Scheduler,
    /// This process's lease reaper (looping when enabled; callable either way).
    pub reaper: LeaseReaper,
    /// This process's retention pruner (looping when enabled; callable
    /// either way).
    pub pruner: Pruner,
    /// The gRPC services, to call in-process (the embedded runner does).
    pub routes: tonic::service::Routes,
    stop: watch::Sender<bool>,
    /// When the stop began (its grace counts from then).
    stopping_since: std::sync::OnceLock<tokio::time::Instant>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl RunningApp {
    /// Begins the stop: listeners close, open streams end, loops stop; what
    /// runs in-process (the embedded runner) still reaches the services.
    /// The grace counts from here.
    pub fn begin_shutdown(&self) {
        let now = tokio::time::Instant::now();
        self.stop.send_if_modified(|stopping| {
            let first = !*stopping;
            *stopping = true;
            first
        });
        let _ = self.stopping_since.set(now);
    }

    /// Stops accepting work, lets in-flight requests (and webhook attempts)
    /// finish for up to [`SHUTDOWN_GRACE`], closes what is still open then
    /// (a client that stops reading must not hold a stop), and closes the
    /// database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.begin_shutdown();
        let since = self.stopping_since.get().copied();
        let deadline = since.unwrap_or_else(tokio::time::Instant::now) + SHUTDOWN_GRACE;
        // Said once a second has passed, so a stop that takes its grace is
        // not a silent hang.
        let mut told = false;
        for mut task in self.tasks {
            if !told && tokio::time::Instant::now() < deadline {
                let soon = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
                if let Ok(finished) = tokio::time::timeout_at(soon, &mut task).await {
                    finished.context("server task panicked")??;
                    continue;
                }
                tracing::info!(
                    grace_ms = SHUTDOWN_GRACE.as_millis() as u64,
                    "waiting for open requests and webhook attempts to end"
                );
                told = true;
            }
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(finished) => finished.context("server task panicked")??,
                Err(_) => {
                    tracing::warn!(
                        grace_ms = SHUTDOWN_GRACE.as_millis() as u64,
                        "still busy when the shutdown grace ended: stopped waiting"
                    );
                    task.abort();
                }
            }
        }
        self.store.close().await;
        Ok(())
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Starts the gRPC server and the REST gateway. On an empty database it
/// creates the `default` organization and an admin token, writes the token
/// to `<data_dir>/admin-token` (mode 0600) and returns it.
pub async fn start(config: &ServeConfig) -> anyhow::Result<RunningApp> {
    let url = database_url(config.database_url.as_deref(), &config.data_dir);
    let store = open_store(
        &url,
        &config.data_dir,
        config.max_connections,
        config.sqlite_durable,
    )
    .await?;
    data_dir::narrow_admin_token(&config.data_dir);
    let admin_token = match tenants::bootstrap(&store, "default").await? {
        Some((_, token)) => {
            data_dir::write_admin_token(&config.data_dir, &token.secret)?;
            Some(token.secret)
        }
        None => None,
    };

    let grpc = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC to {}", config.grpc_addr))?;
    let http = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding REST to {}", config.http_addr))?;
    let grpc_addr = grpc.local_addr()?;
    let http_addr = http.local_addr()?;

    let mut registry = prometheus_client::registry::Registry::default();
    let runway = Runway::with_registry(
        store.clone(),
        config.clock.clone(),
        config.execution.clone(),
        &mut registry,
    );
    let observability = runway_gateway::Observability::new(registry);
    let routes = runway.routes();
    let scheduler = runway.scheduler();
    let reaper = runway.reaper();
    let pruner = runway.pruner();
    let health = runway.health_watcher();
    health.check_once().await;
    // The gateway and the console call the services themselves, in this
    // process: no proto encoding between them (the console with each
    // user's token).
    let gateway =
        runway_gateway::Gateway::new(runway.services()).with_heartbeat(config.sse_heartbeat);
    let console = runway_console::Console::new(
        runway.services(),
        config.tls.is_some(),
        config.sse_heartbeat,
    );
    let (stop, rx) = watch::channel(false);
    let grpc_task = tokio::spawn({
        let rx = rx.clone();
        let runway = runway.clone();
        let tls = config.tls.as_ref().map(|tls| tls.grpc());
        let idle = config.idle_timeout;
        async move { Ok(runway_server::serve(grpc, &runway, tls, idle, stopped(rx)).await?) }
    });
    let http_task = tokio::spawn({
        let rx = rx.clone();
        let serving = runway_gateway::Serving {
            tls: config.tls.as_ref().map(|tls| tls.rest()),
            idle: config.idle_timeout,
            // A wildcard address means nothing to a client: its port, here.
            grpc: runway_gateway::GrpcElsewhere::new(if grpc_addr.ip().is_unspecified() {
                format!(
                    "its gRPC port (port {} of this host, `runway serve --grpc-addr`)",
                    grpc_addr.port()
                )
            } else {
                format!("its gRPC port ({grpc_addr}, `runway serve --grpc-addr`)")
            }),
        };
        async move {
            Ok(runway_gateway::serve_with_tls(
                http,
                runway_gateway::router(gateway, observability)
                    .merge(runway_console::router(console)),
                serving,
                stopped(rx),
            )
            .await?)
        }
    });
    let mut tasks = vec![grpc_task, http_task];
    if let Some(interval) = config.scheduler_interval {
        let (scheduler, rx) = (scheduler.clone(), rx.clone());
        tasks.push(tokio::spawn(async move {
            scheduler.run(interval, stopped(rx)).await;
            Ok(())
        }));
    }
    tasks.push(tokio::spawn({
        let rx = rx.clone();
        async move {
            health.run(Duration::from_secs(2), stopped(rx)).await;
            Ok(())
        }
    }));
    tasks.push(tokio::spawn({
        let (rx, runway) = (rx.clone(), runway.clone());
        async move {
            runway.follow_replica_events(stopped(rx)).await;
            Ok(())
        }
    }));
    tasks.push(tokio::spawn({
        let (rx, runway) = (rx.clone(), runway.clone());
        async move {
            runway.follow_replica_run_changes(stopped(rx)).await;
            Ok(())
        }
    }));
    tasks.push(tokio::spawn({
        let (rx, runway) = (rx.clone(), runway.clone());
        async move {
            stopped(rx).await;
            runway.close_streams();
            Ok(())
        }
    }));
    tasks.push(tokio::spawn({
        let (rx, worker) = (rx.clone(), runway.delivery_worker());
        async move {
            worker.run(stopped(rx)).await;
            Ok(())
        }
    }));
    if let Some(interval) = config.prune_interval {
        let (pruner, rx) = (pruner.clone(), rx.clone());
        tasks.push(tokio::spawn(async move {
            pruner.run(interval, stopped(rx)).await;
            Ok(())
        }));
    }
    if let Some(interval) = config.reaper_interval {
        let reaper = reaper.clone();
        tasks.push(tokio::spawn(async move {
            reaper.run(interval, stopped(rx)).await;
            Ok(())
        }));
    }
    tracing::info!(%grpc_addr, %http_addr, backend = ?store.backend(), tls = config.tls.is_some(), "runway serving");
    Ok(RunningApp {
        grpc_addr,
        http_addr,
        admin_token,
        store,
        scheduler,
        reaper,
        pruner,
        routes,
        stop,
        stopping_since: std::sync::OnceLock::new(),
        tasks,
    })
}

/// True when `store` is SQLite (for messages that name the file).
pub fn is_sqlite(store: &Store) -> bool {
    store.backend() == Backend::Sqlite
}
