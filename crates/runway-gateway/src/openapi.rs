//! The OpenAPI 3.1 document of the REST API, generated from the gateway's
//! own handlers and types (utoipa). Served at `/api/v1/cloud/openapi.json`
//! and checked in at `docs/openapi.json`; a test keeps the two equal.

use std::collections::BTreeMap;

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    agents, deployment_body, deployments, environments, retention, runs, sessions, tokens, webhooks,
};

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
        runs::trigger, runs::list_for_deployment, runs::get_for_deployment, runs::list_all, runs::watch, runs::get, runs::cancel,
        agents::create, agents::list, agents::get, agents::update, agents::archive,
        environments::create, environments::list, environments::get, environments::update, environments::archive,
        sessions::get, sessions::list_events, sessions::send_events, sessions::stream_events,
        webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::rotate_secret, webhooks::test, webhooks::list_deliveries, webhooks::redeliver,
        tokens::create, tokens::list, tokens::current, tokens::get, tokens::revoke,
        retention::get, retention::update,
    ),
    components(schemas(
        crate::error::ErrorEnvelope,
        crate::error::ErrorBody,
        // Referenced from the hand-written metadata schemas.
        deployment_body::CasConfigBody,
        deployment_body::ConfigBody,
        // Referenced from query parameters only.
        runway_api::enums::SortOrder,
        // The messages of the event streams.
        crate::schemas::RunsStreamMessage,
        crate::schemas::SessionStreamMessage,
    )),
    modifiers(&BearerAuth, &SharedResponses, &Links),
    security(("bearer" = [])),
    tags(
        (name = "deployments", description = "Deployments and their lifecycle"),
        (name = "runs", description = "Triggering, reading and canceling runs"),
        (name = "agents", description = "Agents and their versions"),
        (name = "environments", description = "Pools of runners"),
        (name = "sessions", description = "The sessions runs execute in"),
        (name = "webhooks", description = "Signed notifications of what runs and deployments did"),
        (name = "tokens", description = "Personal access tokens and their scopes (admin tokens only)"),
        (name = "retention", description = "How long the organization keeps its runs (changes: admin tokens only)"),
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

/// The error answers, once each in `components.responses`, referenced by
/// every operation (a generated client gets one error type, not one per
/// operation); every answer carries `x-request-id`, a 405 its `Allow`.
struct SharedResponses;

const ERRORS: [(&str, &str); 11] = [
    ("400", "BadRequest"),
    ("401", "Unauthenticated"),
    ("403", "Forbidden"),
    ("404", "NotFound"),
    ("405", "MethodNotAllowed"),
    ("409", "Conflict"),
    ("431", "HeadersTooLarge"),
    ("500", "Internal"),
    ("501", "NotImplemented"),
    ("503", "Unavailable"),
    ("504", "DeadlineExceeded"),
];

fn request_id_header() -> Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(
            "The request id: the client's `x-request-id`, or one the service made.",
        ))
        .build()
}

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut shared = BTreeMap::new();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for (code, response) in operation.responses.responses.iter_mut() {
                    let name = ERRORS.iter().find(|(c, _)| c == code).map(|(_, n)| *n);
                    match (name, std::mem::replace(response, RefOr::Ref(Ref::new("")))) {
                        (Some(name), RefOr::T(mut answer)) => {
                            answer
                                .headers
                                .insert("x-request-id".into(), request_id_header());
                            if *code == "405" {
                                answer.headers.insert(
                                    "Allow".into(),
                                    HeaderBuilder::new()
                                        .schema(ObjectBuilder::new().schema_type(Type::String))
                                        .description(Some("The methods the path serves."))
                                        .build(),
                                );
                            }
                            shared.entry(name.to_string()).or_insert(answer);
                            *response = RefOr::Ref(Ref::from_response_name(name));
                        }
                        (None, RefOr::T(mut answer)) => {
                            answer
                                .headers
                                .insert("x-request-id".into(), request_id_header());
                            *response = RefOr::T(answer);
                        }
                        (_, other) => *response = other,
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, answer) in shared {
            components.responses.insert(name, RefOr::T(answer));
        }
    }
}

/// Links from the operations that create something to those that use its
/// id, so clients and stateful testers can follow them.
struct Links;

/// A link: the operation it leads to, and each of its parameters with the
/// runtime expression that fills it.
type LinkSpec = (&'static str, &'static [(&'static str, &'static str)]);

const ID: &[(&str, &str)] = &[("id", "$response.body#/id")];
const RUN_ID: &[(&str, &str)] = &[("run_id", "$response.body#/id")];

/// (operation, status, links of its answer).
const LINKS: [(&str, &str, &[LinkSpec]); 6] = [
    (
        "CreateDeployment",
        "200",
        &[
            ("GetDeployment", ID),
            ("UpdateDeployment", ID),
            ("PauseDeployment", ID),
            ("UnpauseDeployment", ID),
            ("ArchiveDeployment", ID),
            ("RunDeployment", ID),
            ("ListDeploymentRuns", ID),
        ],
    ),
    (
        "RunDeployment",
        "200",
        &[
            ("GetDeploymentRun", RUN_ID),
            ("CancelDeploymentRun", RUN_ID),
            (
                "GetDeploymentRunOfDeployment",
                &[
                    ("id", "$response.body#/deployment_id"),
                    ("run_id", "$response.body#/id"),
                ],
            ),
            ("GetSession", &[("id", "$response.body#/session_id")]),
            ("ListSessionEvents", &[("id", "$response.body#/session_id")]),
        ],
    ),
    (
        "CreateAgent",
        "201",
        &[("GetAgent", ID), ("UpdateAgent", ID), ("ArchiveAgent", ID)],
    ),
    (
        "CreateEnvironment",
        "200",
        &[
            ("GetEnvironment", ID),
            ("UpdateEnvironment", ID),
            ("ArchiveEnvironment", ID),
        ],
    ),
    (
        "CreateWebhookEndpoint",
        "200",
        &[
            ("GetWebhookEndpoint", ID),
            ("UpdateWebhookEndpoint", ID),
            ("DeleteWebhookEndpoint", ID),
            ("RotateWebhookEndpointSecret", ID),
            ("TestWebhookEndpoint", ID),
            ("ListWebhookDeliveries", ID),
        ],
    ),
    (
        "CreateToken",
        "200",
        &[("GetToken", ID), ("RevokeToken", ID)],
    ),
];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let Some(id) = operation.operation_id.clone() else {
                    continue;
                };
                for (from, code, targets) in &LINKS {
                    if *from != id {
                        continue;
                    }
                    let Some(RefOr::T(answer)) = operation.responses.responses.get_mut(*code)
                    else {
                        continue;
                    };
                    for (target, parameters) in targets.iter() {
                        let mut link = LinkBuilder::new().operation_id(*target);
                        for (name, expression) in parameters.iter() {
                            link = link.parameter(*name, *expression);
                        }
                        answer
                            .links
                            .insert((*target).to_string(), RefOr::T(link.build()));
                    }
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The document, as pretty JSON with a final newline (the checked-in form).
pub fn document() -> String {
    let mut json =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    camel_case_links(&mut json);
    name_keywords(&mut json);
    let mut text = serde_json::to_string_pretty(&json).expect("the OpenAPI document prints");
    text.push('\n');
    text
}

/// utoipa 5 prints a link's `operationId` and `operationRef` in snake case;
/// OpenAPI (and every tool that follows links) reads camel case.
fn camel_case_links(document: &mut serde_json::Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(responses) = operation["responses"].as_object_mut() else {
            continue;
        };
        for response in responses.values_mut() {
            let Some(links) = response
                .get_mut("links")
                .and_then(serde_json::Value::as_object_mut)
            else {
                continue;
            };
            for link in links
                .values_mut()
                .filter_map(serde_json::Value::as_object_mut)
            {
                for (snake, camel) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                ] {
                    if let Some(value) = link.remove(snake) {
                        link.insert(camel.to_string(), value);
                    }
                }
            }
        }
    }
}

/// Takes `schemas::KEYWORD_PREFIX` off the JSON Schema keywords utoipa
/// cannot spell, wherever they sit.
fn name_keywords(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            let keywords: Vec<String> = object
                .keys()
                .filter(|key| key.starts_with(crate::schemas::KEYWORD_PREFIX))
                .cloned()
                .collect();
            for key in keywords {
                let content = object.remove(&key).expect("the key was just listed");
                let keyword = &key[crate::schemas::KEYWORD_PREFIX.len()..];
                object.insert(keyword.to_string(), content);
            }
            object.values_mut().for_each(name_keywords);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(name_keywords),
        _ => {}
    }
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
