//! What a session takes from outside: a runner's events, recorded exactly
//! once and only under the turn's lease, and a user's interrupt, which
//! stops the running turn.

use std::collections::BTreeSet;

use serde_json::json;

use crate::events::{events_of, types};
use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope, assert_id, keys, runner_event};

on_every_backend!(
    runner_appends_are_exactly_once_and_under_the_lease,
    a_user_interrupt_stops_the_running_turn,
);

async fn runner_appends_are_exactly_once_and_under_the_lease(app: &TestApp) {
    use runway_api::enums::EventType;
    use runway_api::v1::{AppendEventsRequest, ClaimTurnRequest, CompleteTurnRequest};

    let seed = app.seed(1).await;
    app.post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let mut runner = app.runner_client().await;
    let turn = runner
        .claim_turn(app.authed(ClaimTurnRequest {
            environment_id: seed.environment_id.clone(),
            runner_name: "test".into(),
            wait_ms: 5000,
        }))
        .await
        .unwrap()
        .into_inner()
        .turn
        .expect("a turn");
    let run_id = turn.run.as_ref().unwrap().id.clone();
    let batch = AppendEventsRequest {
        run_id: run_id.clone(),
        lease_id: turn.lease_id.clone(),
        events: vec![
            runner_event(1, EventType::AgentMessage, "one"),
            runner_event(2, EventType::AgentMessage, "two"),
        ],
    };
    let first = runner
        .append_events(app.authed(batch.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.events.len(), 2);
    // The answer was lost: the runner sends the same batch, and one more.
    let mut again = batch.clone();
    again
        .events
        .push(runner_event(3, EventType::AgentMessage, "three"));
    let second = runner
        .append_events(app.authed(again))
        .await
        .unwrap()
        .into_inner();
    let first_ids: Vec<&str> = first.events.iter().map(|e| e.id.as_str()).collect();
    let second_ids: Vec<&str> = second.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        &second_ids[..2],
        &first_ids[..],
        "the resend records nothing new"
    );
    assert_eq!(second_ids.len(), 3);

    // Events of the server's, a user's or the deployment's types, or
    // without a number, are refused.
    for (event, param) in [
        (
            runner_event(4, EventType::SessionStatusIdle, "x"),
            "events[0].type",
        ),
        (
            runner_event(4, EventType::UserMessage, "x"),
            "events[0].type",
        ),
        (
            runner_event(4, EventType::SystemMessage, "x"),
            "events[0].type",
        ),
        (
            runner_event(0, EventType::AgentMessage, "x"),
            "events[0].sequence",
        ),
        (
            // Past what Unix nanoseconds hold (2262): not moved to 2262.
            runway_api::v1::RunnerEvent {
                created_at: Some(prost_types::Timestamp {
                    seconds: 9_300_000_000,
                    nanos: 0,
                }),
                ..runner_event(4, EventType::AgentMessage, "x")
            },
            "events[0].created_at",
        ),
    ] {
        let status = runner
            .append_events(app.authed(AppendEventsRequest {
                events: vec![event],
                ..batch.clone()
            }))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        let details = tonic_types::StatusExt::get_error_details(&status);
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            param
        );
    }
    // Numbers that repeat or step back within a batch are refused whole.
    for (numbers, message) in [
        (
            [5, 5],
            "sequence must increase through the batch: 5 follows 5",
        ),
        (
            [6, 4],
            "sequence must increase through the batch: 4 follows 6",
        ),
    ] {
        let events = numbers
            .iter()
            .map(|n| runner_event(*n, EventType::AgentMessage, "x"))
            .collect();
        let status = runner
            .append_events(app.authed(AppendEventsRequest {
                events,
                ..batch.clone()
            }))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert_eq!(status.message(), message);
        let details = tonic_types::StatusExt::get_error_details(&status);
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            "events[1].sequence"
        );
    }
    // Another lease is refused.
    let wrong = runner
        .append_events(app.authed(AppendEventsRequest {
            lease_id: "not-the-lease".into(),
            ..batch.clone()
        }))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::FailedPrecondition);

    // What the service stamps is not the runner's to say.
    let mut forged = runner_event(4, EventType::AgentMessage, "four");
    let mut fields = runway_api::json_value::struct_to_object(forged.fields.as_ref().unwrap());
    fields.insert("id".into(), json!("evt_forged"));
    fields.insert("session_id".into(), json!("sess_elsewhere"));
    forged.fields = Some(runway_api::json_value::object_to_struct(fields));
    let recorded = runner
        .append_events(app.authed(AppendEventsRequest {
            events: vec![forged],
            ..batch.clone()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(recorded.events[0].id, "evt_forged");
    assert_eq!(recorded.events[0].session_id, turn.session_id);
    let stored =
        runway_api::json_value::struct_to_object(recorded.events[0].fields.as_ref().unwrap());
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        ["content"],
        "stamped fields dropped"
    );

    runner
        .complete_turn(app.authed(CompleteTurnRequest {
            run_id: run_id.clone(),
            lease_id: turn.lease_id.clone(),
        }))
        .await
        .unwrap();
    let late = runner.append_events(app.authed(batch)).await.unwrap_err();
    assert_eq!(
        late.code(),
        tonic::Code::FailedPrecondition,
        "a finished run takes no events"
    );

    let page = events_of(app, &turn.session_id, "").await;
    assert_eq!(
        types(&page),
        [
            "user.message",
            "session.status_running",
            "agent.message",
            "agent.message",
            "agent.message",
            "agent.message",
            "session.status_idle"
        ]
    );
    let texts: Vec<&str> = page["data"].as_array().unwrap()[2..6]
        .iter()
        .map(|e| e["content"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two", "three", "four"]);
}

async fn a_user_interrupt_stops_the_running_turn(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let session = run.body["session_id"].as_str().unwrap().to_string();
    let run_id = run.body["id"].as_str().unwrap().to_string();
    let path = format!("/sessions/{session}/events");
    assert_eq!(
        app.get(&format!("/sessions/{session}")).await.body["status"],
        "processing"
    );

    // What a deployment session cannot take: 409, and nothing changes.
    let message = app
        .post(
            &path,
            json!({"events": [{"type": "user.message", "content": "more"}]}),
        )
        .await;
    assert_envelope(&message, 409, "conflict_error", None);
    let two = app
        .post(
            &path,
            json!({"events": [{"type": "user.interrupt"}, {"type": "user.interrupt"}]}),
        )
        .await;
    assert_envelope(&two, 409, "conflict_error", None);
    for (body, param) in [
        (json!({"events": []}), Some("events")),
        (
            json!({"events": [{"type": "user.dance"}]}),
            Some("events[0].type"),
        ),
        (json!({"events": [{}]}), Some("events[0].type")),
        (json!({}), Some("events")),
    ] {
        let resp = app.post(&path, body).await;
        assert_envelope(&resp, 400, "invalid_request_error", param);
    }
    assert_eq!(
        app.get(&format!("/deployment_runs/{run_id}")).await.body["status"],
        "running"
    );

    let sent = app
        .post(&path, json!({"events": [{"type": "user.interrupt"}]}))
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(keys(&sent.body), BTreeSet::from(["data"]));
    let interrupt = &sent.body["data"][0];
    assert_eq!(interrupt["type"], "user.interrupt");
    assert_eq!(interrupt["session_id"], session.as_str());
    assert_id(&interrupt["id"], "evt_");

    let run = app.get(&format!("/deployment_runs/{run_id}")).await.body;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["type"], "canceled_error");
    assert_eq!(
        app.get(&format!("/sessions/{session}")).await.body["status"],
        "idle"
    );
    let events = events_of(app, &session, "").await;
    assert_eq!(
        types(&events),
        [
            "user.message",
            "session.status_running",
            "user.interrupt",
            "session.status_idle"
        ]
    );
    assert_eq!(events["data"][2]["id"], interrupt["id"]);
    assert_eq!(events["data"][3]["stop_reason"]["type"], "interrupted");

    // Nothing left to interrupt.
    let again = app
        .post(&path, json!({"events": [{"type": "user.interrupt"}]}))
        .await;
    assert_envelope(&again, 409, "conflict_error", None);
    let other = app.other_org_token().await;
    let auth = format!("Bearer {other}");
    let foreign = app
        .call(
            "POST",
            &path,
            Some(json!({"events": [{"type": "user.interrupt"}]}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&foreign, 404, "not_found_error", Some("id"));
}
