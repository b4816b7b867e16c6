//! `Idempotency-Key` on create and run.

use serde_json::json;

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope};

on_every_backend!(
    a_key_replays_its_first_answer_and_refuses_other_requests,
    parallel_requests_with_one_key_create_one_run,
);

async fn a_key_replays_its_first_answer_and_refuses_other_requests(app: &TestApp) {
    let seed = app.seed(5).await;
    let auth = format!("Bearer {}", app.token);
    let run = |deployment: String, key: &'static str| {
        let auth = auth.clone();
        async move {
            app.call(
                "POST",
                &format!("/deployments/{deployment}/run"),
                None,
                &[("authorization", &auth), ("idempotency-key", key)],
            )
            .await
        }
    };
    let first = run(seed.deployment_id.clone(), "run-key-1").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = run(seed.deployment_id.clone(), "run-key-1").await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["id"], first.body["id"], "same key, same run");
    let runs = app
        .get(&format!("/deployments/{}/runs", seed.deployment_id))
        .await;
    assert_eq!(
        runs.body["data"].as_array().unwrap().len(),
        1,
        "the replay made no second run"
    );
    // A replay answers the first run even where a new trigger is refused.
    let paused = app
        .post_empty(&format!("/deployments/{}/pause", seed.deployment_id))
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    let after_pause = run(seed.deployment_id.clone(), "run-key-1").await;
    assert_eq!(after_pause.status, 200, "{}", after_pause.body);
    assert_eq!(after_pause.body["id"], first.body["id"]);
    let refused = run(seed.deployment_id.clone(), "run-key-2").await;
    assert_envelope(&refused, 409, "conflict_error", None);
    let unpaused = app
        .post_empty(&format!("/deployments/{}/unpause", seed.deployment_id))
        .await;
    assert_eq!(unpaused.status, 200, "{}", unpaused.body);

    // The same key for a different request (another deployment) is refused.
    let other = app
        .deployment(&seed.agent_id, &seed.environment_id, 5)
        .await;
    let misuse = run(other, "run-key-1").await;
    assert_envelope(
        &misuse,
        400,
        "invalid_request_error",
        Some("Idempotency-Key"),
    );

    // Create: same body replays, different body is refused.
    let body = json!({"name": "nightly", "agent": seed.agent_id, "environment_id": seed.environment_id,
                      "initial_events": [{"type": "user.message", "content": "go"}]});
    let create = |body: serde_json::Value| {
        let auth = auth.clone();
        async move {
            app.call(
                "POST",
                "/deployments",
                Some(body.to_string()),
                &[("authorization", &auth), ("idempotency-key", "create-1")],
            )
            .await
        }
    };
    let made = create(body.clone()).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let replay = create(body.clone()).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body["id"], made.body["id"]);
    let mut changed = body;
    changed["name"] = json!("weekly");
    assert_envelope(
        &create(changed).await,
        400,
        "invalid_request_error",
        Some("Idempotency-Key"),
    );

    // A key that is not printable ASCII is refused.
    let bad = app
        .call(
            "POST",
            &format!("/deployments/{}/run", seed.deployment_id),
            None,
            &[("authorization", &auth), ("idempotency-key", "has space")],
        )
        .await;
    assert_envelope(&bad, 400, "invalid_request_error", Some("Idempotency-Key"));
    // Two keys: which one would hold is not guessed.
    let two = app
        .call(
            "POST",
            &format!("/deployments/{}/run", seed.deployment_id),
            None,
            &[
                ("authorization", &auth),
                ("idempotency-key", "first"),
                ("idempotency-key", "second"),
            ],
        )
        .await;
    assert_envelope(&two, 400, "invalid_request_error", Some("Idempotency-Key"));
    assert_eq!(
        two.body["error"]["message"],
        "Send one Idempotency-Key header, not several."
    );
}

/// Parallel requests with one key: exactly one run is created; every answer
/// is that run (replayed) or a 409 while the first is in flight.
async fn parallel_requests_with_one_key_create_one_run(app: &TestApp) {
    let seed = app.seed(50).await;
    let auth = format!("Bearer {}", app.token);
    let path = format!("/deployments/{}/run", seed.deployment_id);
    let headers = [
        ("authorization", auth.as_str()),
        ("idempotency-key", "burst"),
    ];
    let answers =
        futures::future::join_all((0..16).map(|_| app.call("POST", &path, None, &headers))).await;
    let mut ids = std::collections::HashSet::new();
    for a in &answers {
        match a.status {
            200 => {
                ids.insert(a.body["id"].as_str().unwrap().to_string());
            }
            409 => assert_envelope(a, 409, "conflict_error", None),
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let runs = app.get(&format!("{path}s")).await;
    assert_eq!(runs.body["data"].as_array().unwrap().len(), 1);
}
