//! What an agent prints is its run's transcript: 10,000 lines of plain
//! text, catalog JSON events, a 1 MiB line, invalid UTF-8 and JSON of an
//! unknown type come back over REST and over gRPC as printed, in order,
//! nothing lost or doubled.

use std::time::Duration;

use runway_api::v1::ListSessionEventsRequest;
use runway_api::v1::session_service_client::SessionServiceClient;
use runway_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{Runner, Server};

const LIMIT: Duration = Duration::from_secs(120);

/// The agent's output, and what it must become: text segments (between
/// catalog events, invalid UTF-8 replaced) and catalog events.
fn output() -> (Vec<u8>, Vec<Part>) {
    let mut bytes = Vec::new();
    let mut parts = Vec::new();
    let mut text = String::new();
    for i in 0..10_000 {
        match i {
            i if i % 100 == 7 => {
                parts.push(Part::Text(std::mem::take(&mut text)));
                let line = format!("{{\"type\":\"agent.thinking\",\"thinking\":\"step {i}\"}}\n");
                bytes.extend_from_slice(line.as_bytes());
                parts.push(Part::Event(
                    json!({"type": "agent.thinking", "thinking": format!("step {i}")}),
                ));
            }
            5_000 => {
                // One line of 1 MiB: split across events, never dropped.
                let line = format!("{}\n", "x".repeat(1024 * 1024));
                bytes.extend_from_slice(line.as_bytes());
                text.push_str(&line);
            }
            6_000 => {
                bytes.extend_from_slice(b"bad \xff\xfe bytes\n");
                text.push_str("bad \u{fffd}\u{fffd} bytes\n");
            }
            7_000 => {
                let line = "{\"type\":\"agent.dance\",\"steps\":3}\n";
                bytes.extend_from_slice(line.as_bytes());
                text.push_str(line);
            }
            i => {
                let line = format!("line {i} of the report\n");
                bytes.extend_from_slice(line.as_bytes());
                text.push_str(&line);
            }
        }
    }
    parts.push(Part::Text(text));
    parts.retain(|p| !matches!(p, Part::Text(t) if t.is_empty()));
    (bytes, parts)
}

#[derive(Debug, PartialEq)]
enum Part {
    Text(String),
    Event(Value),
}

/// The transcript between the opening events and the closing one, with
/// consecutive `agent.message` texts joined.
fn parts_of(events: &[Value]) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for event in events {
        match event["type"].as_str().unwrap() {
            "user.message" | "session.status_running" | "session.status_idle" => {}
            "agent.message" => {
                let text = event["content"][0]["text"].as_str().unwrap();
                match parts.last_mut() {
                    Some(Part::Text(t)) => t.push_str(text),
                    _ => parts.push(Part::Text(text.to_string())),
                }
            }
            _ => {
                let mut event = event.clone();
                let object = event.as_object_mut().unwrap();
                for stamped in [
                    "id",
                    "session_id",
                    "turn_id",
                    "schema_version",
                    "created_at",
                    "processed_at",
                ] {
                    object.remove(stamped);
                }
                parts.push(Part::Event(event));
            }
        }
    }
    parts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_agent_prints_is_the_transcript() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let (bytes, expected) = output();
    let printed = data.path().join("printed.bin");
    std::fs::write(&printed, &bytes).unwrap();
    // A lease of 10 s, not the tests' 1 s: the runner's heartbeats wait in
    // the one SQLite writer's queue behind this test's megabytes of events,
    // and a loaded CI machine once took over a second for it (the run was
    // lost). What is tested here is the transcript, not the lease.
    let server = Server::start_at(
        db.url(),
        data.path(),
        "127.0.0.1:0",
        "127.0.0.1:0",
        Duration::from_secs(10),
    )
    .await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let _runner = Runner::start(&server, &env, 1, &[]);
    let dep = api
        .deployment(
            &agent,
            &env,
            &format!("cat {}", printed.display()),
            json!({}),
        )
        .await;
    let run = api.trigger(&dep).await;
    let run_id = run["id"].as_str().unwrap();
    let done = api.terminal(run_id, LIMIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    let session = done["session_id"].as_str().unwrap();

    // Over REST, page by page.
    let mut events: Vec<Value> = Vec::new();
    let mut after = String::new();
    loop {
        let page = api
            .get(&format!("/sessions/{session}/events?limit=1000{after}"))
            .await;
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        if page["has_more"] != true {
            break;
        }
        after = format!("&after_id={}", page["last_id"].as_str().unwrap());
    }
    assert_eq!(events.first().unwrap()["type"], "user.message");
    assert_eq!(events[1]["type"], "session.status_running");
    assert_eq!(events.last().unwrap()["type"], "session.status_idle");
    assert_eq!(
        events.last().unwrap()["stop_reason"],
        json!({"type": "end_turn"})
    );
    let rest = parts_of(&events);
    assert_eq!(rest.len(), expected.len());
    for (i, (got, want)) in rest.iter().zip(&expected).enumerate() {
        assert!(got == want, "part {i} differs");
    }
    let ids: std::collections::HashSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "no event twice");

    // Over gRPC: the same events, in the same order.
    let channel = tonic::transport::Channel::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut sessions = SessionServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let mut grpc_ids: Vec<String> = Vec::new();
    let mut after_id = None;
    loop {
        let mut request = tonic::Request::new(ListSessionEventsRequest {
            session_id: session.to_string(),
            limit: Some(1000),
            after_id: after_id.clone(),
            ..Default::default()
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", server.token).parse().unwrap(),
        );
        let page = sessions
            .list_session_events(request)
            .await
            .unwrap()
            .into_inner();
        grpc_ids.extend(page.events.iter().map(|e| e.id.clone()));
        if !page.has_more {
            break;
        }
        after_id = page.last_id;
    }
    let rest_ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(grpc_ids, rest_ids);
}

/// Two `serve` processes on one PostgreSQL: a stream open on one sees
/// events appended through the other within a second (the database's own
/// notifications, not polling).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_one_replica_follows_appends_through_another() {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    use runway_api::enums::EventType;
    use runway_api::v1::runner_service_client::RunnerServiceClient;
    use runway_api::v1::{AppendEventsRequest, ClaimTurnRequest, RunnerEvent};

    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start(db.url(), data_a.path()).await;
    std::fs::copy(
        data_a.path().join("admin-token"),
        data_b.path().join("admin-token"),
    )
    .unwrap();
    let b = Server::start(db.url(), data_b.path()).await;
    let api = a.api();
    let (agent, env) = api.agent_and_environment().await;
    let dep = api.deployment(&agent, &env, "true", json!({})).await;
    let session = api.trigger(&dep).await["session_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Following on A.
    let response = crate::harness::http_client()
        .get(format!(
            "{}/api/v1/cloud/sessions/{session}/events/stream",
            a.http
        ))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = Box::pin(response.bytes_stream().eventsource());
    let mut next = async || loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        if event.event != "heartbeat" {
            return event;
        }
    };
    assert_eq!(next().await.event, "user.message");
    assert_eq!(next().await.event, "session.status_running");

    // Appending through B.
    let channel = tonic::transport::Channel::from_shared(b.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut runner = RunnerServiceClient::new(channel);
    fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }
    let turn = runner
        .claim_turn(authed(
            &b.token,
            ClaimTurnRequest {
                environment_id: env.clone(),
                runner_name: "b".into(),
                wait_ms: 5000,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .turn
        .expect("a turn");
    let appended_at = std::time::Instant::now();
    runner
        .append_events(authed(
            &b.token,
            AppendEventsRequest {
                run_id: turn.run.unwrap().id,
                lease_id: turn.lease_id,
                events: vec![RunnerEvent {
                    sequence: 1,
                    r#type: EventType::AgentMessage.to_proto(),
                    created_at: None,
                    fields: Some(runway_api::json_value::object_to_struct(
                        json!({"content": [{"type": "text", "text": "from b"}]})
                            .as_object()
                            .unwrap()
                            .clone(),
                    )),
                }],
            },
        ))
        .await
        .unwrap();
    let event = next().await;
    let waited = appended_at.elapsed();
    assert_eq!(event.event, "agent.message");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["content"][0]["text"], "from b");
    assert!(
        waited < Duration::from_secs(1),
        "seen on the other replica after {waited:?}"
    );
}
