//! The REST routes, one module per resource. Every handler reads like the
//! line of docs/API.md it implements: parse, call the RPC, render.

pub(crate) mod agents;
pub(crate) mod deployment_body;
pub(crate) mod deployments;
pub(crate) mod environments;
mod health;
pub(crate) mod retention;
pub(crate) mod runs;
pub(crate) mod sessions;
mod shared;
pub(crate) mod tokens;
pub(crate) mod webhooks;

use axum::Router;
use axum::routing::{get, post};

use crate::Gateway;

/// `/healthz` and `/readyz`, at the root, without auth.
pub fn probes() -> Router<Gateway> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
}

/// Every route of docs/API.md's table, relative to the base path.
pub fn api() -> Router<Gateway> {
    Router::new()
        .route("/openapi.json", get(crate::openapi::serve))
        .route(
            "/deployments",
            post(deployments::create).get(deployments::list),
        )
        .route(
            "/deployments/{id}",
            get(deployments::get).post(deployments::update),
        )
        .route("/deployments/{id}/pause", post(deployments::pause))
        .route("/deployments/{id}/unpause", post(deployments::unpause))
        .route("/deployments/{id}/archive", post(deployments::archive))
        .route("/deployments/{id}/run", post(runs::trigger))
        .route("/deployments/{id}/runs", get(runs::list_for_deployment))
        .route(
            "/deployments/{id}/runs/{run_id}",
            get(runs::get_for_deployment),
        )
        .route("/deployment_runs", get(runs::list_all))
        .route("/deployment_runs/watch", get(runs::watch))
        .route("/deployment_runs/{run_id}", get(runs::get))
        .route("/deployment_runs/{run_id}/cancel", post(runs::cancel))
        .route("/sessions/{id}", get(sessions::get))
        .route(
            "/sessions/{id}/events",
            get(sessions::list_events).post(sessions::send_events),
        )
        .route("/sessions/{id}/events/stream", get(sessions::stream_events))
        .route("/agents", post(agents::create).get(agents::list))
        .route("/agents/{id}", get(agents::get).post(agents::update))
        .route("/agents/{id}/archive", post(agents::archive))
        .route(
            "/environments",
            post(environments::create).get(environments::list),
        )
        .route(
            "/environments/{id}",
            get(environments::get).post(environments::update),
        )
        .route("/environments/{id}/archive", post(environments::archive))
        .route(
            "/webhooks/endpoints",
            post(webhooks::create).get(webhooks::list),
        )
        .route(
            "/webhooks/endpoints/{id}",
            get(webhooks::get)
                .post(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/webhooks/endpoints/{id}/rotate_secret",
            post(webhooks::rotate_secret),
        )
        .route("/webhooks/endpoints/{id}/test", post(webhooks::test))
        .route(
            "/webhooks/endpoints/{id}/deliveries",
            get(webhooks::list_deliveries),
        )
        .route(
            "/webhooks/deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/current", get(tokens::current))
        .route("/tokens/{id}", get(tokens::get))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/retention", get(retention::get).post(retention::update))
}
