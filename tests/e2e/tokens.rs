//! Tokens over REST and gRPC: issue with a scope, list without secrets,
//! revoke, expire, `last_used_at`; a runner token claims only its
//! environments' turns; revocation reaches another replica within the
//! authentication cache's lifetime.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runway_api::v1::*;
use runway_server::{Clock, ManualClock};
use serde_json::{Value, json};
use tonic::Code;

use crate::support::{TestApp, assert_envelope, assert_id, assert_timestamp, keys};
use crate::{on_every_backend, on_every_backend_with_clock};

const SECOND: i64 = 1_000_000_000;

on_every_backend!(tokens_are_issued_listed_and_revoked, new_tokens_are_checked,);
on_every_backend_with_clock!(a_token_stops_at_its_expiry);

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub(crate) async fn get_as(app: &TestApp, token: &str, path: &str) -> crate::support::Resp {
    app.call("GET", path, None, &[("authorization", &bearer(token))])
        .await
}

pub(crate) async fn post_as(
    app: &TestApp,
    token: &str,
    path: &str,
    body: Value,
) -> crate::support::Resp {
    app.call(
        "POST",
        path,
        Some(body.to_string()),
        &[("authorization", &bearer(token))],
    )
    .await
}

const TOKEN_KEYS: [&str; 9] = [
    "created_at",
    "environment_ids",
    "expires_at",
    "id",
    "last_used_at",
    "name",
    "revoked_at",
    "scope",
    "type",
];

async fn tokens_are_issued_listed_and_revoked(app: &TestApp) {
    let created = app
        .post("/tokens", json!({"name": "dashboards", "scope": "read"}))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let mut expected: BTreeSet<&str> = TOKEN_KEYS.into();
    expected.insert("secret");
    assert_eq!(keys(&created.body), expected, "{}", created.body);
    let token = &created.body;
    assert_id(&token["id"], "tok_");
    assert_eq!(token["type"], "token");
    assert_eq!(token["name"], "dashboards");
    assert_eq!(token["scope"], "read");
    assert_eq!(token["environment_ids"], json!([]));
    assert_timestamp(&token["created_at"]);
    for never in ["expires_at", "last_used_at", "revoked_at"] {
        assert_eq!(token[never], Value::Null, "{never}");
    }
    let secret = token["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("rwy_pat_")
            && secret.len() == 8 + 64
            && secret[8..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{secret}"
    );
    let id = token["id"].as_str().unwrap().to_string();

    // The read token reads and may not write.
    assert_eq!(get_as(app, &secret, "/deployments").await.status, 200);
    let refused = post_as(app, &secret, "/agents", json!({"name": "a", "model": "m"})).await;
    assert_envelope(&refused, 403, "permission_error", None);
    assert_eq!(
        refused.body["error"]["message"],
        "A read token may not change resources."
    );
    let refused = get_as(app, &secret, "/tokens").await;
    assert_envelope(&refused, 403, "permission_error", None);
    // But it reads itself, as every token may: the token, no secret.
    let itself = get_as(app, &secret, "/tokens/current").await;
    assert_eq!(itself.status, 200, "{}", itself.body);
    let mut same = token.clone();
    same.as_object_mut().unwrap().remove("secret");
    same["last_used_at"] = itself.body["last_used_at"].clone();
    assert_eq!(itself.body, same);
    assert_eq!(app.get("/tokens/current").await.body["scope"], "admin");

    // Its use is recorded once, in the background, without a write per request.
    let deadline = Instant::now() + Duration::from_secs(10);
    let used = loop {
        let read = app.get(&format!("/tokens/{id}")).await;
        assert_eq!(read.status, 200, "{}", read.body);
        if !read.body["last_used_at"].is_null() {
            break read.body;
        }
        assert!(Instant::now() < deadline, "last_used_at stays null");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_timestamp(&used["last_used_at"]);
    assert_eq!(
        keys(&used),
        TOKEN_KEYS.into(),
        "no secret once issued: {used}"
    );

    // Listed newest first, without secrets; the admin token is there too.
    let list = app.get("/tokens").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let data = list.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{}", list.body);
    assert_eq!(data[0]["id"], id.as_str());
    assert_eq!(data[1]["scope"], "admin");
    assert_eq!(data[1]["name"], "admin");
    assert!(data.iter().all(|t| t.get("secret").is_none()));

    // Revoked: refused at once on this replica; listed only on request.
    let revoked = app.post_empty(&format!("/tokens/{id}/revoke")).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_timestamp(&revoked.body["revoked_at"]);
    let refused = get_as(app, &secret, "/deployments").await;
    assert_envelope(&refused, 401, "authentication_error", None);
    let refused = get_as(app, &secret, "/tokens/current").await;
    assert_envelope(&refused, 401, "authentication_error", None);
    let again = app.post_empty(&format!("/tokens/{id}/revoke")).await;
    assert_envelope(&again, 409, "conflict_error", None);
    assert_eq!(
        app.get("/tokens").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let all = app.get("/tokens?include_revoked=true").await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 2);

    // Another organization's token is not found; a malformed id neither.
    let other = app.other_org_token().await;
    let hidden = get_as(app, &other, &format!("/tokens/{id}")).await;
    assert_envelope(&hidden, 404, "not_found_error", Some("id"));
    let malformed = app.get("/tokens/nope").await;
    assert_envelope(&malformed, 404, "not_found_error", Some("id"));

    // Over gRPC: a runner token for every environment.
    let mut grpc =
        runway_api::v1::token_service_client::TokenServiceClient::connect(app.grpc_url())
            .await
            .unwrap();
    let issued = grpc
        .create_token(app.authed(CreateTokenRequest {
            name: "runners".into(),
            scope: TokenScope::Runner as i32,
            environment_ids: vec!["*".into()],
            expires_at: None,
        }))
        .await
        .unwrap()
        .into_inner();
    let token = issued.token.unwrap();
    assert_eq!(
        (token.scope, token.environment_ids.as_slice()),
        (TokenScope::Runner as i32, ["*".to_string()].as_slice())
    );
    assert!(issued.secret.starts_with("rwy_pat_"));
    let listed = grpc
        .list_tokens(app.authed(ListTokensRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.tokens[0], token,
        "the list shows what create answered"
    );
    // The runner token reads itself over gRPC too.
    let mut as_runner = tonic::Request::new(GetCurrentTokenRequest {});
    as_runner.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", issued.secret).parse().unwrap(),
    );
    let current = grpc
        .get_current_token(as_runner)
        .await
        .unwrap()
        .into_inner();
    let current = current.token.unwrap();
    assert_eq!(
        (current.id.as_str(), current.scope),
        (token.id.as_str(), TokenScope::Runner as i32)
    );
}

async fn new_tokens_are_checked(app: &TestApp) {
    let env = app.post("/environments", json!({"name": "e"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        (json!({"scope": "read"}), 400, "name"),
        (json!({"name": "t"}), 400, "scope"),
        (json!({"name": "t", "scope": "owner"}), 400, "scope"),
        (
            json!({"name": "t", "scope": "runner"}),
            400,
            "environment_ids",
        ),
        (
            json!({"name": "t", "scope": "runner", "environment_ids": []}),
            400,
            "environment_ids",
        ),
        (
            json!({"name": "t", "scope": "runner", "environment_ids": ["*", env]}),
            400,
            "environment_ids",
        ),
        (
            json!({"name": "t", "scope": "runner", "environment_ids": [env, env]}),
            400,
            "environment_ids",
        ),
        (
            json!({"name": "t", "scope": "read", "environment_ids": [env]}),
            400,
            "environment_ids",
        ),
        (
            json!({"name": "t", "scope": "runner", "environment_ids": ["env_0123456789abcdef0123456789abcdef"]}),
            404,
            "environment_ids",
        ),
        (
            json!({"name": "t", "scope": "read", "expires_at": "2001-01-01T00:00:00Z"}),
            400,
            "expires_at",
        ),
        (
            json!({"name": "t", "scope": "read", "expires_at": "tomorrow"}),
            400,
            "expires_at",
        ),
        (
            json!({"name": "t", "scope": "read", "secret": "mine"}),
            400,
            "secret",
        ),
    ];
    for (body, status, param) in cases {
        let resp = app.post("/tokens", body.clone()).await;
        let error_type = if status == 404 {
            "not_found_error"
        } else {
            "invalid_request_error"
        };
        assert_envelope(&resp, status, error_type, Some(param));
        assert_eq!(resp.status, status, "{body}");
    }
    let runner = app
        .post(
            "/tokens",
            json!({"name": "r", "scope": "runner", "environment_ids": [env]}),
        )
        .await;
    assert_eq!(runner.status, 200, "{}", runner.body);
    assert_eq!(runner.body["environment_ids"], json!([env]));

    // Only admin tokens manage tokens.
    let write = app
        .post("/tokens", json!({"name": "w", "scope": "write"}))
        .await;
    let write = write.body["secret"].as_str().unwrap().to_string();
    let refused = post_as(
        app,
        &write,
        "/tokens",
        json!({"name": "x", "scope": "admin"}),
    )
    .await;
    assert_envelope(&refused, 403, "permission_error", None);
    assert_eq!(
        refused.body["error"]["message"],
        "A write token may not manage tokens."
    );
}

async fn a_token_stops_at_its_expiry(app: &TestApp, clock: Arc<ManualClock>) {
    let now = clock.now_nanos();
    let at = chrono::DateTime::from_timestamp_nanos(now + 60 * SECOND);
    let created = app
        .post(
            "/tokens",
            json!({"name": "ci", "scope": "write", "expires_at": at.to_rfc3339()}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_timestamp(&created.body["expires_at"]);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    assert_eq!(get_as(app, &secret, "/deployments").await.status, 200);
    clock.advance(59 * SECOND);
    assert_eq!(get_as(app, &secret, "/deployments").await.status, 200);
    // At its expiry exactly, even though its verdict is still cached.
    clock.advance(SECOND);
    let refused = get_as(app, &secret, "/deployments").await;
    assert_envelope(&refused, 401, "authentication_error", None);
    let mut grpc = app.grpc().await;
    let mut request = tonic::Request::new(ListDeploymentsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", bearer(&secret).parse().unwrap());
    let status = grpc.list_deployments(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}
