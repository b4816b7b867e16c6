//! Token scopes against every RPC and every REST route: each call is made
//! with a token of each scope, and answers PERMISSION_DENIED (403
//! `permission_error`) exactly when the scope does not allow it. The RPCs
//! are read from the descriptor set and the routes from the OpenAPI
//! document, so a new one without a row in the tables below fails here.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use runway_api::enums::TokenScope;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_types::StatusExt;

use crate::support::{TestApp, assert_envelope};

/// What a call does, for the tables: the scopes that may make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Run,
    Tokens,
    Retention,
    /// Reading the calling token itself: every scope.
    OwnToken,
}

impl Kind {
    fn allowed(self, scope: TokenScope) -> bool {
        use TokenScope::*;
        match self {
            Kind::Read => matches!(scope, Admin | Write | Read),
            Kind::Write => matches!(scope, Admin | Write),
            Kind::Run => matches!(scope, Admin | Runner),
            Kind::Tokens | Kind::Retention => matches!(scope, Admin),
            Kind::OwnToken => true,
        }
    }
}

/// Every RPC of the contract and what it does.
const RPCS: &[(&str, Kind)] = &[
    ("runway.v1.AgentService/CreateAgent", Kind::Write),
    ("runway.v1.AgentService/GetAgent", Kind::Read),
    ("runway.v1.AgentService/ListAgents", Kind::Read),
    ("runway.v1.AgentService/UpdateAgent", Kind::Write),
    ("runway.v1.AgentService/ArchiveAgent", Kind::Write),
    ("runway.v1.DeploymentService/CreateDeployment", Kind::Write),
    ("runway.v1.DeploymentService/GetDeployment", Kind::Read),
    ("runway.v1.DeploymentService/ListDeployments", Kind::Read),
    ("runway.v1.DeploymentService/UpdateDeployment", Kind::Write),
    ("runway.v1.DeploymentService/PauseDeployment", Kind::Write),
    ("runway.v1.DeploymentService/UnpauseDeployment", Kind::Write),
    ("runway.v1.DeploymentService/ArchiveDeployment", Kind::Write),
    ("runway.v1.DeploymentService/RunDeployment", Kind::Write),
    ("runway.v1.DeploymentService/GetDeploymentRun", Kind::Read),
    ("runway.v1.DeploymentService/ListDeploymentRuns", Kind::Read),
    ("runway.v1.DeploymentService/ListRuns", Kind::Read),
    ("runway.v1.DeploymentService/WatchRuns", Kind::Read),
    (
        "runway.v1.DeploymentService/CancelDeploymentRun",
        Kind::Write,
    ),
    (
        "runway.v1.EnvironmentService/CreateEnvironment",
        Kind::Write,
    ),
    ("runway.v1.EnvironmentService/GetEnvironment", Kind::Read),
    ("runway.v1.EnvironmentService/ListEnvironments", Kind::Read),
    (
        "runway.v1.EnvironmentService/UpdateEnvironment",
        Kind::Write,
    ),
    (
        "runway.v1.EnvironmentService/ArchiveEnvironment",
        Kind::Write,
    ),
    ("runway.v1.RetentionService/GetRetentionPolicy", Kind::Read),
    (
        "runway.v1.RetentionService/UpdateRetentionPolicy",
        Kind::Retention,
    ),
    ("runway.v1.RunnerService/ClaimTurn", Kind::Run),
    ("runway.v1.RunnerService/Heartbeat", Kind::Run),
    ("runway.v1.RunnerService/CompleteTurn", Kind::Run),
    ("runway.v1.RunnerService/FailTurn", Kind::Run),
    ("runway.v1.RunnerService/AppendEvents", Kind::Run),
    ("runway.v1.SessionService/GetSession", Kind::Read),
    ("runway.v1.SessionService/ListSessionEvents", Kind::Read),
    ("runway.v1.SessionService/StreamSessionEvents", Kind::Read),
    ("runway.v1.SessionService/SendSessionEvents", Kind::Write),
    ("runway.v1.TokenService/CreateToken", Kind::Tokens),
    ("runway.v1.TokenService/GetToken", Kind::Tokens),
    ("runway.v1.TokenService/GetCurrentToken", Kind::OwnToken),
    ("runway.v1.TokenService/ListTokens", Kind::Tokens),
    ("runway.v1.TokenService/RevokeToken", Kind::Tokens),
    (
        "runway.v1.WebhookService/CreateWebhookEndpoint",
        Kind::Write,
    ),
    ("runway.v1.WebhookService/GetWebhookEndpoint", Kind::Read),
    ("runway.v1.WebhookService/ListWebhookEndpoints", Kind::Read),
    (
        "runway.v1.WebhookService/UpdateWebhookEndpoint",
        Kind::Write,
    ),
    (
        "runway.v1.WebhookService/DeleteWebhookEndpoint",
        Kind::Write,
    ),
    (
        "runway.v1.WebhookService/RotateWebhookEndpointSecret",
        Kind::Write,
    ),
    ("runway.v1.WebhookService/TestWebhookEndpoint", Kind::Write),
    ("runway.v1.WebhookService/ListWebhookDeliveries", Kind::Read),
    (
        "runway.v1.WebhookService/RedeliverWebhookDelivery",
        Kind::Write,
    ),
];

/// Every RPC of runway's own services in the descriptor set, as
/// `package.Service/Method`.
fn contract_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(runway_api::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .filter(|f| f.package() == "runway.v1")
        .flat_map(|f| {
            f.service.iter().flat_map(|s| {
                s.method
                    .iter()
                    .map(move |m| format!("runway.v1.{}/{}", s.name(), m.name()))
            })
        })
        .collect()
}

/// A codec that sends and receives message bytes as they are, so one
/// client calls every RPC (an empty message is every request's default).
#[derive(Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// Calls `method` with an empty request and `token`; the status code (OK
/// when it answered).
async fn call_rpc(app: &TestApp, method: &str, token: &str) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(app.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::new());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let path = http::uri::PathAndQuery::try_from(format!("/{method}")).unwrap();
    if method.ends_with("/StreamSessionEvents") || method.ends_with("/WatchRuns") {
        return match grpc.server_streaming(request, path, RawCodec).await {
            Ok(_) => tonic::Status::ok(""),
            Err(status) => status,
        };
    }
    match grpc.unary(request, path, RawCodec).await {
        Ok(_) => tonic::Status::ok(""),
        Err(status) => status,
    }
}

async fn tokens(app: &TestApp) -> Vec<(TokenScope, String)> {
    let mut tokens = vec![(TokenScope::Admin, app.token.clone())];
    for scope in [TokenScope::Write, TokenScope::Read] {
        tokens.push((scope, app.scoped_token(scope, &[]).await));
    }
    tokens.push((
        TokenScope::Runner,
        app.scoped_token(TokenScope::Runner, &["*"]).await,
    ));
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scope_against_every_rpc() {
    let app = TestApp::sqlite().await;
    let table: BTreeMap<&str, Kind> = RPCS.iter().copied().collect();
    let known: BTreeSet<String> = table.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        contract_rpcs(),
        known,
        "every RPC of the contract has a row in RPCS, and only those"
    );
    let mut wrong = Vec::new();
    for (scope, token) in tokens(&app).await {
        for (method, kind) in RPCS {
            let status = call_rpc(&app, method, &token).await;
            let denied = status.code() == Code::PermissionDenied;
            if status.code() == Code::Unauthenticated || denied == kind.allowed(scope) {
                wrong.push(format!(
                    "{scope} {method}: {:?} {}",
                    status.code(),
                    status.message()
                ));
                continue;
            }
            if denied {
                let info = status.get_error_details();
                let info = info.error_info().expect("ErrorInfo on PERMISSION_DENIED");
                assert_eq!(
                    (info.reason.as_str(), info.domain.as_str()),
                    ("SCOPE_INSUFFICIENT", "runway")
                );
                assert!(
                    status
                        .message()
                        .starts_with(&format!("A {scope} token may not ")),
                    "{}",
                    status.message()
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );
    app.shutdown().await;
}

/// What a REST operation does: its RPC's kind (the operation ids are the
/// RPC names, and the run of a deployment read through its deployment is
/// `GetDeploymentRun` again).
fn rest_kind(operation_id: &str) -> Kind {
    let rpc = match operation_id {
        "GetDeploymentRunOfDeployment" => "GetDeploymentRun",
        other => other,
    };
    RPCS.iter()
        .find(|(method, _)| method.rsplit('/').next() == Some(rpc))
        .unwrap_or_else(|| panic!("operation {operation_id} has no RPC of that name"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scope_against_every_route() {
    let app = TestApp::sqlite().await;
    let document: serde_json::Value =
        serde_json::from_str(&runway_gateway::openapi::document()).unwrap();
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            // Unknown but well-formed ids: allowed calls answer 404.
            let path = path
                .trim_start_matches("/api/v1/cloud")
                .replace("{id}", "x_00000000000000000000000000000000")
                .replace("{run_id}", "drun_00000000000000000000000000000000");
            routes.push((method.to_uppercase(), path, id.to_string(), rest_kind(id)));
        }
    }
    assert!(routes.len() >= 40, "{} routes", routes.len());
    let mut wrong = Vec::new();
    for (scope, token) in tokens(&app).await {
        let auth = format!("Bearer {token}");
        for (method, path, id, kind) in &routes {
            // A body the gateway parses, so the call reaches the service
            // (a body it cannot parse is a 400 before any token is read).
            let body = (method == "POST").then(|| match id.as_str() {
                "SendSessionEvents" => r#"{"events":[{"type":"user.interrupt"}]}"#.to_string(),
                _ => "{}".to_string(),
            });
            if id == "WatchRuns" && kind.allowed(scope) {
                // An allowed watch is an endless event stream: its status
                // and content type are the answer.
                let response = app
                    .http
                    .get(format!("{}{path}", app.base))
                    .header("authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                let content_type = response.headers()["content-type"].to_str().unwrap();
                if response.status() != 200 || content_type != "text/event-stream" {
                    wrong.push(format!(
                        "{scope} {method} {path} ({id}): {} {content_type}",
                        response.status()
                    ));
                }
                continue;
            }
            let resp = app
                .call(method, path, body, &[("authorization", &auth)])
                .await;
            let denied = resp.status == 403;
            if resp.status == 401 || denied == kind.allowed(scope) {
                wrong.push(format!(
                    "{scope} {method} {path} ({id}): {} {}",
                    resp.status, resp.body
                ));
                continue;
            }
            if denied {
                assert_envelope(&resp, 403, "permission_error", None);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );
    app.shutdown().await;
}
