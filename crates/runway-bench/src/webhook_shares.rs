//! `--mode webhook-shares`: how long another endpoint's events take while
//! one endpoint answers nothing. The silent endpoint gets a backlog of 300
//! test events, then 50 more a second; meanwhile the prompt endpoint gets a
//! test event every half second for `--seconds`, each timed from its POST
//! to its arrival at the prompt receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runway_api::enums::WebhookEventType;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::Args;
use crate::server::Server;
use crate::webhooks::{Receiver, call};

/// The silent endpoint's test events before the probes start.
const BACKLOG: usize = 300;
/// Its test events a second while the probes run.
const SILENT_PER_S: u64 = 50;
/// How long a probe may take before it counts as not arrived.
const PATIENCE: Duration = Duration::from_secs(40);

/// A receiver that answers 200 at once and notes when each event arrived.
#[derive(Clone, Default)]
struct Arrivals {
    at: Arc<Mutex<HashMap<String, Instant>>>,
    changed: Arc<Notify>,
}

impl Arrivals {
    async fn start(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let arrivals = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::Json<Value>| {
                let arrivals = arrivals.clone();
                async move {
                    if let Some(id) = body["id"].as_str() {
                        let mut at = arrivals.at.lock().unwrap();
                        at.entry(id.to_string()).or_insert_with(Instant::now);
                    }
                    arrivals.changed.notify_waiters();
                    axum::http::StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    /// When event `id` arrived, waiting until `deadline`.
    async fn arrival(&self, id: &str, deadline: Instant) -> Option<Instant> {
        loop {
            let changed = self.changed.notified();
            if let Some(at) = self.at.lock().unwrap().get(id) {
                return Some(*at);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let _ = tokio::time::timeout(left, changed).await;
        }
    }
}

pub async fn run(args: &Args, server: &Server) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let silent = Receiver::start(false).await?;
    let prompt = Arrivals::default();
    let prompt_url = prompt.start().await?;
    let all = [WebhookEventType::All.name()];
    let endpoint = async |url: &str| -> anyhow::Result<String> {
        let created = call(
            &client,
            server,
            "/webhooks/endpoints",
            json!({"url": url, "event_types": all}),
        )
        .await?;
        Ok(created["id"].as_str().unwrap_or_default().to_string())
    };
    let silent_id = endpoint(&silent.url).await?;
    let prompt_id = endpoint(&prompt_url).await?;
    let test = |id: &str| format!("/webhooks/endpoints/{id}/test");
    for _ in 0..BACKLOG {
        call(&client, server, &test(&silent_id), json!({})).await?;
    }

    let done = std::sync::atomic::AtomicBool::new(false);
    let feed = async {
        let mut every = tokio::time::interval(Duration::from_millis(1000 / SILENT_PER_S));
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            every.tick().await;
            let _ = call(&client, server, &test(&silent_id), json!({})).await;
        }
    };
    let probes = async {
        let mut sent = Vec::new();
        let mut every = tokio::time::interval(Duration::from_millis(500));
        for _ in 0..args.seconds * 2 {
            every.tick().await;
            let at = Instant::now();
            let delivery = call(&client, server, &test(&prompt_id), json!({})).await;
            let id = delivery.map(|d| d["event_id"].as_str().unwrap_or_default().to_string());
            sent.push((at, id));
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        sent
    };
    let ((), sent) = tokio::join!(feed, probes);
    let sent = sent
        .into_iter()
        .map(|(at, id)| Ok((at, id?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deadline = Instant::now() + PATIENCE;
    let mut took = Vec::new();
    for (at, id) in &sent {
        if let Some(arrived) = prompt.arrival(id, deadline).await {
            took.push(arrived.duration_since(*at).as_secs_f64() * 1000.0);
        }
    }
    silent.gate.send_replace(true);
    took.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        let index = ((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1));
        took.get(index).map(|ms| (ms * 10.0).round() / 10.0)
    };
    Ok(json!({
        "mode": "webhook-shares",
        "backend": server.backend(),
        "silent_backlog": BACKLOG,
        "silent_events_per_s": SILENT_PER_S,
        "probes": sent.len(),
        "probes_arrived": took.len(),
        "p50_ms": quantile(0.5),
        "p90_ms": quantile(0.9),
        "max_ms": took.last().map(|ms| (ms * 10.0).round() / 10.0),
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}
