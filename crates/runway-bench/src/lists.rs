//! The read load: each list filter the API offers, a few point reads, one
//! at a time per client, on a database holding `--history` runs; each
//! query's p50 and p99 and the reads a second.

use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::Args;
use crate::cpu::CpuTicks;
use crate::history::{self, History};
use crate::server::Server;

/// Each query is read by `--clients` clients for this long.
const PER_QUERY: Duration = Duration::from_secs(3);

/// `clients` clients read `path` for `window`, each one read at a time: its
/// reads a second, p50, p99 and the server's CPU per read.
pub async fn measure(
    client: &reqwest::Client,
    server: &Server,
    clients: usize,
    path: &str,
    window: Duration,
) -> anyhow::Result<Value> {
    let url = format!("{}{path}", server.http);
    // One read first: it must answer 200 with what the path names.
    let first = client.get(&url).bearer_auth(&server.token).send().await?;
    anyhow::ensure!(
        first.status().is_success(),
        "{path}: {}",
        first.text().await?
    );
    let body: Value = first.json().await?;
    let rows = body["data"].as_array().map(Vec::len);
    let cpu_before = CpuTicks::read(server.pid);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (client, url, token) = (client.clone(), url.clone(), server.token.clone());
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            while start.elapsed() < window {
                let t = Instant::now();
                let r = client.get(&url).bearer_auth(&token).send().await?;
                anyhow::ensure!(r.status().is_success(), "{}", r.status());
                r.bytes().await?;
                histogram.record(t.elapsed().as_micros() as u64)?;
            }
            Ok::<_, anyhow::Error>(histogram)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for task in tasks {
        all.add(task.await??)?;
    }
    let cpu_us = cpu_before.per_operation_us(&CpuTicks::read(server.pid), all.len());
    let ms = |q: f64| (all.value_at_quantile(q) as f64 / 10.0).round() / 100.0;
    Ok(json!({
        "path": path,
        "rows": rows,
        "reads_per_second": (all.len() as f64 / start.elapsed().as_secs_f64()).round(),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "server_cpu_us_per_read": cpu_us.get("server"),
    }))
}

/// The queries: every list filter (alone and a few combinations) and the
/// point reads, on the history's deployments.
fn paths(history: &History, run_id: &str) -> Vec<String> {
    let dep = &history.deployments[0];
    let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
    let week_ago = week_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    vec![
        "/deployment_runs".into(),
        "/deployment_runs?status=failed".into(),
        "/deployment_runs?status=running".into(),
        "/deployment_runs?trigger_type=retry".into(),
        "/deployment_runs?has_error=true".into(),
        "/deployment_runs?has_error=false".into(),
        "/deployment_runs?status=failed&trigger_type=manual".into(),
        format!("/deployment_runs?deployment_id={dep}"),
        format!("/deployment_runs?deployment_id={dep}&status=skipped"),
        format!("/deployment_runs?deployment_id={dep}&has_error=true&trigger_type=schedule"),
        "/deployment_runs?deployment_id=dep_00000000000000000000000000000000".into(),
        format!("/deployments/{dep}/runs"),
        format!("/deployments/{dep}/runs?status=failed"),
        format!("/deployments/{dep}/runs?triggered_before={week_ago}"),
        "/deployment_runs?limit=100".into(),
        format!("/deployments/{dep}"),
        format!("/deployment_runs/{run_id}"),
    ]
}

pub async fn run(args: &Args, server: &Server) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let history = history::fill(&client, server, args.history_deployments, args.history).await?;
    // One live run, the newest, for the point read (and an empty history).
    let newest: Value = client
        .post(format!(
            "{}/deployments/{}/run",
            server.http, history.deployments[0]
        ))
        .bearer_auth(&server.token)
        .send()
        .await?
        .json()
        .await?;
    let run_id = newest["id"].as_str().context("a run")?.to_string();
    let mut queries = Vec::new();
    for path in paths(&history, &run_id) {
        queries.push(measure(&client, server, args.clients, &path, PER_QUERY).await?);
    }
    Ok(json!({
        "mode": "lists",
        "backend": server.backend(),
        "clients": args.clients,
        "history": history::report(&history, args.history),
        "database_mib": history::database_mib(server).await?,
        "queries": queries,
        "peak_rss_mib": server.peak_rss_mib(),
    }))
}
