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
}
