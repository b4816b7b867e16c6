//! What operators and tools rely on: probes, gRPC health and reflection.

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_health_and_reflection_answer_without_auth() {
    let app = TestApp::sqlite().await;
    let root = app.base.trim_end_matches("/api/v1/cloud").to_string();
    let live = app.call("GET", &format!("{root}/healthz"), None, &[]).await;
    assert_eq!(
        (live.status, live.body.clone()),
        (200, json!({"status": "ok"}))
    );
    let ready = app.call("GET", &format!("{root}/readyz"), None, &[]).await;
    assert_eq!(
        (ready.status, ready.body.clone()),
        (200, json!({"status": "ready"}))
    );

    let channel = tonic::transport::Endpoint::from_shared(app.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "runway.v1.DeploymentService", "runway.v1.RunnerService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }

    let mut reflection = ServerReflectionClient::new(channel);
    let ask = |request: MessageRequest| {
        tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        }])
    };
    let mut answers = reflection
        .server_reflection_info(ask(MessageRequest::ListServices(String::new())))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "runway.v1.DeploymentService",
        "runway.v1.AgentService",
        "runway.v1.EnvironmentService",
        "runway.v1.RunnerService",
        "runway.v1.SessionService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    let mut answers = reflection
        .server_reflection_info(ask(MessageRequest::FileContainingSymbol(
            "runway.v1.DeploymentRun".into(),
        )))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("no descriptor for runway.v1.DeploymentRun");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    app.shutdown().await;
}

/// grpcurl up to 1.8, grpcui and many IDE plugins speak reflection v1alpha.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1alpha_lists_the_services() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let app = TestApp::sqlite().await;
    let channel = tonic::transport::Channel::from_shared(app.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a service list");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
            "runway.v1.AgentService",
            "runway.v1.DeploymentService",
            "runway.v1.EnvironmentService",
            "runway.v1.RetentionService",
            "runway.v1.RunnerService",
            "runway.v1.SessionService",
            "runway.v1.TokenService",
            "runway.v1.WebhookService",
        ]
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_runs_requests_and_rpcs() {
    let app = TestApp::sqlite().await;
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await
        .body;
    app.post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await; // skipped
    app.post_empty(&format!(
        "/deployment_runs/{}/cancel",
        run["id"].as_str().unwrap()
    ))
    .await;
    app.get("/deployments/dep_unknown").await;
    let mut grpc = app.grpc().await;
    grpc.get_deployment(app.authed(runway_api::v1::GetDeploymentRequest {
        deployment_id: seed.deployment_id.clone(),
    }))
    .await
    .unwrap();
    app.reaper().run_once().await.unwrap();

    let root = app.base.trim_end_matches("/api/v1/cloud").to_string();
    // A method nobody defined is counted as `other`, whatever its name.
    for invented in ["BREW", "M00001X"] {
        let method = reqwest::Method::from_bytes(invented.as_bytes()).unwrap();
        let answer = app
            .http
            .request(method, format!("{root}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405);
    }
    let response = app
        .http
        .get(format!("{root}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    for line in [
        r#"runway_runs_triggered_total{trigger="manual",outcome="running"} 1"#,
        r#"runway_runs_triggered_total{trigger="manual",outcome="skipped"} 1"#,
        r#"runway_runs_finished_total{status="failed",error_type="canceled_error"} 1"#,
        r#"runway_http_request_duration_seconds_count{method="POST",route="/api/v1/cloud/deployments/{id}/run",status="200"} 2"#,
        r#"runway_http_request_duration_seconds_count{method="GET",route="/api/v1/cloud/deployments/{id}",status="404"} 1"#,
        r#"runway_grpc_request_duration_seconds_count{method="/runway.v1.DeploymentService/GetDeployment",code="Ok"} 1"#,
        r#"runway_http_request_duration_seconds_count{method="other",route="/healthz",status="405"} 2"#,
        "runway_active_leases 0",
        // Closed sets are counted from 0, before anything happened.
        r#"runway_retention_deleted_total{kind="runs"} 0"#,
        r#"runway_retention_deleted_total{kind="idempotency_keys"} 0"#,
        r#"runway_webhook_attempts_total{outcome="delivered"} 0"#,
        r#"runway_webhook_attempts_total{outcome="failed"} 0"#,
        // Two triggers one after the other: two batches of one.
        "runway_trigger_batch_size_count 2",
        "runway_trigger_batch_size_sum 2.0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
    app.shutdown().await;
}

/// The served OpenAPI document is the checked-in `docs/openapi.json`
/// (regenerate it with `cargo run -p runway -- openapi > docs/openapi.json`),
/// and every operation documents the error envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_checked_in() {
    let app = TestApp::sqlite().await;
    let served = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "application/json");
    let served = served.text().await.unwrap();
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap();
    assert!(
        served == checked_in,
        "docs/openapi.json is stale: run `cargo run -p runway -- openapi > docs/openapi.json`"
    );

    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every error answer is one shared response, the envelope, with its headers.
    let shared = [
        ("400", "BadRequest"),
        ("401", "Unauthenticated"),
        ("403", "Forbidden"),
        ("404", "NotFound"),
        ("405", "MethodNotAllowed"),
        ("409", "Conflict"),
        ("431", "HeadersTooLarge"),
        ("500", "Internal"),
    ];
    for (_, name) in shared {
        let response = &doc["components"]["responses"][name];
        assert_eq!(
            response["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorEnvelope",
            "{name}"
        );
        assert!(response["headers"]["x-request-id"].is_object(), "{name}");
    }
    assert!(doc["components"]["responses"]["MethodNotAllowed"]["headers"]["Allow"].is_object());
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            for (status, name) in shared {
                assert_eq!(
                    op["responses"][status]["$ref"],
                    format!("#/components/responses/{name}"),
                    "{method} {path} does not refer {status} to the shared envelope"
                );
            }
        }
    }
    assert_eq!(operations, 44, "every REST route of docs/API.md");
    // Every reference resolves (a dangling one makes tools skip what it names).
    fn refs<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v.as_str()) {
                        ("$ref", Some(target)) => out.push(target),
                        _ => refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for target in all {
        let pointer = target.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "dangling {target}");
    }
    // The closed sets are enums from their one type; creates take Idempotency-Key;
    // what a create returns links to what uses its id.
    assert_eq!(
        doc["components"]["schemas"]["RunStatus"]["enum"],
        serde_json::json!(["pending", "running", "completed", "failed", "skipped"])
    );
    let create = &doc["paths"]["/api/v1/cloud/deployments"]["post"];
    assert_eq!(create["parameters"][0]["name"], "Idempotency-Key");
    assert_eq!(
        create["responses"]["200"]["links"]["GetDeployment"],
        serde_json::json!({"operationId": "GetDeployment", "parameters": {"id": "$response.body#/id"}})
    );
    app.shutdown().await;
}

/// `runway gateway` alone: the same REST API over a network gRPC channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_gateway_serves_the_api_over_a_channel() {
    let app = TestApp::sqlite().await;
    let seed = app.seed(1).await;
    let channel = tonic::transport::Endpoint::from_shared(app.grpc_url())
        .unwrap()
        .connect_lazy();
    let gateway = runway_gateway::Gateway::new(runway_api::services::Services::remote(
        runway_api::transport::over_channel(channel),
    ));
    let observability = runway_gateway::Observability::new(Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1/cloud", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(runway_gateway::serve(
        listener,
        runway_gateway::router(gateway, observability),
        runway_gateway::GrpcElsewhere::new(app.grpc_url()),
        async {
            let _ = stopped.await;
        },
    ));
    let auth = format!("Bearer {}", app.token);
    // Health is forwarded too: the gateway is ready when the server is.
    let root = base.trim_end_matches("/api/v1/cloud");
    let ready = app.call("GET", &format!("{root}/readyz"), None, &[]).await;
    assert_eq!(
        (ready.status, ready.body.clone()),
        (200, json!({"status": "ready"}))
    );
    // A server stream is forwarded as it comes: the watch's first page,
    // then the page with the run triggered after it opened.
    let watch = app
        .http
        .get(format!("{base}/deployment_runs/watch"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), 200);
    let mut pages = Box::pin(
        watch
            .bytes_stream()
            .eventsource()
            .map(|event| event.expect("a well-formed SSE message"))
            .filter(|event| std::future::ready(event.event == "runs"))
            .map(|event| serde_json::from_str::<serde_json::Value>(&event.data).unwrap()),
    );
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), pages.next());
    assert_eq!(next.await.unwrap().unwrap(), json!({"data": []}));
    let run = app
        .call(
            "POST",
            &format!("{base}/deployments/{}/run", seed.deployment_id),
            None,
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    assert_eq!(run.body["status"], "running");
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), pages.next());
    assert_eq!(next.await.unwrap().unwrap(), json!({"data": [run.body]}));
    drop(pages);
    let missing = app
        .call(
            "GET",
            &format!("{base}/deployments/dep_x"),
            None,
            &[("authorization", &auth)],
        )
        .await;
    crate::support::assert_envelope(&missing, 404, "not_found_error", Some("id"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    app.shutdown().await;
}
