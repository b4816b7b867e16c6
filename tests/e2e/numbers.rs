//! An integer field takes what JSON Schema's `integer` (the OpenAPI
//! document's type) allows: `2` and `2.0` alike, never `2.5`.

use serde_json::json;

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope};

on_every_backend!(integers_may_be_written_as_whole_floats);

async fn integers_may_be_written_as_whole_floats(app: &TestApp) {
    let seed = app.seed(1).await;
    let created = app
        .post(
            "/deployments",
            json!({
                "name": "floats",
                "agent": {"id": seed.agent_id, "type": "agent", "version": 1.0},
                "environment_id": seed.environment_id,
                "initial_events": [{"type": "user.message", "content": "hi"}],
                "metadata": {"cas_config": {
                    "config": {
                        "max_concurrent": 2.0,
                        "max_retries": 1e0,
                        "timeout_ms": 60000.0,
                        "max_consecutive_failures": 3.0,
                    },
                    "retention": {"keep_days": 30.0, "keep_failed_days": null, "max_runs": 1e3},
                }},
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let cas = &created.body["metadata"]["cas_config"];
    assert_eq!(
        cas["config"],
        json!({
            "max_concurrent": 2,
            "max_retries": 1,
            "timeout_ms": 60000,
            "max_consecutive_failures": 3,
        })
    );
    assert_eq!(
        cas["retention"],
        json!({"keep_days": 30, "keep_failed_days": null, "max_runs": 1000})
    );
    assert_eq!(created.body["agent"]["version"], json!(1));

    let policy = app
        .post("/retention", json!({"keep_days": 100.0, "max_runs": 5e4}))
        .await;
    assert_eq!(policy.status, 200, "{:?}", policy.body);
    assert_eq!(policy.body["keep_days"], json!(100));
    assert_eq!(policy.body["max_runs"], json!(50000));

    let id = created.body["id"].as_str().unwrap();
    let fraction = app
        .post(
            &format!("/deployments/{id}"),
            json!({"metadata": {"cas_config": {"config": {"max_concurrent": 2.5}}}}),
        )
        .await;
    assert_envelope(
        &fraction,
        400,
        "invalid_request_error",
        Some("metadata.cas_config.config.max_concurrent"),
    );
    assert_eq!(
        fraction.body["error"]["message"],
        "invalid value: floating point `2.5`, expected an integer"
    );
    let beyond = app
        .post(
            &format!("/deployments/{id}"),
            json!({"metadata": {"cas_config": {"config": {"max_concurrent": 3000000000u64}}}}),
        )
        .await;
    assert_envelope(
        &beyond,
        400,
        "invalid_request_error",
        Some("metadata.cas_config.config.max_concurrent"),
    );
    assert_eq!(
        beyond.body["error"]["message"],
        "invalid value: integer `3000000000`, expected an integer within the field's range"
    );
    let version = app
        .post(
            &format!("/deployments/{id}"),
            json!({"agent": {"id": seed.agent_id, "type": "agent", "version": 1.5}}),
        )
        .await;
    assert_envelope(
        &version,
        400,
        "invalid_request_error",
        Some("agent.version"),
    );
}
