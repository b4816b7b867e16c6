//! The same failures over gRPC: the right code, a `google.rpc.ErrorInfo`
//! from domain `runway`, and a `BadRequest` for field errors.

use runway_api::v1::*;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::on_every_backend;
use crate::support::TestApp;

on_every_backend!(grpc_failures_carry_codes_and_error_info);

fn authed<T>(app: &TestApp, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", app.token).parse().unwrap(),
    );
    request
}

fn assert_status(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo on {status:?}"));
    assert_eq!(info.domain, "runway");
    assert_eq!(info.reason, reason, "{status:?}");
}

async fn grpc_failures_carry_codes_and_error_info(app: &TestApp) {
    let seed = app.seed(1).await;
    let mut client = app.grpc().await;
    let run = |id: &str| RunDeploymentRequest {
        deployment_id: id.to_string(),
    };

    // The happy path over gRPC: a running run.
    let ok = client
        .run_deployment(authed(app, run(&seed.deployment_id)))
        .await
        .unwrap()
        .into_inner();
    let started = ok.run.unwrap();
    assert_eq!(started.status, DeploymentRunStatus::Running as i32);
    assert!(
        started
            .session_id
            .as_deref()
            .is_some_and(|s| s.starts_with("sess_"))
    );

    let err = client
        .run_deployment(Request::new(run(&seed.deployment_id)))
        .await
        .unwrap_err();
    assert_status(&err, Code::Unauthenticated, "INVALID_TOKEN");
    let mut bad = Request::new(run(&seed.deployment_id));
    bad.metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_status(
        &client.run_deployment(bad).await.unwrap_err(),
        Code::Unauthenticated,
        "INVALID_TOKEN",
    );

    for id in ["dep_019ec556114c78f8b60ee34fcb98bf59", "dep_bad"] {
        let err = client
            .run_deployment(authed(app, run(id)))
            .await
            .unwrap_err();
        assert_status(&err, Code::NotFound, "DEPLOYMENT_NOT_FOUND");
    }

    let skipped = client
        .run_deployment(authed(app, run(&seed.deployment_id)))
        .await
        .unwrap()
        .into_inner();
    let skipped = skipped.run.unwrap();
    assert_eq!(skipped.status, DeploymentRunStatus::Skipped as i32);
    assert_eq!(skipped.error.unwrap().r#type, "concurrency_limit_error");

    let pause = PauseDeploymentRequest {
        deployment_id: seed.deployment_id.clone(),
    };
    client
        .pause_deployment(authed(app, pause.clone()))
        .await
        .unwrap();
    let err = client
        .pause_deployment(authed(app, pause))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "DEPLOYMENT_ALREADY_PAUSED");
    let err = client
        .run_deployment(authed(app, run(&seed.deployment_id)))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "DEPLOYMENT_PAUSED");

    let err = client
        .list_runs(authed(
            app,
            ListRunsRequest {
                page: Some(PageRequest {
                    limit: Some(0),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_FIELD");
    let details = err.get_error_details();
    let violations = &details.bad_request().expect("BadRequest").field_violations;
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "page.limit");

    // A runner's name is shown in runs, pages, webhooks and logs: a label,
    // bounded like a name (it was as long as a 64 MiB message allowed).
    let mut runner = app.runner_client().await;
    for name in ["n".repeat(257), "a\nb".to_string(), " ".to_string()] {
        let claim = ClaimTurnRequest {
            environment_id: String::new(),
            runner_name: name.clone(),
            wait_ms: 0,
        };
        let err = runner.claim_turn(authed(app, claim)).await.unwrap_err();
        assert_status(&err, Code::InvalidArgument, "INVALID_FIELD");
        let details = err.get_error_details();
        let violations = &details.bad_request().expect("BadRequest").field_violations;
        assert_eq!(violations[0].field, "runner_name", "{name:?}");
    }
}

/// A gRPC client given the REST address (a runner started with
/// `--server http://…:8080`) is told so in gRPC: UNIMPLEMENTED, reason
/// `GRPC_ON_REST_PORT`, a message naming the gRPC port — not a REST or
/// console page read as gRPC frames ("invalid compression flag").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_call_to_the_rest_port_is_told_where_grpc_is() {
    let app = TestApp::sqlite().await;
    let rest_origin = app
        .base
        .strip_suffix("/api/v1/cloud")
        .expect("the REST base")
        .to_string();
    let mut runner =
        runway_api::v1::runner_service_client::RunnerServiceClient::connect(rest_origin.clone())
            .await
            .expect("the REST port speaks HTTP/2 too");
    let err = runner
        .claim_turn(authed(
            &app,
            ClaimTurnRequest {
                environment_id: "env_0".into(),
                runner_name: "misdirected".into(),
                wait_ms: 0,
            },
        ))
        .await
        .unwrap_err();
    assert_status(&err, Code::Unimplemented, "GRPC_ON_REST_PORT");
    let grpc_addr = app.grpc_url().replace("http://", "");
    assert_eq!(
        err.message(),
        format!(
            "This is runway's REST port (HTTP/JSON under /api/v1/cloud). gRPC clients and runners \
             connect to its gRPC port ({grpc_addr}, `runway serve --grpc-addr`)."
        )
    );
    // Any service, any path, with or without a token.
    let mut deployments =
        runway_api::v1::deployment_service_client::DeploymentServiceClient::connect(rest_origin)
            .await
            .unwrap();
    let err = deployments
        .list_deployments(Request::new(ListDeploymentsRequest::default()))
        .await
        .unwrap_err();
    assert_status(&err, Code::Unimplemented, "GRPC_ON_REST_PORT");
    // The REST API on the same port is untouched.
    let listed = app.get("/deployments").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    app.shutdown().await;
}
