//! Webhook loads: how fast a backlog of deliveries drains to a local
//! receiver, and what one subscribed endpoint costs the trigger path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use runway_api::enums::WebhookEventType;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::Args;
use crate::server::Server;
use crate::triggers::Triggerers;

/// A local receiver that answers 200 (with an empty body) once its gate is
/// open, and counts what it answered.
pub(crate) struct Receiver {
    answered: Arc<AtomicU64>,
    pub gate: watch::Sender<bool>,
    pub url: String,
}

impl Receiver {
    pub async fn start(open: bool) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let (gate, _) = watch::channel(open);
        let receiver = Receiver {
            answered: Arc::default(),
            gate,
            url: format!("http://{}/hook", listener.local_addr()?),
        };
        let (answered, opened) = (receiver.answered.clone(), receiver.gate.subscribe());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let (answered, mut opened) = (answered.clone(), opened.clone());
                async move {
                    let _ = opened.wait_for(|open| *open).await;
                    answered.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(receiver)
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

/// POSTs `body` to the REST API; the answer's JSON.
pub(crate) async fn call(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = client
        .post(format!("{}{path}", server.http))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "{path}: {}", r.text().await?);
    Ok(r.json().await?)
}

/// The server's `runway_webhook_attempts_total` of one outcome.
async fn attempts(client: &reqwest::Client, server: &Server, outcome: &str) -> u64 {
    let root = server.http.trim_end_matches("/api/v1/cloud");
    let Ok(r) = client.get(format!("{root}/metrics")).send().await else {
        return 0;
    };
    let text = r.text().await.unwrap_or_default();
    let name = format!("runway_webhook_attempts_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `done` every 5 ms until it holds, for at most `limit`.
async fn until(
    limit: Duration,
    what: &str,
    mut done: impl AsyncFnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done().await {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// `--mode deliveries`: `--events` runs are triggered while the receiver
/// holds every request (the worker's in-flight window fills, the rest
/// waits in the table); then the receiver answers and the backlog drains.
pub async fn deliveries(args: &Args, server: &Server) -> anyhow::Result<Value> {
    let receiver = Receiver::start(false).await?;
    let triggerers = Triggerers::new(args, server).await?;
    let client = triggerers.http_client().clone();
    call(
        &client,
        server,
        "/webhooks/endpoints",
        json!({"url": receiver.url, "event_types": [WebhookEventType::All.name()]}),
    )
    .await?;
    // Every answered trigger is one event (started or skipped).
    let backlog_start = Instant::now();
    let events = triggerers.count(args.events).await?;
    let backlog_seconds = backlog_start.elapsed().as_secs_f64();

    let start = Instant::now();
    receiver.gate.send_replace(true);
    until(
        Duration::from_secs(600),
        "every event answered",
        async || receiver.answered() >= events,
    )
    .await?;
    let answered_in = start.elapsed().as_secs_f64();
    until(
        Duration::from_secs(600),
        "every answer recorded",
        async || attempts(&client, server, "delivered").await >= events,
    )
    .await?;
    let recorded_in = start.elapsed().as_secs_f64();
    Ok(json!({
        "mode": "deliveries",
        "backend": server.backend(),
        "events": events,
        "backlog_written_per_s": (events as f64 / backlog_seconds).round(),
        "answered": receiver.answered(),
        "answered_per_s": (events as f64 / answered_in).round(),
        "recorded_per_s": (events as f64 / recorded_in).round(),
        "retrying": attempts(&client, server, "retrying").await,
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}

/// `--mode webhook-triggers`: the trigger load in alternating phases, the
/// organization's one endpoint (subscribed to every event, answered by a
/// local receiver) disabled in one and enabled in the next, `--rounds`
/// times. The endpoint subscribes to `--event-types` (default `*`: every
/// trigger writes a delivery). Each phase starts once the previous phase's deliveries drained.
pub async fn triggers(args: &Args, server: &Server) -> anyhow::Result<Value> {
    let receiver = Receiver::start(true).await?;
    let triggerers = Triggerers::new(args, server).await?;
    let client = triggerers.http_client().clone();
    let hook = call(
        &client,
        server,
        "/webhooks/endpoints",
        json!({"url": receiver.url, "event_types": args.event_types, "enabled": false}),
    )
    .await?;
    let path = format!(
        "/webhooks/endpoints/{}",
        hook["id"].as_str().unwrap_or_default()
    );
    let pending = format!("{}{path}/deliveries?status=pending&limit=1", server.http);
    let (warmup, measure) = (Duration::from_secs(2), Duration::from_secs(args.seconds));
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut phases = Vec::new();
    for _ in 0..args.rounds {
        for enabled in [false, true] {
            call(&client, server, &path, json!({"enabled": enabled})).await?;
            let phase = triggerers.phase(warmup, measure).await?;
            let drain = Instant::now();
            until(
                Duration::from_secs(600),
                "the deliveries to drain",
                async || {
                    let Ok(r) = client.get(&pending).bearer_auth(&server.token).send().await else {
                        return false;
                    };
                    r.json::<Value>()
                        .await
                        .is_ok_and(|page| page["data"].as_array().is_some_and(Vec::is_empty))
                },
            )
            .await?;
            let throughput = phase.throughput();
            match enabled {
                true => with.push(throughput),
                false => without.push(throughput),
            }
            phases.push(json!({
                "endpoint": enabled,
                "throughput_per_s": throughput,
                "p99_ms": phase.ms(0.99),
                "errors": phase.errors,
                "cpu_us_per_trigger": phase.cpu_us,
                "disk_kib_per_trigger": phase.disk_kib,
                "drained_after_s": (drain.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            }));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(json!({
        "mode": "webhook-triggers",
        "backend": server.backend(),
        "transport": format!("{:?}", args.transport).to_lowercase(),
        "clients": args.clients,
        "deployments": triggerers.deployments(),
        "seconds": args.seconds,
        "event_types": args.event_types,
        "phases": phases,
        "without_endpoint_per_s": mean(&without).round(),
        "with_endpoint_per_s": mean(&with).round(),
        "ratio": (mean(&with) / mean(&without) * 1000.0).round() / 1000.0,
        "delivered": attempts(&client, server, "delivered").await,
        "answered": receiver.answered(),
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}
