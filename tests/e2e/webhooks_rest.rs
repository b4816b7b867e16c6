//! Webhooks over REST: the endpoints API in the documented JSON shapes and
//! envelope, deliveries with their attempts, redelivery, and the URL rules.

use std::collections::BTreeSet;

use runway_api::enums::WebhookEventType;
use runway_api::v1::CreateWebhookEndpointRequest;
use runway_store::testing::TestDatabase;
use serde_json::{Value, json};
use tonic::Code;

use crate::receiver::Receiver;
use crate::support::{Resp, TestApp, assert_envelope, assert_id, assert_timestamp, keys};
use crate::webhooks::fast_retries;

const ENDPOINT_KEYS: [&str; 11] = [
    "created_at",
    "description",
    "disabled_reason",
    "enabled",
    "event_types",
    "failing_since",
    "id",
    "previous_secret_expires_at",
    "type",
    "updated_at",
    "url",
];

const DELIVERY_KEYS: [&str; 11] = [
    "attempts",
    "created_at",
    "endpoint_id",
    "event_id",
    "event_type",
    "id",
    "next_attempt_at",
    "redelivery_of",
    "status",
    "type",
    "updated_at",
];

fn endpoint_keys(with_secret: bool) -> BTreeSet<&'static str> {
    let mut expected = BTreeSet::from(ENDPOINT_KEYS);
    if with_secret {
        expected.insert("signing_secret");
    }
    expected
}

/// Reads the endpoint's deliveries until `done` holds for the page.
async fn deliveries_until(
    app: &TestApp,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    crate::support::eventually(what, async || {
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        done(&page.body).then_some(page.body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_deliveries_are_managed_over_rest() {
    let app = TestApp::start_with_execution(TestDatabase::sqlite().await, fast_retries()).await;
    let receiver = Receiver::start(0).await;

    let created = app
        .post(
            "/webhooks/endpoints",
            json!({"url": receiver.url,
                   "event_types": ["deployment_run.skipped", "deployment.paused"],
                   "description": "ops channel"}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let hook = created.body;
    assert_eq!(keys(&hook), endpoint_keys(true), "{hook}");
    assert_id(&hook["id"], "whep_");
    assert_eq!(hook["type"], "webhook_endpoint");
    assert_eq!(hook["url"], receiver.url.as_str());
    assert_eq!(
        hook["event_types"],
        json!(["deployment_run.skipped", "deployment.paused"])
    );
    assert_eq!(hook["description"], "ops channel");
    assert_eq!(hook["enabled"], true);
    for absent in [
        "disabled_reason",
        "failing_since",
        "previous_secret_expires_at",
    ] {
        assert_eq!(hook[absent], Value::Null, "{absent}");
    }
    assert_timestamp(&hook["created_at"]);
    assert_eq!(hook["updated_at"], hook["created_at"]);
    let secret = hook["signing_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = hook["id"].as_str().unwrap().to_string();
    let path = format!("/webhooks/endpoints/{id}");

    // Reads and lists never show the secret.
    let mut unsigned = hook.clone();
    unsigned.as_object_mut().unwrap().remove("signing_secret");
    let got = app.get(&path).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, unsigned);
    // An update that changes nothing answers the endpoint as it is: its
    // types in another order are the same subscription.
    let same = app
        .post(
            &path,
            json!({"description": "ops channel", "enabled": true,
                   "event_types": ["deployment.paused", "deployment_run.skipped"]}),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.body, unsigned);
    let list = app.get("/webhooks/endpoints").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"], json!([unsigned]));
    assert_eq!(list.body["next_page"], Value::Null);

    // A run recorded skipped is told, with the run as GET renders it.
    let seed = app.seed(1).await;
    let trigger = format!("/deployments/{}/run", seed.deployment_id);
    assert_eq!(app.post_empty(&trigger).await.status, 200);
    let skipped = app.post_empty(&trigger).await;
    assert_eq!(skipped.body["status"], "skipped", "{}", skipped.body);
    let got = receiver
        .until("the skipped run", |got| got.len() == 1)
        .await;
    let run = app
        .get(&format!(
            "/deployment_runs/{}",
            skipped.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got[0].body["type"], "deployment_run.skipped");
    assert_eq!(got[0].body["data"], run.body);

    let deliveries_path = format!("{path}/deliveries");
    let page = deliveries_until(&app, &deliveries_path, "the answer recorded", |page| {
        page["data"][0]["status"] == "succeeded"
    })
    .await;
    let delivery = &page["data"][0];
    assert_eq!(keys(delivery), BTreeSet::from(DELIVERY_KEYS), "{delivery}");
    assert_id(&delivery["id"], "whdl_");
    assert_eq!(delivery["type"], "webhook_delivery");
    assert_eq!(delivery["endpoint_id"], id.as_str());
    assert_eq!(delivery["event_id"], got[0].id.as_str());
    assert_eq!(delivery["event_type"], "deployment_run.skipped");
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert_eq!(delivery["redelivery_of"], Value::Null);
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{delivery}");
    assert_eq!(
        keys(&attempts[0]),
        BTreeSet::from([
            "attempted_at",
            "error",
            "latency_ms",
            "response_body",
            "status_code"
        ])
    );
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(attempts[0]["response_body"], "ok from the receiver");
    assert_eq!(attempts[0]["error"], Value::Null);
    assert!(attempts[0]["latency_ms"].as_i64().unwrap() >= 0);
    assert_timestamp(&attempts[0]["attempted_at"]);
    let pending = app.get(&format!("{deliveries_path}?status=pending")).await;
    assert_eq!(pending.body["data"], json!([]), "{}", pending.body);
    let bad_status = app.get(&format!("{deliveries_path}?status=late")).await;
    assert_envelope(&bad_status, 400, "invalid_request_error", Some("status"));

    // Redelivery: a new delivery of the same event, the same webhook-id.
    let delivery_id = delivery["id"].as_str().unwrap();
    let again = app
        .post_empty(&format!("/webhooks/deliveries/{delivery_id}/redeliver"))
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(keys(&again.body), BTreeSet::from(DELIVERY_KEYS));
    assert_eq!(again.body["redelivery_of"], delivery_id);
    assert_eq!(again.body["event_id"], delivery["event_id"]);
    assert_eq!(again.body["status"], "pending");
    assert_eq!(again.body["attempts"], json!([]));
    let got = receiver.until("the redelivery", |got| got.len() == 2).await;
    assert_eq!(got[1].id, got[0].id);
    assert_eq!(got[1].raw, got[0].raw, "the same bytes");

    // Update: only the fields present change; null clears the description.
    let updated = app
        .post(
            &path,
            json!({"enabled": false, "description": null, "event_types": ["*"]}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(keys(&updated.body), endpoint_keys(false));
    assert_eq!(updated.body["enabled"], false);
    assert_eq!(updated.body["disabled_reason"], "manual");
    assert_eq!(updated.body["description"], Value::Null);
    assert_eq!(updated.body["event_types"], json!(["*"]));
    assert_eq!(updated.body["url"], receiver.url.as_str());
    // A disabled endpoint is not tested; a redelivery to it waits, pending,
    // until it is enabled.
    let test = app.post_empty(&format!("{path}/test")).await;
    assert_envelope(&test, 409, "conflict_error", None);
    let parked = app
        .post_empty(&format!("/webhooks/deliveries/{delivery_id}/redeliver"))
        .await;
    assert_eq!(parked.status, 200, "{}", parked.body);
    assert_eq!(parked.body["status"], "pending");
    assert_eq!(parked.body["next_attempt_at"], parked.body["created_at"]);
    let pending = app.get(&format!("{deliveries_path}?status=pending")).await;
    assert_eq!(pending.body["data"][0], parked.body, "{}", pending.body);
    let enabled = app.post(&path, json!({"enabled": true})).await;
    assert_eq!(enabled.body["disabled_reason"], Value::Null);
    let got = receiver
        .until("the parked redelivery", |got| got.len() == 3)
        .await;
    assert_eq!(got[2].id, got[0].id);
    let test = app.post(&format!("{path}/test"), json!({})).await;
    assert_eq!(test.status, 200, "{}", test.body);
    assert_eq!(test.body["event_type"], "webhook.test");
    let got = receiver.until("the test event", |got| got.len() == 4).await;
    assert_eq!(got[3].body["type"], "webhook.test");

    // Rotation answers the new secret, once.
    let rotated = app.post_empty(&format!("{path}/rotate_secret")).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(keys(&rotated.body), endpoint_keys(true));
    assert_ne!(rotated.body["signing_secret"], secret.as_str());
    assert_timestamp(&rotated.body["previous_secret_expires_at"]);
    assert!(app.get(&path).await.body.get("signing_secret").is_none());

    // Bad input, in the envelope, naming the field.
    let cases: [(Value, &str); 6] = [
        (json!({"event_types": ["webhook.test"]}), "event_types[0]"),
        (
            json!({"event_types": ["*", "deployment.paused"]}),
            "event_types",
        ),
        (
            json!({"event_types": ["deployment.paused", "deployment.paused"]}),
            "event_types[1]",
        ),
        (json!({"event_types": []}), "event_types"),
        (json!({"enabled": null}), "enabled"),
        (json!({"secret": "mine"}), "secret"),
    ];
    for (body, param) in cases {
        let answer = app.post(&path, body.clone()).await;
        assert_envelope(&answer, 400, "invalid_request_error", Some(param));
    }
    let missing = app
        .post("/webhooks/endpoints", json!({"url": receiver.url}))
        .await;
    assert_envelope(&missing, 400, "invalid_request_error", Some("event_types"));

    // Another organization sees nothing; delete removes it and its deliveries.
    let other = app.other_org_token().await;
    let auth = format!("Bearer {other}");
    let foreign = app
        .call("GET", &path, None, &[("authorization", &auth)])
        .await;
    assert_envelope(&foreign, 404, "not_found_error", Some("id"));
    let deleted = app.call("DELETE", &path, None, &[]).await;
    assert_eq!(deleted.status, 401, "DELETE needs the token too");
    let deleted = delete(&app, &path).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        deleted.body,
        json!({"id": id, "type": "webhook_endpoint_deleted"})
    );
    for gone in [path.clone(), deliveries_path] {
        assert_envelope(&app.get(&gone).await, 404, "not_found_error", Some("id"));
    }
    let redeliver = app
        .post_empty(&format!("/webhooks/deliveries/{delivery_id}/redeliver"))
        .await;
    assert_envelope(&redeliver, 404, "not_found_error", Some("id"));
    app.shutdown().await;
}

async fn delete(app: &TestApp, path: &str) -> Resp {
    let auth = format!("Bearer {}", app.token);
    app.call("DELETE", path, None, &[("authorization", &auth)])
        .await
}

/// By default a URL must be https to a public address, checked after DNS:
/// every refusal is a 400 naming `url` (over gRPC, `BadRequest` field `url`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_urls_are_refused_by_default() {
    let app = TestApp::sqlite().await;
    let mut client = app.webhooks().await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://169.254.169.254/latest",
        "https://[::1]/hook",
        "https://10.0.0.1/hook",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[2002:7f00:1::]/hook",
        "https://[2001::1]/hook",
        "https://[100::1]/hook",
        "https://8.8.8.8:0/hook",
        "https://8.8.8.8/hook\u{0}",
        "https://8.8.8.8/\r\nX-Injected: 1",
        "ftp://example.com/hook",
        "not a url",
        "",
    ] {
        let answer = app
            .post(
                "/webhooks/endpoints",
                json!({"url": url, "event_types": ["*"]}),
            )
            .await;
        assert_envelope(&answer, 400, "invalid_request_error", Some("url"));

        let request = CreateWebhookEndpointRequest {
            url: url.into(),
            event_types: vec![WebhookEventType::All.to_proto()],
            description: None,
            enabled: None,
        };
        let status = client
            .create_webhook_endpoint(app.authed(request))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{url}");
        let details = tonic_types::StatusExt::get_error_details(&status);
        let field = &details
            .bad_request()
            .expect("names the field")
            .field_violations[0];
        assert_eq!(field.field, "url", "{url}");
    }
    // Nothing was created.
    let list = app.get("/webhooks/endpoints").await;
    assert_eq!(list.body["data"], json!([]));
    app.shutdown().await;
}

/// A creation replayed with its `Idempotency-Key` shows the secret it
/// showed first (the client may not have had that answer); once the
/// secret was rotated, a replay shows no secret: 409, not the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_creation_never_shows_a_rotated_secret() {
    let app = TestApp::start_with_execution(TestDatabase::sqlite().await, fast_retries()).await;
    let auth = format!("Bearer {}", app.token);
    let body = json!({"url": "https://hooks.example.com/runway", "event_types": ["*"]}).to_string();
    let create = async || {
        app.call(
            "POST",
            "/webhooks/endpoints",
            Some(body.clone()),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("idempotency-key", "hook-1"),
            ],
        )
        .await
    };
    let first = create().await;
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = create().await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.body["id"], first.body["id"]);
    assert_eq!(replay.body["signing_secret"], first.body["signing_secret"]);

    let id = first.body["id"].as_str().unwrap();
    let rotated = app
        .post_empty(&format!("/webhooks/endpoints/{id}/rotate_secret"))
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let refused = create().await;
    assert_envelope(&refused, 409, "conflict_error", None);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("rotated"), "{message}");
    assert!(
        !refused.body.to_string().contains("whsec_"),
        "{}",
        refused.body
    );
    // Nothing else was created.
    let list = app.get("/webhooks/endpoints").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    app.shutdown().await;
}
