//! Webhooks end to end: a real receiver on a local port gets signed events
//! for what runs and deployments do, retried until it answers 2xx.

use std::time::Duration;

use runway_api::enums::WebhookEventType;
use runway_api::v1::*;
use runway_server::webhooks::signing;
use runway_store::testing::TestDatabase;
use serde_json::{Value, json};
use tonic::Code;

use crate::receiver::{Received, Receiver};
use crate::support::{TestApp, assert_id, assert_timestamp};
use crate::turns::{claim, claim_and_fail};

pub(crate) fn fast_retries() -> runway_server::ExecutionConfig {
    let mut execution = runway_server::ExecutionConfig::default();
    execution.webhooks.allow_private = true;
    execution.webhooks.retry_delays = vec![Duration::from_millis(50); 7];
    execution
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let app = super::TestApp::start_with_execution(super::TestDatabase::sqlite().await, super::fast_retries()).await;
                super::$name(&app).await;
                app.shutdown().await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = super::TestDatabase::postgres().await else { return };
                let app = super::TestApp::start_with_execution(db, super::fast_retries()).await;
                super::$name(&app).await;
                app.shutdown().await;
            })*
        }
    };
}

on_every_backend!(
    a_run_is_told_signed_and_retried_until_answered,
    consecutive_failures_pause_the_deployment,
    endpoints_are_managed_and_isolated,
);

async fn endpoint(app: &TestApp, url: &str, types: &[WebhookEventType]) -> WebhookEndpoint {
    let mut client = app.webhooks().await;
    let request = CreateWebhookEndpointRequest {
        url: url.to_string(),
        event_types: types.iter().map(|t| t.to_proto()).collect(),
        description: Some("test receiver".into()),
        enabled: None,
    };
    client
        .create_webhook_endpoint(app.authed(request))
        .await
        .unwrap()
        .into_inner()
        .endpoint
        .unwrap()
}

fn verify(secret: &str, got: &Received) {
    let timestamp: i64 = got.timestamp.parse().unwrap();
    let expected = signing::signature(&[secret], &got.id, timestamp, got.raw.as_bytes());
    assert_eq!(got.signature, expected, "signed with the endpoint's secret");
}

async fn a_run_is_told_signed_and_retried_until_answered(app: &TestApp) {
    let receiver = Receiver::start(3).await;
    let hook = endpoint(app, &receiver.url, &[WebhookEventType::All]).await;
    assert_id(&json!(hook.id), "whep_");
    let secret = hook
        .signing_secret
        .clone()
        .expect("the secret is shown on create");
    assert!(secret.starts_with("whsec_"), "{secret}");

    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let run_id = run.body["id"].as_str().unwrap().to_string();

    // The receiver fails three times: the fourth attempt carries the same id.
    let got = receiver
        .until("the started event, answered 200", |got| {
            got.iter().any(|r| r.answered == 200)
        })
        .await;
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got.iter().all(|r| r.id == got[0].id && r.raw == got[0].raw));
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    let started = &got[3];
    verify(&secret, started);
    assert_id(&json!(started.id), "evt_");
    assert_eq!(started.body["id"], started.id.as_str());
    assert_eq!(started.body["type"], "deployment_run.started");
    assert_timestamp(&started.body["created_at"]);
    assert_eq!(started.body["data"]["type"], "deployment_run");
    assert_eq!(started.body["data"]["id"], run_id.as_str());
    assert_eq!(started.body["data"]["status"], "running");
    let keys: Vec<&str> = started
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["created_at", "data", "id", "type"]);

    // The agent completes: `completed`, carrying the run as it ended.
    let turn = claim(app).await;
    let complete = CompleteTurnRequest {
        run_id: turn.run.as_ref().unwrap().id.clone(),
        lease_id: turn.lease_id.clone(),
    };
    app.runner_client()
        .await
        .complete_turn(app.authed(complete))
        .await
        .unwrap();
    let got = receiver
        .until("the completed event", |got| {
            got.iter()
                .any(|r| r.body["type"] == "deployment_run.completed")
        })
        .await;
    let completed = got.last().unwrap();
    verify(&secret, completed);
    assert_ne!(completed.id, started.id);
    assert_eq!(completed.body["data"]["status"], "completed");
    assert_eq!(completed.body["data"]["id"], run_id.as_str());

    // The attempts are listed, newest delivery first.
    let list = ListWebhookDeliveriesRequest {
        endpoint_id: hook.id.clone(),
        page: None,
        status: None,
    };
    // The receiver answered; the worker records answers in batches.
    let deliveries = crate::support::eventually("both answers recorded", async || {
        let deliveries = app
            .webhooks()
            .await
            .list_webhook_deliveries(app.authed(list.clone()))
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        let pending = WebhookDeliveryStatus::Pending as i32;
        (deliveries.len() == 2 && deliveries.iter().all(|d| d.status != pending))
            .then_some(deliveries)
    })
    .await;
    let first = &deliveries[1];
    assert_eq!(first.event_id, started.id);
    assert_eq!(
        first.event_type,
        WebhookEventType::DeploymentRunStarted.to_proto()
    );
    assert_eq!(first.status, WebhookDeliveryStatus::Succeeded as i32);
    assert_eq!(
        first
            .attempts
            .iter()
            .map(|a| a.status_code.unwrap())
            .collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    assert!(
        first
            .attempts
            .iter()
            .all(|a| a.response_body == "ok from the receiver")
    );
    assert!(first.next_attempt_at.is_none());

    // The attempts are counted by outcome (three retried, then two
    // delivered). The counters move just after the recording commits, so
    // read them until they show it (or 10 s pass).
    let root = app.base.trim_end_matches("/api/v1/cloud").to_string();
    let expected = [
        "runway_webhook_attempts_total{outcome=\"retrying\"} 3",
        "runway_webhook_attempts_total{outcome=\"delivered\"} 2",
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app
            .http
            .get(format!("{root}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if expected.iter().all(|line| metrics.contains(line)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{expected:?} in {metrics}"
        );
        tokio::task::yield_now().await;
    }

    // Redelivery sends the same event again, under the same id.
    let again = app
        .webhooks()
        .await
        .redeliver_webhook_delivery(app.authed(RedeliverWebhookDeliveryRequest {
            delivery_id: first.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .delivery
        .unwrap();
    assert_eq!(again.redelivery_of.as_deref(), Some(first.id.as_str()));
    let got = receiver.until("the redelivery", |got| got.len() == 6).await;
    assert_eq!(got[5].id, started.id);
    assert_eq!(got[5].raw, started.raw);
}

async fn consecutive_failures_pause_the_deployment(app: &TestApp) {
    let receiver = Receiver::start(0).await;
    endpoint(
        app,
        &receiver.url,
        &[
            WebhookEventType::DeploymentPaused,
            WebhookEventType::DeploymentRunFailed,
        ],
    )
    .await;
    let seed = app.seed(1).await;
    let dep = app
        .post(
            &format!("/deployments/{}", seed.deployment_id),
            json!({"metadata": {"cas_config": {"config": {"max_consecutive_failures": 2}}}}),
        )
        .await;
    assert_eq!(dep.status, 200, "{}", dep.body);
    assert_eq!(
        dep.body["metadata"]["cas_config"]["config"]["max_consecutive_failures"],
        2
    );
    let fail_one = async |attempt: u32| {
        let run = app
            .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
            .await;
        assert_eq!(run.body["status"], "running", "run {attempt}: {}", run.body);
        claim_and_fail(app).await;
    };
    for attempt in 1..=2 {
        fail_one(attempt).await;
    }
    let paused = app
        .get(&format!("/deployments/{}", seed.deployment_id))
        .await;
    assert_eq!(paused.body["status"], "paused");
    assert_eq!(
        paused.body["paused_reason"],
        json!({"type": "consecutive_failures"})
    );
    let got = receiver
        .until("two failures and the pause", |got| got.len() == 3)
        .await;
    let types: Vec<&str> = got
        .iter()
        .map(|r| r.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "deployment_run.failed")
            .count(),
        2
    );
    let pause = got
        .iter()
        .find(|r| r.body["type"] == "deployment.paused")
        .unwrap();
    assert_eq!(
        pause.body["data"]["paused_reason"]["type"],
        "consecutive_failures"
    );
    assert_eq!(pause.body["data"]["id"], seed.deployment_id.as_str());

    let refused = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(refused.status, 409);
    let unpaused = app
        .post_empty(&format!("/deployments/{}/unpause", seed.deployment_id))
        .await;
    assert_eq!(unpaused.body["status"], "active");
    assert_eq!(unpaused.body["paused_reason"], Value::Null);
    // The count of failures in a row starts again: one more failure does
    // not pause it.
    let stats = |dep: &Value| dep["metadata"]["cas_config"]["stats"].clone();
    assert_eq!(stats(&unpaused.body)["consecutive_failures"], 0);
    fail_one(3).await;
    let after = app
        .get(&format!("/deployments/{}", seed.deployment_id))
        .await;
    assert_eq!(after.body["status"], "active");
    assert_eq!(stats(&after.body)["consecutive_failures"], 1);
    assert_eq!(stats(&after.body)["total_failures"], 3);
}

async fn endpoints_are_managed_and_isolated(app: &TestApp) {
    let receiver = Receiver::start(0).await;
    let hook = endpoint(app, &receiver.url, &[WebhookEventType::DeploymentRunFailed]).await;
    let mut client = app.webhooks().await;
    let got = client
        .get_webhook_endpoint(app.authed(GetWebhookEndpointRequest {
            endpoint_id: hook.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .endpoint
        .unwrap();
    assert_eq!(got.signing_secret, None, "a read never shows the secret");
    assert_eq!(got.url, receiver.url);

    // A test event goes to the endpoint whatever it subscribes to.
    let test = client
        .test_webhook_endpoint(app.authed(TestWebhookEndpointRequest {
            endpoint_id: hook.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .delivery
        .unwrap();
    assert_eq!(test.event_type, WebhookEventType::WebhookTest.to_proto());
    let got = receiver.until("the test event", |got| got.len() == 1).await;
    assert_eq!(got[0].body["type"], "webhook.test");
    assert_eq!(got[0].body["data"]["id"], hook.id.as_str());
    assert!(got[0].body["data"].get("signing_secret").is_none());
    verify(hook.signing_secret.as_deref().unwrap(), &got[0]);

    // Rotation: both secrets sign while they overlap.
    let rotated = client
        .rotate_webhook_endpoint_secret(app.authed(RotateWebhookEndpointSecretRequest {
            endpoint_id: hook.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .endpoint
        .unwrap();
    let new_secret = rotated.signing_secret.clone().unwrap();
    assert_ne!(Some(&new_secret), hook.signing_secret.as_ref());
    assert!(rotated.previous_secret_expires_at.is_some());
    client
        .test_webhook_endpoint(app.authed(TestWebhookEndpointRequest {
            endpoint_id: hook.id.clone(),
        }))
        .await
        .unwrap();
    let got = receiver
        .until("the second test event", |got| got.len() == 2)
        .await;
    let timestamp: i64 = got[1].timestamp.parse().unwrap();
    let both = signing::signature(
        &[&new_secret, hook.signing_secret.as_deref().unwrap()],
        &got[1].id,
        timestamp,
        got[1].raw.as_bytes(),
    );
    assert_eq!(got[1].signature, both);

    // Another organization sees nothing.
    let other = app.other_org_token().await;
    let mut request = tonic::Request::new(GetWebhookEndpointRequest {
        endpoint_id: hook.id.clone(),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {other}").parse().unwrap());
    let err = client.get_webhook_endpoint(request).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Delete: gone, with its deliveries.
    client
        .delete_webhook_endpoint(app.authed(DeleteWebhookEndpointRequest {
            endpoint_id: hook.id.clone(),
        }))
        .await
        .unwrap();
    let err = client
        .list_webhook_deliveries(app.authed(ListWebhookDeliveriesRequest {
            endpoint_id: hook.id.clone(),
            page: None,
            status: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}
