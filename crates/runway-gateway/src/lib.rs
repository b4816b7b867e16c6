//! runway's REST gateway: the documented JSON API under `/api/v1/cloud`
//! (and the `/v1` alias), translated to runway's gRPC services and back.
//!
//! The gateway holds no business rule: it parses HTTP, calls the RPC, and
//! renders the documented JSON or error envelope. It calls the services as
//! their server traits (`runway_api::services`): the server's own
//! implementations inside `runway serve` (a function call, no proto
//! encoding), or the gRPC clients over a network channel when it runs alone.

mod body;
mod context;
mod error;
mod grpc_calls;
mod metrics;
pub mod openapi;
mod params;
mod path;
mod query;
mod request_body;

mod routes;
mod schemas;
pub mod sse;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use runway_api::connections::DEFAULT_IDLE_TIMEOUT;
use runway_api::services::{
    DynAgentService, DynDeploymentService, DynEnvironmentService, DynHealth, DynRetentionService,
    DynSessionService, DynTokenService, DynWebhookService, Services,
};
use tokio::net::TcpListener;

pub use body::whole_number;
pub use error::ApiError;
pub use grpc_calls::GrpcElsewhere;
pub use metrics::Observability;

/// The largest request body the API accepts (docs/API.md: over 32 MiB → 400).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How often an event stream sends a `heartbeat` by default.
pub const DEFAULT_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

/// The services every handler calls.
#[derive(Clone)]
pub struct Gateway {
    /// Shared: every request clones the gateway (axum's `State`).
    services: std::sync::Arc<Services>,
    heartbeat: std::time::Duration,
    /// Set when this gateway stops: its open event streams end saying so.
    closing: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl Gateway {
    /// A gateway calling `services`: the server's own in this process
    /// (`Runway::services`), or [`Services::remote`] over a channel.
    pub fn new(services: Services) -> Self {
        Self {
            services: std::sync::Arc::new(services),
            heartbeat: DEFAULT_HEARTBEAT,
            closing: std::sync::Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Ends every open event stream with a last `error` message saying the
    /// server stops (before a graceful shutdown, which would otherwise wait
    /// for them). A gateway in `runway serve` need not: the server's own
    /// streams end so.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Sends an event stream's `heartbeat` every `interval` instead.
    pub fn with_heartbeat(mut self, interval: std::time::Duration) -> Self {
        self.heartbeat = interval;
        self
    }

    fn heartbeat(&self) -> std::time::Duration {
        self.heartbeat
    }

    fn deployments(&self) -> &DynDeploymentService {
        &*self.services.deployments
    }

    fn agents(&self) -> &DynAgentService {
        &*self.services.agents
    }

    fn health(&self) -> &DynHealth {
        &*self.services.health
    }

    fn sessions(&self) -> &DynSessionService {
        &*self.services.sessions
    }

    fn environments(&self) -> &DynEnvironmentService {
        &*self.services.environments
    }

    fn tokens(&self) -> &DynTokenService {
        &*self.services.tokens
    }

    fn retention(&self) -> &DynRetentionService {
        &*self.services.retention
    }

    fn webhooks(&self) -> &DynWebhookService {
        &*self.services.webhooks
    }
}

/// The whole REST API: both base paths, the envelope for every failure
/// (unknown routes and wrong methods included), `x-request-id`, the probes
/// and `/metrics` (rendering `observability`'s registry).
pub fn router(gateway: Gateway, observability: Observability) -> Router {
    let api = routes::api()
        .route_layer(axum::middleware::from_fn(error::refuse_oversized))
        .route_layer(axum::middleware::from_fn(error::require_credentials))
        .with_state(gateway.clone());
    Router::new()
        .merge(routes::probes().with_state(gateway))
        .route(
            "/metrics",
            axum::routing::get(metrics::render).with_state(observability.clone()),
        )
        .nest("/api/v1/cloud", api.clone())
        .nest("/v1", api)
        // Unknown paths under `/api/` and `/v1/` are the API's own, whatever
        // else is merged beside it (the console takes the others).
        .route("/api/{*rest}", axum::routing::any(error::unknown_route))
        .route("/v1/{*rest}", axum::routing::any(error::unknown_route))
        .route("/api", axum::routing::any(error::unknown_route))
        .route("/api/", axum::routing::any(error::unknown_route))
        .route("/v1", axum::routing::any(error::unknown_route))
        .route("/v1/", axum::routing::any(error::unknown_route))
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            observability,
            metrics::record,
        ))
        .layer(axum::middleware::from_fn(error::limit_headers))
        .layer(axum::middleware::from_fn(error::render_envelopes))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(context::request_id))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// How much of a request's head (request line and headers) a connection
/// reads. Heads past [`MAX_HEADER_BYTES`] but within this buffer are
/// answered 431 in the envelope; only a larger one gets hyper's bare 431.
const HEAD_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// The largest total of header names and values a request may carry.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` in plaintext until `shutdown` resolves,
/// then lets open requests finish; a gRPC call is told `grpc`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    grpc: GrpcElsewhere,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let serving = Serving {
        tls: None,
        idle: DEFAULT_IDLE_TIMEOUT,
        grpc,
    };
    serve_with_tls(listener, router, serving, shutdown).await
}

/// How [`serve_with_tls`] serves.
pub struct Serving {
    /// TLS, HTTP/2 or HTTP/1.1 by ALPN; plaintext without.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// How long a connection may stay silent (see [`serve_with_tls`]).
    pub idle: std::time::Duration,
    /// What a gRPC call that reached this port is told.
    pub grpc: GrpcElsewhere,
}

/// How long a stop waits for open requests before it closes them: a client
/// that stops reading must not hold a stop.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Serves `router` on `listener` (over TLS with `tls`, HTTP/2 or HTTP/1.1
/// by ALPN) until `shutdown` resolves, then lets open requests finish for
/// up to [`SHUTDOWN_GRACE`]. A gRPC call is answered in gRPC, told `grpc`.
/// A connection may stay silent for `idle`: before
/// its opening (`runway_api::connections`), on HTTP/1.1 before (or while sending) each request's
/// head — a client that sends half a request holds nothing longer (hyper's
/// head timer also runs while a kept-alive connection idles) — and within a
/// request's body.
/// (axum's own `serve` cannot size the head buffer.)
pub async fn serve_with_tls(
    listener: TcpListener,
    router: Router,
    Serving { tls, idle, grpc }: Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use runway_api::connections::{
        HTTP2_PING_INTERVAL, HTTP2_PING_TIMEOUT, OpeningDeadline, handshake_timeout,
        next_connection,
    };

    tracing::info!(addr = ?listener.local_addr().ok(), tls = tls.is_some(), "REST gateway listening");
    // A body that stops arriving for `idle` ends its request (400, in the
    // envelope: `request_body`), console forms too: a client that declares a
    // body and does not send it holds nothing longer.
    let router = router
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(idle))
        .layer(axum::middleware::from_fn_with_state(
            grpc,
            grpc_calls::answer_grpc_calls,
        ));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(HEAD_BUFFER_BYTES)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle);
    builder
        .http2()
        .max_header_list_size(HEAD_BUFFER_BYTES as u32)
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(HTTP2_PING_INTERVAL))
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = next_connection(&listener) => accepted,
            () = &mut shutdown => break,
        };
        // Small responses go out at once instead of waiting behind Nagle's algorithm.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY not set");
        }
        let service = TowerToHyperService::new(router.clone());
        let (builder, acceptor, watcher) = (builder.clone(), acceptor.clone(), graceful.watcher());
        tokio::spawn(async move {
            let served = match acceptor {
                None => {
                    let tcp = OpeningDeadline::new(tcp, idle);
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(handshake_timeout(idle), acceptor.accept(tcp))
                            .await
                        {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(err)) => {
                                tracing::debug!(%peer, %err, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let stream = OpeningDeadline::new(stream, idle);
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(err) = served {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = SHUTDOWN_GRACE.as_millis() as u64,
            "REST connections still open when the shutdown grace ended: no longer waited for"
        );
    }
    Ok(())
}
