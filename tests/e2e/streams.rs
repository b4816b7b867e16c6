//! Following a transcript live over Server-Sent Events, read with a
//! maintained SSE parser (eventsource-stream): the history first, then
//! each event as a runner appends it; `Last-Event-ID` resumes exactly after
//! the last event seen; type filters; heartbeats while nothing happens.

use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use runway_api::enums::EventType;
use runway_api::v1::{AppendEventsRequest, ClaimTurnRequest, RunnerEvent, Turn};
use serde_json::{Value, json};

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope, runner_event};

on_every_backend!(
    a_stream_replays_then_follows_and_resumes,
    a_stream_refuses_what_it_cannot_follow,
    an_open_stream_ends_when_its_token_is_revoked,
);

const WAIT: Duration = Duration::from_secs(10);

async fn open(
    app: &TestApp,
    session: &str,
    query: &str,
    last_event_id: Option<&str>,
) -> impl Stream<Item = Event> + Unpin {
    let mut request = app
        .http
        .get(format!(
            "{}/sessions/{session}/events/stream{query}",
            app.base
        ))
        .bearer_auth(&app.token);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Box::pin(
        response
            .bytes_stream()
            .eventsource()
            .map(|event| event.expect("a well-formed SSE message")),
    )
}

/// The next message that is not a heartbeat.
async fn next_event(stream: &mut (impl Stream<Item = Event> + Unpin)) -> Event {
    loop {
        let event = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("an event in time")
            .expect("the stream stays open");
        if event.event != "heartbeat" {
            return event;
        }
    }
}

fn message(sequence: i64, text: &str) -> RunnerEvent {
    runner_event(sequence, EventType::AgentMessage, text)
}

async fn claim(app: &TestApp, environment: &str) -> Turn {
    app.runner_client()
        .await
        .claim_turn(app.authed(ClaimTurnRequest {
            environment_id: environment.to_string(),
            runner_name: "test".into(),
            wait_ms: 5000,
        }))
        .await
        .unwrap()
        .into_inner()
        .turn
        .expect("a turn")
}

async fn append(app: &TestApp, turn: &Turn, events: Vec<RunnerEvent>) {
    app.runner_client()
        .await
        .append_events(app.authed(AppendEventsRequest {
            run_id: turn.run.as_ref().unwrap().id.clone(),
            lease_id: turn.lease_id.clone(),
            events,
        }))
        .await
        .unwrap();
}

async fn a_stream_replays_then_follows_and_resumes(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let session = run.body["session_id"].as_str().unwrap().to_string();
    let listed = app.get(&format!("/sessions/{session}/events")).await.body;

    // Connected mid-run: the history first, exactly as the list shows it.
    let mut stream = open(app, &session, "", None).await;
    for expected in listed["data"].as_array().unwrap() {
        let event = next_event(&mut stream).await;
        assert_eq!(event.id, expected["id"].as_str().unwrap());
        assert_eq!(event.event, expected["type"].as_str().unwrap());
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(&data, expected);
        assert!(!event.data.contains('\n'), "one JSON line");
    }

    // Then live: what the runner appends arrives as it is recorded.
    let turn = claim(app, &seed.environment_id).await;
    append(app, &turn, vec![message(1, "one"), message(2, "two")]).await;
    let one = next_event(&mut stream).await;
    let two = next_event(&mut stream).await;
    assert_eq!(one.event, "agent.message");
    let one_data: Value = serde_json::from_str(&one.data).unwrap();
    assert_eq!(one_data["content"][0]["text"], "one");
    let two_data: Value = serde_json::from_str(&two.data).unwrap();
    assert_eq!(two_data["content"][0]["text"], "two");

    // While nothing happens, heartbeats.
    let heartbeat = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("a heartbeat in time")
        .unwrap();
    assert_eq!(heartbeat.event, "heartbeat");
    assert_eq!(heartbeat.data, "{}");
    drop(stream);

    // Reconnected with Last-Event-ID: exactly what came after it.
    append(app, &turn, vec![message(3, "three")]).await;
    let mut resumed = open(app, &session, "", Some(&one.id)).await;
    let first = next_event(&mut resumed).await;
    assert_eq!(first.id, two.id);
    let second = next_event(&mut resumed).await;
    let data: Value = serde_json::from_str(&second.data).unwrap();
    assert_eq!(data["content"][0]["text"], "three");

    // A type filter: only those events, history and live.
    let mut filtered = open(app, &session, "?types[]=agent.message", None).await;
    for text in ["one", "two", "three"] {
        let event = next_event(&mut filtered).await;
        assert_eq!(event.event, "agent.message");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["content"][0]["text"], text);
    }
    let run_id = run.body["id"].as_str().unwrap();
    app.post_empty(&format!("/deployment_runs/{run_id}/cancel"))
        .await;
    // The closing event reaches the unfiltered stream, not the filtered one.
    let closing = next_event(&mut resumed).await;
    assert_eq!(closing.event, "session.status_idle");
    let nothing = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            let e = filtered.next().await.unwrap();
            if e.event != "heartbeat" {
                return e;
            }
        }
    })
    .await;
    assert!(
        nothing.is_err(),
        "the filtered stream shows no other type: {nothing:?}"
    );
}

async fn a_stream_refuses_what_it_cannot_follow(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let session = run.body["session_id"].as_str().unwrap();
    let path = format!("/sessions/{session}/events/stream");
    let auth = format!("Bearer {}", app.token);
    let unknown = app
        .call(
            "GET",
            &path,
            None,
            &[
                ("authorization", &auth),
                ("last-event-id", "evt_00000000000000000000000000000000"),
            ],
        )
        .await;
    assert_envelope(
        &unknown,
        400,
        "invalid_request_error",
        Some("Last-Event-ID"),
    );
    let bad_type = app.get(&format!("{path}?type=agent.dance")).await;
    assert_envelope(&bad_type, 400, "invalid_request_error", Some("type"));
    let missing = app
        .get("/sessions/sess_00000000000000000000000000000000/events/stream")
        .await;
    assert_envelope(&missing, 404, "not_found_error", Some("id"));
    let other = app.other_org_token().await;
    let foreign_auth = format!("Bearer {other}");
    let foreign = app
        .call("GET", &path, None, &[("authorization", &foreign_auth)])
        .await;
    assert_envelope(&foreign, 404, "not_found_error", Some("id"));
}

/// Reads `stream` past messages named in `passing` (heartbeats, pages, a
/// session's opening events) to its end: one `error` message carrying the
/// envelope of a refused token, then the body's proper end (a cut
/// connection would be an error item here).
pub(crate) async fn ends_with_an_authentication_error<E: std::fmt::Debug>(
    stream: &mut (impl Stream<Item = Result<Event, E>> + Unpin),
    passing: &[&str],
) {
    let error = json!({"type": "authentication_error", "message": "Invalid API key or token."});
    ends_with_an_error(stream, passing, error).await;
}

/// Reads `stream` past messages named in `passing` to its end: one `error`
/// message whose envelope holds `error`, then the body's proper end.
pub(crate) async fn ends_with_an_error<E: std::fmt::Debug>(
    stream: &mut (impl Stream<Item = Result<Event, E>> + Unpin),
    passing: &[&str],
    error: Value,
) {
    let closing = loop {
        let event = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("the stream ends in time")
            .expect("an error message before the end")
            .expect("a well-formed body");
        if !passing.contains(&event.event.as_str()) {
            break event;
        }
    };
    assert_eq!(closing.event, "error", "{closing:?}");
    let envelope: Value = serde_json::from_str(&closing.data).unwrap();
    assert_eq!(
        envelope,
        json!({"type": "error", "error": error, "request_id": envelope["request_id"]})
    );
    assert!(
        envelope["request_id"].as_str().unwrap().starts_with("req_"),
        "{envelope}"
    );
    let end = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the body ends after the error message");
    assert!(end.is_none(), "nothing after the error message: {end:?}");
}

async fn an_open_stream_ends_when_its_token_is_revoked(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let session = run.body["session_id"].as_str().unwrap().to_string();
    let created = app
        .post("/tokens", json!({"name": "viewer", "scope": "read"}))
        .await;
    let (id, secret) = (
        created.body["id"].as_str().unwrap().to_string(),
        created.body["secret"].as_str().unwrap().to_string(),
    );
    let response = app
        .http
        .get(format!("{}/sessions/{session}/events/stream", app.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = Box::pin(response.bytes_stream().eventsource());
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the history")
        .expect("open")
        .expect("an event");
    assert_eq!(first.event, "user.message");

    let revoked_at = std::time::Instant::now();
    assert_eq!(
        app.post_empty(&format!("/tokens/{id}/revoke")).await.status,
        200
    );
    // Heartbeats and the session's opening events may come first.
    ends_with_an_authentication_error(&mut stream, &["heartbeat", "session.status_running"]).await;
    assert!(
        revoked_at.elapsed() < Duration::from_secs(3),
        "ended {:?} after the revocation",
        revoked_at.elapsed()
    );
}

/// A server that stops ends its open streams with a last message saying so,
/// which clients retry: the REST streams' `error` message (503
/// `overloaded_error`), gRPC's UNAVAILABLE with the reason SHUTTING_DOWN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_ends_its_streams_saying_so_on_sqlite() {
    streams_end_saying_the_server_stops(TestApp::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_ends_its_streams_saying_so_on_postgres() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    streams_end_saying_the_server_stops(app).await;
}

async fn streams_end_saying_the_server_stops(app: TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    let session = run.body["session_id"].as_str().unwrap().to_string();
    let open = |path: String| {
        let request = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&app.token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            Box::pin(response.bytes_stream().eventsource())
        }
    };
    let mut transcript = open(format!("/sessions/{session}/events/stream")).await;
    let mut watch = open("/deployment_runs/watch".to_string()).await;
    for (stream, first) in [(&mut transcript, "user.message"), (&mut watch, "runs")] {
        let event = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("a first message")
            .expect("open")
            .expect("well formed");
        assert_eq!(event.event, first);
    }
    let mut grpc = app
        .grpc()
        .await
        .watch_runs(app.authed(runway_api::v1::WatchRunsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let page = grpc.message().await.unwrap().expect("the first page");
    assert_eq!(page.runs.len(), 1);

    let stopped = tokio::spawn(app.shutdown());
    let error = json!({
        "type": "overloaded_error",
        "message": "The server is shutting down; reconnect.",
    });
    let passing = ["heartbeat", "session.status_running", "runs"];
    ends_with_an_error(&mut transcript, &passing, error.clone()).await;
    ends_with_an_error(&mut watch, &passing, error).await;
    let status = loop {
        match grpc.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the gRPC stream ended without saying why"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "The server is shutting down; reconnect.");
    let details = tonic_types::StatusExt::get_error_details(&status);
    assert_eq!(details.error_info().unwrap().reason, "SHUTTING_DOWN");
    assert!(matches!(grpc.message().await, Ok(None) | Err(_)));
    stopped.await.unwrap();
}
