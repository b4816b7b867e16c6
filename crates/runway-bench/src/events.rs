//! Transcript loads: runners appending events, and SSE subscribers
//! following a session while events are appended.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hdrhistogram::Histogram;
use runway_api::enums::EventType;
use runway_api::json_value;
use runway_api::v1::runner_service_client::RunnerServiceClient;
use runway_api::v1::{AppendEventsRequest, ClaimTurnRequest, RunnerEvent, Turn};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::Args;
use crate::server::{Server, setup};

const WARMUP: Duration = Duration::from_secs(2);

/// Now in Unix microseconds: exact through JSON's doubles (nanoseconds
/// are not, past 2^53).
fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// An `agent.message` of about 100 bytes, numbered `sequence`.
fn message(sequence: i64, extra: Option<(&str, Value)>) -> RunnerEvent {
    let mut fields = json!({"content": [{"type": "text", "text": format!("line {sequence} of a transcript that says what the agent did")}]});
    if let Some((key, value)) = extra {
        fields[key] = value;
    }
    RunnerEvent {
        sequence,
        r#type: EventType::AgentMessage.to_proto(),
        created_at: None,
        fields: Some(json_value::object_to_struct(
            fields.as_object().cloned().unwrap_or_default(),
        )),
    }
}

fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn claim(
    runner: &mut RunnerServiceClient<tonic::transport::Channel>,
    token: &str,
    environment: &str,
) -> anyhow::Result<Option<Turn>> {
    Ok(runner
        .claim_turn(authed(
            token,
            ClaimTurnRequest {
                environment_id: environment.to_string(),
                runner_name: "bench".into(),
                wait_ms: 1000,
            },
        ))
        .await?
        .into_inner()
        .turn)
}

/// Appends transcript events, `batch` at a time, to whatever turn it can
/// claim in `environment`, until `until`, at `rate` events per second (0:
/// as fast as it can); returns how many it appended.
pub async fn write_transcripts(
    channel: tonic::transport::Channel,
    token: String,
    environment: String,
    batch: usize,
    rate: u64,
    until: Instant,
) -> anyhow::Result<u64> {
    let mut runner = RunnerServiceClient::new(channel);
    let mut written = 0u64;
    let mut pace = (rate > 0)
        .then(|| tokio::time::interval(Duration::from_secs_f64(batch as f64 / rate as f64)));
    while Instant::now() < until {
        let Some(turn) = claim(&mut runner, &token, &environment).await? else {
            continue;
        };
        let run_id = turn
            .run
            .as_ref()
            .context("a turn without its run")?
            .id
            .clone();
        let mut next = 1i64;
        while Instant::now() < until {
            if let Some(pace) = &mut pace {
                pace.tick().await;
            }
            let events = (0..batch as i64).map(|i| message(next + i, None)).collect();
            next += batch as i64;
            let appended = runner
                .append_events(authed(
                    &token,
                    AppendEventsRequest {
                        run_id: run_id.clone(),
                        lease_id: turn.lease_id.clone(),
                        events,
                    },
                ))
                .await;
            match appended {
                Ok(_) => written += batch as u64,
                Err(_) => break, // its lease ended: claim another turn
            }
        }
    }
    Ok(written)
}

/// N runners, each on its own run, append events in batches of `--batch`
/// as fast as they can.
pub async fn appends(args: &Args, server: &Server) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let (environment, deployments) = setup(&client, server, args.clients).await?;
    for dep in &deployments {
        let r = client
            .post(format!("{}/deployments/{dep}/run", server.http))
            .bearer_auth(&server.token)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "trigger failed");
    }
    let endpoint = tonic::transport::Endpoint::from_shared(server.grpc.clone())?;
    let measure = Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let mut runner =
            RunnerServiceClient::new(endpoint.connect().await?).max_encoding_message_size(64 << 20);
        let turn = claim(&mut runner, &server.token, &environment)
            .await?
            .context("every client claims a turn")?;
        let (token, batch) = (server.token.clone(), args.batch);
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut events, mut errors, mut next) = (0u64, 0u64, 1i64);
            let run_id = turn.run.as_ref().map(|r| r.id.clone()).unwrap_or_default();
            while start.elapsed() < WARMUP + measure {
                let request = AppendEventsRequest {
                    run_id: run_id.clone(),
                    lease_id: turn.lease_id.clone(),
                    events: (0..batch as i64).map(|i| message(next + i, None)).collect(),
                };
                next += batch as i64;
                let t = Instant::now();
                let ok = runner.append_events(authed(&token, request)).await.is_ok();
                if start.elapsed() > WARMUP {
                    if ok {
                        histogram.record(t.elapsed().as_micros() as u64).unwrap();
                        events += batch as u64;
                    } else {
                        errors += 1;
                    }
                }
            }
            (histogram, events, errors)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut events, mut errors) = (0, 0);
    for task in tasks {
        let (h, e, x) = task.await?;
        all.add(h)?;
        events += e;
        errors += x;
    }
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "mode": "appends",
        "backend": server.backend(),
        "clients": args.clients,
        "batch": args.batch,
        "seconds": args.seconds,
        "events": events,
        "errors": errors,
        "events_per_s": (events as f64 / measure.as_secs_f64()).round(),
        "batch_p50_ms": ms(0.50),
        "batch_p99_ms": ms(0.99),
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}

/// S SSE clients follow one session while one runner appends
/// `--events-per-second` events; every delivery's delay from just before
/// its append to its arrival.
pub async fn subscribers(args: &Args, server: &Server) -> anyhow::Result<Value> {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.subscribers + 8)
        .build()?;
    let (environment, deployments) = setup(&client, server, 1).await?;
    let run: Value = client
        .post(format!(
            "{}/deployments/{}/run",
            server.http, deployments[0]
        ))
        .bearer_auth(&server.token)
        .send()
        .await?
        .json()
        .await?;
    let session = run["session_id"]
        .as_str()
        .context("a started run")?
        .to_string();
    let rss_before = server.peak_rss_mib();

    let delays = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let delivered = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicU64::new(0));
    let url = format!("{}/sessions/{session}/events/stream", server.http);
    let mut followers = Vec::new();
    for _ in 0..args.subscribers {
        let (client, url, token) = (client.clone(), url.clone(), server.token.clone());
        let (delays, delivered, ready) = (delays.clone(), delivered.clone(), ready.clone());
        followers.push(tokio::spawn(async move {
            let response = client.get(&url).bearer_auth(&token).send().await?;
            let mut stream = response.bytes_stream().eventsource();
            let mut history = 0;
            while let Some(event) = stream.next().await {
                let event = event.map_err(|e| anyhow::anyhow!("{e}"))?;
                let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
                match data["sent_at_us"].as_i64() {
                    Some(sent) => {
                        let delay = (unix_micros() - sent).max(1) as u64;
                        delays.lock().await.record(delay).ok();
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    None if event.event != "heartbeat" => {
                        history += 1;
                        if history == 2 {
                            ready.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => {}
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready.load(Ordering::Relaxed) < args.subscribers as u64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "subscribers did not connect in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_connected = server.peak_rss_mib();

    let mut runner = RunnerServiceClient::new(
        tonic::transport::Endpoint::from_shared(server.grpc.clone())?
            .connect()
            .await?,
    );
    let turn = claim(&mut runner, &server.token, &environment)
        .await?
        .context("a turn to append to")?;
    let run_id = turn.run.as_ref().map(|r| r.id.clone()).unwrap_or_default();
    let every = Duration::from_nanos(1_000_000_000 / args.events_per_second.max(1));
    let mut tick = tokio::time::interval(every);
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut sent = 0i64;
    while Instant::now() < end {
        tick.tick().await;
        sent += 1;
        let event = message(sent, Some(("sent_at_us", json!(unix_micros()))));
        runner
            .append_events(authed(
                &server.token,
                AppendEventsRequest {
                    run_id: run_id.clone(),
                    lease_id: turn.lease_id.clone(),
                    events: vec![event],
                },
            ))
            .await?;
    }
    // Let the last events arrive.
    let expected = sent as u64 * args.subscribers as u64;
    let settle = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for follower in &followers {
        follower.abort();
    }
    let delays = delays.lock().await;
    let ms = |q: f64| delays.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "mode": "subscribers",
        "backend": server.backend(),
        "subscribers": args.subscribers,
        "events": sent,
        "deliveries": delivered.load(Ordering::Relaxed),
        "expected_deliveries": expected,
        "delay_p50_ms": ms(0.50),
        "delay_p99_ms": ms(0.99),
        "delay_max_ms": delays.max() as f64 / 1000.0,
        "server_rss_before_mib": rss_before,
        "server_rss_connected_mib": rss_connected,
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}
