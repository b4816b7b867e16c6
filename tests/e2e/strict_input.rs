//! What a request may be: an object body (never an array read field by
//! field), up to the documented 32 MiB end to end, with every rejection in
//! the envelope and in the API's words; and every NOT_FOUND reason over gRPC
//! spelled UPPER_SNAKE.

use runway_api::v1::agent_service_client::AgentServiceClient;
use runway_api::v1::environment_service_client::EnvironmentServiceClient;
use runway_api::v1::session_service_client::SessionServiceClient;
use runway_api::v1::*;
use serde_json::{Value, json};
use tonic_types::StatusExt;

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope};

on_every_backend!(
    array_bodies_are_refused,
    bodies_up_to_32_mib_are_served,
    messages_speak_api_words,
    malformed_paths_and_headers_answer_the_envelope,
    every_not_found_reason_is_upper_snake,
    ids_with_nul_and_json_too_deep_are_refused,
);

async fn array_bodies_are_refused(app: &TestApp) {
    let seed = app.seed(1).await;
    let dep = format!("/deployments/{}", seed.deployment_id);
    let cases = [
        ("/environments", json!(["arr-env", "desc"])),
        ("/agents", json!(["a", null, "claude-sonnet-4-5"])),
        ("/deployments", json!(["d"])),
        (dep.as_str(), json!(["renamed"])),
        // An action's body is checked before its id.
        ("/deployments/x/pause", json!([])),
    ];
    for (path, body) in cases {
        let resp = app.post(path, body).await;
        assert_envelope(&resp, 400, "invalid_request_error", None);
        assert_eq!(
            resp.body["error"]["message"], "The request body must be a JSON object.",
            "{path}"
        );
    }
    // Nested objects too: a schedule given as an array names its field.
    let resp = app
        .post(&dep, json!({"schedule": ["0 9 * * *", "UTC"]}))
        .await;
    assert_envelope(&resp, 400, "invalid_request_error", Some("schedule"));
    let resp = app
        .post(
            &dep,
            json!({"metadata": {"cas_config": {"config": [5, 0, 1000]}}}),
        )
        .await;
    assert_envelope(
        &resp,
        400,
        "invalid_request_error",
        Some("metadata.cas_config.config"),
    );
    let resp = app
        .post(&dep, json!({"initial_events": [["user.message", "hi"]]}))
        .await;
    assert_envelope(
        &resp,
        400,
        "invalid_request_error",
        Some("initial_events[0]"),
    );
    // Nothing was created or changed by any of them.
    let envs = app.get("/environments?limit=100").await;
    assert_eq!(
        envs.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        envs.body
    );
    let d = app.get(&dep).await;
    assert_eq!(d.body["schedule"], Value::Null);
}

async fn bodies_up_to_32_mib_are_served(app: &TestApp) {
    let seed = app.seed(1).await;
    // 50 events of 256 KiB each (the most an event holds, its content as
    // JSON) and a 10 MiB resource: a 22.5 MiB deployment, valid, accepted
    // whole.
    let text = "x".repeat(256 * 1024 - 2);
    let events: Vec<Value> = (0..50)
        .map(|_| json!({"type": "user.message", "content": text}))
        .collect();
    let blob = "b".repeat(10 * 1024 * 1024);
    let body = json!({
        "name": "big",
        "agent": seed.agent_id,
        "environment_id": seed.environment_id,
        "initial_events": events,
        "resources": [{"type": "blob", "data": blob}],
    });
    assert!(body.to_string().len() > 22 * 1024 * 1024);
    let created = app.post("/deployments", body.clone()).await;
    assert_eq!(created.status, 200, "{}", created.body["error"]);
    let id = created.body["id"].as_str().unwrap().to_string();
    let read = app.get(&format!("/deployments/{id}")).await;
    assert_eq!(read.status, 200);
    let read_events = read.body["initial_events"].as_array().unwrap();
    assert_eq!(read_events.len(), 50);
    assert!(read_events.iter().all(|e| e["content"] == text.as_str()));
    assert_eq!(read.body["resources"][0]["data"], blob.as_str());
    // One byte more in one event: refused, naming it.
    let mut over = body;
    over["initial_events"][3]["content"] = json!(format!("{text}x"));
    let refused = app.post("/deployments", over).await;
    assert_envelope(
        &refused,
        400,
        "invalid_request_error",
        Some("initial_events[3].content"),
    );

    // Over 32 MiB: the documented 400, in the envelope.
    let huge = format!("{{\"name\":\"{}\"}}", "y".repeat(33 * 1024 * 1024));
    let auth = format!("Bearer {}", app.token);
    let resp = app
        .call(
            "POST",
            "/environments",
            Some(huge),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&resp, 400, "invalid_request_error", None);
    assert_eq!(
        resp.body["error"]["message"],
        "Request body exceeds 32 MiB."
    );
}

async fn messages_speak_api_words(app: &TestApp) {
    let seed = app.seed(1).await;
    let dep = format!("/deployments/{}", seed.deployment_id);
    let cases = [
        (
            json!({"metadata": {"cas_config": {"config": {"max_concurrent": "x"}}}}),
            "metadata.cas_config.config.max_concurrent",
        ),
        (
            json!({"agent": {"id": seed.agent_id, "version": 4294967297u64}}),
            "agent.version",
        ),
        (json!({"name": 5}), "name"),
        (json!({"vault_ids": {"a": 1}}), "vault_ids"),
    ];
    for (body, param) in cases {
        let resp = app.post(&dep, body.clone()).await;
        assert_envelope(&resp, 400, "invalid_request_error", Some(param));
        let message = resp.body["error"]["message"].as_str().unwrap();
        for internal in ["i32", "i64", "u32", "struct", "sequence", "map", "Body"] {
            assert!(
                !message.contains(internal),
                "{body}: {message:?} leaks {internal:?}"
            );
        }
    }
    // Names must show something: NUL and invisible-only names are refused.
    for name in [
        "\u{0}",
        "a\u{0}b",
        "\u{200b}\u{200b}",
        " \t ",
        "\u{3164}",
        "\u{2800}",
    ] {
        let resp = app.post("/environments", json!({"name": name})).await;
        assert_envelope(&resp, 400, "invalid_request_error", Some("name"));
    }
    // A filter by an id that names nothing is an empty list, whatever the id.
    for query in ["agent_id=garbage", "agent_id=agent_0"] {
        let resp = app.get(&format!("/deployments?{query}")).await;
        assert_eq!(resp.status, 200, "{query}: {}", resp.body);
        assert_eq!(resp.body["data"], json!([]));
    }
    let resp = app.get("/deployment_runs?deployment_id=garbage").await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["data"], json!([]));
}

async fn malformed_paths_and_headers_answer_the_envelope(app: &TestApp) {
    // Invalid UTF-8 in a path id: a malformed id is an unknown id.
    for path in [
        "/deployments/%FF%FE",
        "/deployment_runs/%C3%28",
        "/deployments/dep_1/runs/%FF",
    ] {
        let resp = app.get(path).await;
        assert_envelope(&resp, 404, "not_found_error", None);
    }
    // A header far past any sane size: refused in the envelope.
    let auth = format!("Bearer {}", app.token);
    let big = "z".repeat(600 * 1024);
    let resp = app
        .call(
            "GET",
            "/deployments",
            None,
            &[("authorization", &auth), ("x-padding", &big)],
        )
        .await;
    assert_envelope(&resp, 431, "invalid_request_error", None);
}

async fn every_not_found_reason_is_upper_snake(app: &TestApp) {
    let seed = app.seed(1).await;
    let channel = tonic::transport::Channel::from_shared(app.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let missing_run = "drun_00000000000000000000000000000000".to_string();
    let missing_dep = "dep_00000000000000000000000000000000".to_string();
    let mut deployments = app.grpc().await;
    let mut agents = AgentServiceClient::new(channel.clone());
    let mut environments = EnvironmentServiceClient::new(channel.clone());
    let mut sessions = SessionServiceClient::new(channel);

    let statuses = [
        deployments
            .get_deployment(app.authed(GetDeploymentRequest {
                deployment_id: missing_dep.clone(),
            }))
            .await
            .unwrap_err(),
        deployments
            .get_deployment_run(app.authed(GetDeploymentRunRequest {
                run_id: missing_run.clone(),
                deployment_id: None,
            }))
            .await
            .unwrap_err(),
        agents
            .get_agent(app.authed(GetAgentRequest {
                agent_id: "agent_00000000000000000000000000000000".into(),
            }))
            .await
            .unwrap_err(),
        deployments
            .update_deployment(app.authed(UpdateDeploymentRequest {
                deployment_id: seed.deployment_id.clone(),
                agent: Some(AgentRef {
                    id: seed.agent_id.clone(),
                    version: 99,
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["agent".into()],
                }),
                ..Default::default()
            }))
            .await
            .unwrap_err(),
        environments
            .get_environment(app.authed(GetEnvironmentRequest {
                environment_id: "env_00000000000000000000000000000000".into(),
            }))
            .await
            .unwrap_err(),
        sessions
            .get_session(app.authed(GetSessionRequest {
                session_id: "sess_00000000000000000000000000000000".into(),
            }))
            .await
            .unwrap_err(),
    ];
    let reasons: Vec<String> = statuses
        .iter()
        .map(|s| {
            assert_eq!(s.code(), tonic::Code::NotFound, "{s:?}");
            s.get_error_details().error_info().unwrap().reason.clone()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "DEPLOYMENT_NOT_FOUND",
            "DEPLOYMENT_RUN_NOT_FOUND",
            "AGENT_NOT_FOUND",
            "AGENT_VERSION_NOT_FOUND",
            "ENVIRONMENT_NOT_FOUND",
            "SESSION_NOT_FOUND",
        ]
    );
}

/// No text holds a NUL (PostgreSQL's cannot): an id filter, a paging anchor
/// or a cursor with one is a 400 naming it, and a runner's report a lost
/// lease, never a database error. JSON nests at most 24 deep, so that
/// every message carrying it decodes again; an instant is stored as given
/// or refused.
async fn ids_with_nul_and_json_too_deep_are_refused(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let session = run.body["session_id"].as_str().expect("a started run");
    // "a|1|drun_\0", URL-safe base64: a cursor's shape around a NUL.
    let nul_cursor = "YXwxfGRydW5fAA";
    let cases = [
        ("/deployments?agent_id=agent_%00".to_string(), "agent_id"),
        (
            "/deployment_runs?deployment_id=dep_%00".to_string(),
            "deployment_id",
        ),
        ("/deployment_runs?after_id=drun_%00".to_string(), "after_id"),
        (
            format!("/deployments/{}/runs?before_id=%00", seed.deployment_id),
            "before_id",
        ),
        (format!("/deployment_runs?page={nul_cursor}"), "page"),
        (
            format!("/sessions/{session}/events?after_id=evt_%00"),
            "after_id",
        ),
        (
            format!("/sessions/{session}/events/stream?after_id=evt_%00"),
            "after_id",
        ),
    ];
    for (path, param) in cases {
        let resp = app.get(&path).await;
        assert_envelope(&resp, 400, "invalid_request_error", Some(param));
        assert!(
            resp.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("NUL") || m.contains("cursor")),
            "{path}: {}",
            resp.body
        );
    }

    let mut runner = app.runner_client().await;
    let lost = runner
        .heartbeat(app.authed(HeartbeatRequest {
            run_id: "drun_\0".into(),
            lease_id: "lease".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(lost.code(), tonic::Code::FailedPrecondition, "{lost:?}");

    // 24 levels of objects and arrays are kept, and read back over gRPC
    // (its decoder stops at 100 nested messages); 25 are refused.
    // A list of one content block around `levels - 2` more levels.
    let nested = |levels: usize| {
        let inner = (0..levels - 2).fold(json!("go"), |inner, level| {
            if level % 2 == 0 {
                json!([inner])
            } else {
                json!({ "k": inner })
            }
        });
        json!([{ "type": "text", "k": inner }])
    };
    let deployment = |content: Value| {
        json!({"name": "deep", "agent": seed.agent_id, "environment_id": seed.environment_id,
               "initial_events": [{"type": "user.message", "content": content}]})
    };
    let deep = app.post("/deployments", deployment(nested(25))).await;
    assert_envelope(
        &deep,
        400,
        "invalid_request_error",
        Some("initial_events[0].content"),
    );
    let kept = app.post("/deployments", deployment(nested(24))).await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    let id = kept.body["id"].as_str().unwrap().to_string();
    let read = app
        .grpc()
        .await
        .get_deployment(app.authed(GetDeploymentRequest { deployment_id: id }))
        .await
        .expect("decodes");
    let content = read.into_inner().deployment.unwrap().initial_events[0]
        .content
        .clone()
        .unwrap();
    assert_eq!(runway_api::json_value::from_proto(&content), nested(24));

    // Free-form JSON may hold a NUL in a string or a key: stored escaped,
    // read back as given (on both databases).
    let content = json!([{"type": "text", "text": "x\u{0}y", "k\u{0}": [1, "\u{0}"]}]);
    let kept = app.post("/deployments", deployment(content.clone())).await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    let read = app
        .get(&format!(
            "/deployments/{}",
            kept.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(read.body["initial_events"][0]["content"], content);
    // A vault id is an id: no control character.
    let refused = app
        .post(
            "/deployments",
            json!({"name": "v", "agent": seed.agent_id, "environment_id": seed.environment_id,
                   "initial_events": [{"type": "user.message", "content": "go"}],
                   "vault_ids": ["vault\u{0}"]}),
        )
        .await;
    assert_envelope(&refused, 400, "invalid_request_error", Some("vault_ids[0]"));

    // Past what Unix nanoseconds hold (2262): refused, not moved.
    let far = app
        .post(
            "/tokens",
            json!({"name": "far", "scope": "read", "expires_at": "9999-01-01T00:00:00Z"}),
        )
        .await;
    assert_envelope(&far, 400, "invalid_request_error", Some("expires_at"));
    // A single resource takes no paging parameters.
    let paged = app.get("/retention?limit=5").await;
    assert_envelope(&paged, 400, "invalid_request_error", Some("limit"));
}
