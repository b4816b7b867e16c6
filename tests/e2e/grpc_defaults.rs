//! What a gRPC request leaves unset means what REST's absent field means:
//! a schedule without a time zone is in UTC on both.

use runway_api::v1::*;

use crate::on_every_backend;
use crate::support::TestApp;

on_every_backend!(a_schedule_without_a_time_zone_is_in_utc_over_grpc);

async fn a_schedule_without_a_time_zone_is_in_utc_over_grpc(app: &TestApp) {
    let seed = app.seed(1).await;
    let mut grpc = app.grpc().await;
    let cron = |expression: &str| Schedule {
        expression: expression.into(),
        ..Schedule::default()
    };
    let created = grpc
        .create_deployment(app.authed(CreateDeploymentRequest {
            name: "nightly".into(),
            agent: Some(AgentRef {
                id: seed.agent_id.clone(),
                version: 0,
            }),
            environment_id: seed.environment_id.clone(),
            initial_events: vec![InitialEvent {
                r#type: InitialEventType::UserMessage as i32,
                content: Some(prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue("go".into())),
                }),
            }],
            schedule: Some(cron("0 9 * * *")),
            ..CreateDeploymentRequest::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    let schedule = created.schedule.unwrap();
    assert_eq!(schedule.timezone, "UTC");
    assert_eq!(schedule.upcoming_runs_at.len(), 5);
    // REST reads it back as it reads a REST-made one.
    let read = app.get(&format!("/deployments/{}", created.id)).await;
    assert_eq!(read.body["schedule"]["timezone"], "UTC", "{:?}", read.body);

    // An update naming `schedule` without a zone: UTC again.
    let moved = grpc
        .update_deployment(app.authed(UpdateDeploymentRequest {
            deployment_id: created.id.clone(),
            schedule: Some(cron("30 6 * * *")),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["schedule".into()],
            }),
            ..UpdateDeploymentRequest::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap()
        .schedule
        .unwrap();
    assert_eq!(
        (moved.expression.as_str(), moved.timezone.as_str()),
        ("30 6 * * *", "UTC")
    );
}
