//! The OpenAPI 3.1 document of the REST API, generated from the gateway's
//! own handlers and types (utoipa). Served at `/api/v1/cloud/openapi.json`
//! and checked in at `docs/openapi.json`; a test keeps the two equal.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{agents, deployments, environments, runs, sessions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "runway — Qoder Cloud Deployments API",
        description = "Deployments bind an agent and an environment of runners to a configuration; every trigger records a deployment run. Every non-2xx answer is the error envelope.",
        license(name = "Apache-2.0")
    ),
    paths(
        deployments::create, deployments::list, deployments::get, deployments::update,
        deployments::pause, deployments::unpause, deployments::archive,
        runs::trigger, runs::list_for_deployment, runs::get_for_deployment, runs::list_all, runs::get, runs::cancel,
        agents::create, agents::list, agents::get, agents::update, agents::archive,
        environments::create, environments::list, environments::get, environments::update, environments::archive,
        sessions::get,
    ),
    components(schemas(crate::error::ErrorEnvelope, crate::error::ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "deployments", description = "Deployments and their lifecycle"),
        (name = "runs", description = "Triggering, reading and canceling runs"),
        (name = "agents", description = "Agents and their versions"),
        (name = "environments", description = "Pools of runners"),
        (name = "sessions", description = "The sessions runs execute in"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer <PAT>` on every operation.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("PAT")
                    .build(),
            ),
        );
    }
}

/// The document, as pretty JSON with a final newline (the checked-in form).
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

/// `GET /api/v1/cloud/openapi.json` (no auth: it describes, it reveals nothing).
pub async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}
