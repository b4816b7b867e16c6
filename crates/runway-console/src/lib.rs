//! runway's web console: server-rendered pages over runway's public gRPC
//! API, at `/` beside the REST API.
//!
//! The console is an adapter like the gateway: every page reads and every
//! button acts through the same RPCs any client calls, with the signed-in
//! user's token, so every rule, error and organization boundary holds here
//! too. It keeps no state but the sign-ins (a random session id in an
//! HttpOnly, SameSite=Strict cookie, mapped in memory to the token), and
//! holds no business rule: the API's answers, errors included, are shown in
//! the API's words.
//!
//! Pages are HTML rendered on the server (maud: escaped by construction,
//! checked at compile time). One small script (`assets/console.js`, no
//! build step) adds what HTML cannot: times in the viewer's zone, and the
//! live parts (a run's transcript, the runs list) over server-sent events.

mod api;
mod assets;
mod destination;
mod failure;
mod form;
mod format;
mod guard;
mod layout;
mod pages;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get, post};
use runway_api::services::Services;

pub use session::COOKIE_NAME;

/// The console's shared state: the API's services and the sign-ins.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    services: Services,
    sessions: session::Sessions,
    /// Served over TLS: cookies are `Secure` (and `__Host-` prefixed).
    secure: bool,
    /// Set when the console stops: its live pages end (the browser
    /// reconnects to whichever server answers next).
    closing: tokio::sync::watch::Sender<bool>,
    /// How often a live page proves it is alive (proxies close idle ones).
    heartbeat: std::time::Duration,
}

impl Console {
    /// A console calling the API's `services` (the server's own in this
    /// process, or remote ones); `secure` when the pages are served over TLS;
    /// a live page sends its keep-alive every `heartbeat` (the server's
    /// `--sse-heartbeat-ms`, as the API's event streams).
    pub fn new(services: Services, secure: bool, heartbeat: std::time::Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                services,
                sessions: session::Sessions::default(),
                secure,
                closing: tokio::sync::watch::Sender::new(false),
                heartbeat,
            }),
        }
    }

    fn heartbeat(&self) -> std::time::Duration {
        self.inner.heartbeat
    }

    /// Ends every open live page (before a graceful shutdown, which would
    /// otherwise wait for them). A console in `runway serve` need not: the
    /// server's own streams end, and the live pages with them.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Resolves once [`Console::close_streams`] is called.
    fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.inner.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    fn services(&self) -> &Services {
        &self.inner.services
    }

    fn sessions(&self) -> &session::Sessions {
        &self.inner.sessions
    }

    fn secure(&self) -> bool {
        self.inner.secure
    }
}

/// A console path with nothing behind it.
async fn missing_page() -> failure::PageError {
    failure::PageError::NotFound
}

/// Every console route. Merge it with the REST API's router: the paths do
/// not overlap (the API lives under `/api/` and `/v1/`, where an unknown
/// path still answers the API's envelope); any other unknown path is the
/// console's "no such page".
pub fn router(console: Console) -> Router {
    use pages::{
        catalog, deployment, deployment_form, deployments, live, overview, run, runs, sign_in,
    };
    Router::new()
        .route("/", get(overview::show))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route(
            "/deployments",
            get(deployments::list).post(deployment_form::create),
        )
        .route("/deployments/new", get(deployment_form::new_form))
        .route(
            "/deployments/{id}",
            get(deployment::show).post(deployment::update),
        )
        .route("/deployments/{id}/run", post(deployments::run))
        .route("/deployments/{id}/pause", post(deployments::pause))
        .route("/deployments/{id}/unpause", post(deployments::unpause))
        .route(
            "/deployments/{id}/archive",
            get(deployment::confirm_archive).post(deployment::archive),
        )
        .route("/runs", get(runs::list))
        .route("/runs/live", get(live::runs))
        .route("/runs/{id}", get(run::show))
        .route("/runs/{id}/cancel", post(run::cancel))
        .route("/runs/{id}/transcript", get(live::transcript))
        .route("/agents", get(catalog::agents))
        .route("/environments", get(catalog::environments))
        .route("/assets/{name}", get(assets::serve))
        // Any other path outside the API's is a page a browser asked for:
        // it gets a page saying so, not the API's JSON.
        .route("/{*path}", any(missing_page))
        .layer(axum::middleware::from_fn(destination::remember))
        .layer(axum::middleware::from_fn(guard::same_origin_posts))
        .layer(axum::middleware::from_fn(guard::page_headers))
        .with_state(console)
}
