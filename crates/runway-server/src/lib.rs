//! runway's gRPC server: `DeploymentService`, `AgentService` and
//! `EnvironmentService` over runway-store, with authentication, validation,
//! idempotency and the trigger rules.

pub mod auth;
pub mod clock;
pub mod convert;
pub mod domain;
pub mod error;
pub mod event_bus;
pub mod health;
pub mod idempotency;
pub mod metrics;
pub mod paging;
mod periodic;
pub mod pruner;
pub mod rate_limit;
pub mod reaper;
pub mod retry_alarm;
pub mod schedule;
pub mod scheduler;
pub mod services;
pub mod validate;
pub mod webhooks;

use std::net::SocketAddr;

use runway_api::connections::{
    HTTP2_PING_INTERVAL, HTTP2_PING_TIMEOUT, OpeningDeadline, handshake_timeout, next_connection,
};
use runway_api::v1::agent_service_server::AgentServiceServer;
use runway_api::v1::deployment_service_server::DeploymentServiceServer;
use runway_api::v1::environment_service_server::EnvironmentServiceServer;
use runway_api::v1::retention_service_server::RetentionServiceServer;
use runway_api::v1::runner_service_server::RunnerServiceServer;
use runway_api::v1::session_service_server::SessionServiceServer;
use runway_api::v1::token_service_server::TokenServiceServer;
use runway_api::v1::webhook_service_server::WebhookServiceServer;
use runway_store::Store;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use error::{ServiceError, ServiceResult};
pub use pruner::{PruneLimits, Pruner};
pub use reaper::LeaseReaper;
pub use scheduler::Scheduler;
pub use services::ExecutionConfig;
use services::{
    AgentApi, Core, DeploymentApi, EnvironmentApi, RetentionApi, RunnerApi, SessionApi, TokenApi,
    WebhookApi,
};

/// One runway server's shared state: its store, clock and execution
/// settings. It hands out the gRPC services, the scheduler and the reaper.
#[derive(Clone)]
pub struct Runway {
    core: std::sync::Arc<Core>,
    health: tonic_health::server::HealthReporter,
}

impl Runway {
    /// `clock` is the server's "now" (schedules, triggers, leases). Its
    /// metrics are registered nowhere; see [`Runway::with_registry`].
    pub fn new(store: Store, clock: SharedClock, execution: ExecutionConfig) -> Self {
        Self::with_metrics(
            store,
            clock,
            execution,
            metrics::ServerMetrics::unregistered(),
        )
    }

    /// Like [`Runway::new`], with the metrics registered in `registry`.
    pub fn with_registry(
        store: Store,
        clock: SharedClock,
        execution: ExecutionConfig,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Self {
        Self::with_metrics(
            store,
            clock,
            execution,
            metrics::ServerMetrics::register(registry),
        )
    }

    fn with_metrics(
        store: Store,
        clock: SharedClock,
        execution: ExecutionConfig,
        metrics: metrics::ServerMetrics,
    ) -> Self {
        Self {
            core: Core::new(store, clock, execution, metrics),
            health: tonic_health::server::HealthReporter::new(),
        }
    }

    /// Every gRPC service, ready to serve on a socket or to be called
    /// in-process through the proto (the embedded runner of `runway serve`
    /// does).
    pub fn routes(&self) -> Routes {
        let core = &self.core;
        // Every message may be as large as the REST body limit allows (a
        // 32 MiB JSON body can encode larger), not tonic's 4 MiB default.
        let limit = MAX_MESSAGE_BYTES;
        Routes::new(
            DeploymentServiceServer::new(DeploymentApi::new(core.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(
            AgentServiceServer::new(AgentApi::new(core.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(
            EnvironmentServiceServer::new(EnvironmentApi::new(core.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(
            RunnerServiceServer::new(RunnerApi::new(core.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(
            SessionServiceServer::new(SessionApi::new(core.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(
            WebhookServiceServer::new(WebhookApi::new(core.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(
            TokenServiceServer::new(TokenApi::new(core.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(
            RetentionServiceServer::new(RetentionApi::new(core.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(self.health.clone()),
        ))
        .add_service(
            reflection()
                .build_v1()
                .expect("the descriptor sets are valid"),
        )
        // grpcurl up to 1.8, grpcui and many IDE plugins ask v1alpha only.
        .add_service(
            reflection()
                .build_v1alpha()
                .expect("the descriptor sets are valid"),
        )
    }

    /// The services for an adapter in this process (the gateway and the
    /// console of `runway serve`): each call goes straight to the service,
    /// with the same authentication and checks as over gRPC, but no proto
    /// encoding or gRPC framing in between.
    pub fn services(&self) -> runway_api::services::Services {
        use std::sync::Arc;
        let core = &self.core;
        runway_api::services::Services {
            deployments: Arc::new(DeploymentApi::new(core.clone())),
            agents: Arc::new(AgentApi::new(core.clone())),
            environments: Arc::new(EnvironmentApi::new(core.clone())),
            sessions: Arc::new(SessionApi::new(core.clone())),
            webhooks: Arc::new(WebhookApi::new(core.clone())),
            tokens: Arc::new(TokenApi::new(core.clone())),
            retention: Arc::new(RetentionApi::new(core.clone())),
            health: Arc::new(runway_api::services::BoxedHealth(
                tonic_health::server::HealthService::from_health_reporter(self.health.clone()),
            )),
        }
    }

    /// Keeps gRPC health in step with the database (run it, or call
    /// `check_once`, before answering readiness).
    pub fn health_watcher(&self) -> health::HealthWatcher {
        health::HealthWatcher::new(self.core.store.clone(), self.health.clone())
    }

    /// Forwards other replicas' event announcements to this process's
    /// streams until `shutdown` (PostgreSQL; returns at once on SQLite).
    pub async fn follow_replica_events(&self, shutdown: impl Future<Output = ()>) {
        self.core
            .events
            .clone()
            .follow_replicas(self.core.store.clone(), shutdown)
            .await;
    }

    /// Announces this process's run changes to other replicas and follows
    /// theirs, for WatchRuns streams (PostgreSQL; returns at once on SQLite).
    pub async fn follow_replica_run_changes(&self, shutdown: impl Future<Output = ()>) {
        runway_store::run_changes::follow_replicas(self.core.store.clone(), shutdown).await;
    }

    /// Ends every open event stream (before a graceful shutdown, which
    /// would otherwise wait for them).
    pub fn close_streams(&self) {
        self.core.closing.send_replace(true);
    }

    /// The scheduler (fires due schedules).
    pub fn scheduler(&self) -> Scheduler {
        Scheduler::new(self.core.clone())
    }

    /// The webhook delivery worker (sends this server's share of the
    /// deliveries; run one per process).
    pub fn delivery_worker(&self) -> webhooks::DeliveryWorker {
        webhooks::DeliveryWorker::new(self.core.clone())
    }

    /// The lease reaper (fails lost and timed-out runs, starts due retries).
    pub fn pruner(&self) -> Pruner {
        Pruner::new(self.core.clone())
    }

    pub fn reaper(&self) -> LeaseReaper {
        LeaseReaper::new(self.core.clone())
    }

    /// The layer that times network gRPC calls into this server's metrics.
    pub fn rpc_metrics(&self) -> metrics::RpcMetricsLayer {
        metrics::RpcMetricsLayer(self.core.metrics.clone())
    }
}

pub use runway_api::services::MAX_MESSAGE_BYTES;

fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(runway_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Serves `runway`'s routes on `listener` (over TLS with `tls`, mutual when
/// it verifies client certificates) until `shutdown` resolves, then lets
/// in-flight calls finish. A connection whose opening does not arrive
/// within `idle` (after its TLS handshake) is dropped.
pub async fn serve(
    listener: TcpListener,
    runway: &Runway,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    idle: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, tls = tls.is_some(), "gRPC listening");
    let server = tonic::transport::Server::builder()
        // A peer gone without closing is found, and its streams end.
        .http2_keepalive_interval(Some(HTTP2_PING_INTERVAL))
        .http2_keepalive_timeout(Some(HTTP2_PING_TIMEOUT))
        .layer(runway.rpc_metrics())
        .add_routes(runway.routes());
    match tls {
        None => {
            // Without TCP_NODELAY a response's HTTP/2 frames wait out the
            // peer's delayed ACK (~40 ms) behind Nagle's algorithm.
            let incoming = TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .map(move |accepted| accepted.map(|tcp| OpeningDeadline::new(tcp, idle)));
            server
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
        Some(config) => {
            let incoming = tls_incoming(listener, config, idle);
            server
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    }
}

/// A TLS connection, held to its opening deadline.
type TlsConnection = OpeningDeadline<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;

/// The connections `listener` accepts, over TLS: each handshake runs in a
/// task of its own (a slow client holds up no other) and has
/// `handshake_timeout(idle)`; then the opening deadline counts the HTTP/2
/// bytes, not the handshake's (tonic's own TLS would hand its handshake a
/// stream the deadline could not see into). Ends when the server stops
/// taking connections.
fn tls_incoming(
    listener: TcpListener,
    config: std::sync::Arc<rustls::ServerConfig>,
    idle: std::time::Duration,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsConnection>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = next_connection(&listener) => accepted,
                () = tx.closed() => return,
            };
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "TCP_NODELAY not set");
            }
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(handshake_timeout(idle), acceptor.accept(tcp));
                // A server that stops taking connections ends its handshakes.
                let handshaken = tokio::select! {
                    handshaken = handshake => handshaken,
                    () = tx.closed() => return,
                };
                match handshaken {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(OpeningDeadline::new(stream, idle))).await;
                    }
                    Ok(Err(err)) => tracing::debug!(%peer, %err, "gRPC TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "gRPC TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
