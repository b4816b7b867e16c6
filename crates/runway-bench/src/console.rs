//! The web console under load, on a database holding `--history` runs over
//! `--history-deployments` scheduled deployments: each main page's
//! response time (one browser at a time, so the time is the server's plus
//! a loopback hop) and its weight as a first visit transfers it (the HTML
//! and the assets it links); then the server's resident memory with
//! `--viewers` open live runs pages while runs are triggered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::Args;
use crate::history;
use crate::server::Server;

/// Each page is read for this long.
const PER_PAGE: Duration = Duration::from_secs(4);
/// Zones the deployments' schedules are spread over.
const ZONES: [&str; 4] = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai"];

pub async fn run(args: &Args, server: &Server) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.viewers + 8)
        .build()?;
    let history = history::fill(&client, server, args.history_deployments, args.history).await?;
    schedule_all(&client, server, &history.deployments).await?;
    let root = server.http.trim_end_matches("/api/v1/cloud").to_string();
    let cookie = sign_in(&client, &root, &server.token).await?;
    let browser = Browser {
        client: client.clone(),
        root,
        cookie,
    };
    let run: Value = client
        .post(format!(
            "{}/deployments/{}/run",
            server.http, history.deployments[0]
        ))
        .bearer_auth(&server.token)
        .send()
        .await?
        .json()
        .await?;
    let run_id = run["id"].as_str().context("a run")?;
    let dep = &history.deployments[0];
    let mut pages = Vec::new();
    for path in [
        "/deployments".to_string(),
        "/".to_string(),
        "/runs".to_string(),
        format!("/deployments/{dep}"),
        format!("/runs/{run_id}"),
    ] {
        pages.push(browser.measure(&path).await?);
    }
    let viewers = viewers(args, server, &browser, &history.deployments).await?;
    Ok(json!({
        "mode": "console",
        "backend": server.backend(),
        "history": history::report(&history, args.history),
        "pages": pages,
        "live_runs_viewers": viewers,
        "peak_rss_mib": server.peak_rss_mib(),
    }))
}

/// Gives every deployment a weekday schedule in one of [`ZONES`], so the
/// list shows schedules in words and next fire times.
async fn schedule_all(
    client: &reqwest::Client,
    server: &Server,
    deployments: &[String],
) -> anyhow::Result<()> {
    let updates = futures::stream::iter(deployments.iter().enumerate().map(|(i, id)| {
        let request = client
            .post(format!("{}/deployments/{id}", server.http))
            .bearer_auth(&server.token)
            .json(&json!({"schedule": {
                "expression": format!("{} {} * * 1-5", i % 60, 6 + i % 12),
                "timezone": ZONES[i % ZONES.len()],
            }}));
        async move {
            let r = request.send().await?;
            anyhow::ensure!(r.status().is_success(), "schedule: {}", r.text().await?);
            Ok(())
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<anyhow::Result<()>>>()
    .await;
    updates.into_iter().collect()
}

/// Signs the bench's token in; the session cookie's `name=value`.
async fn sign_in(client: &reqwest::Client, root: &str, token: &str) -> anyhow::Result<String> {
    let r = client
        .post(format!("{root}/sign-in"))
        .form(&[("token", token)])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "sign-in answered {}", r.status());
    let cookie = r
        .headers()
        .get("set-cookie")
        .context("a session cookie")?
        .to_str()?;
    Ok(cookie.split(';').next().unwrap_or_default().to_string())
}

/// A signed-in browser.
struct Browser {
    client: reqwest::Client,
    root: String,
    cookie: String,
}

impl Browser {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.root))
            .header("cookie", &self.cookie)
    }

    /// A page's response time, read one request at a time for
    /// [`PER_PAGE`], and its first-visit weight.
    async fn measure(&self, path: &str) -> anyhow::Result<Value> {
        let first = self.get(path).send().await?;
        anyhow::ensure!(first.status() == 200, "{path}: {}", first.status());
        let html = first.text().await?;
        let mut assets = 0;
        for asset in linked_assets(&html) {
            let r = self.get(&asset).send().await?;
            anyhow::ensure!(r.status() == 200, "{asset}: {}", r.status());
            assets += r.bytes().await?.len();
        }
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let start = Instant::now();
        while start.elapsed() < PER_PAGE {
            let t = Instant::now();
            let r = self.get(path).send().await?;
            anyhow::ensure!(r.status() == 200, "{path}: {}", r.status());
            r.bytes().await?;
            histogram.record(t.elapsed().as_micros() as u64)?;
        }
        let ms = |q: f64| (histogram.value_at_quantile(q) as f64 / 10.0).round() / 100.0;
        let kib = |bytes: usize| (bytes as f64 / 1024.0 * 10.0).round() / 10.0;
        Ok(json!({
            "path": path,
            "requests": histogram.len(),
            "p50_ms": ms(0.5),
            "p99_ms": ms(0.99),
            "max_ms": ms(1.0),
            "html_kib": kib(html.len()),
            "assets_kib": kib(assets),
            "first_visit_kib": kib(html.len() + assets),
        }))
    }
}

/// The stylesheet and scripts a page links (`/assets/…`).
fn linked_assets(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["href=\"/assets/", "src=\"/assets/"] {
        for part in html.split(attribute).skip(1) {
            if let Some(rest) = part.split('"').next() {
                found.push(format!("/assets/{}", rest.replace("&amp;", "&")));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The server's resident memory now (VmRSS), in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("VmRSS")
}

/// Opens `n` live runs pages; each counts the `runs` events it receives.
/// Returns when every one has its first event.
async fn open_viewers(
    browser: &Browser,
    n: usize,
) -> anyhow::Result<(Vec<tokio::task::JoinHandle<()>>, Arc<Vec<AtomicU64>>)> {
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let mut tasks = Vec::new();
    for i in 0..n {
        let r = browser.get("/runs/live").send().await?;
        anyhow::ensure!(r.status() == 200, "/runs/live: {}", r.status());
        let counts = counts.clone();
        tasks.push(tokio::spawn(async move {
            let mut body = r.bytes_stream();
            let mut pending = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                pending.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = pending.find("\n\n") {
                    if pending[..end].lines().any(|l| l == "event: runs") {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                    }
                    pending.drain(..end + 2);
                }
            }
        }));
    }
    wait_for(&counts, 1).await?;
    Ok((tasks, counts))
}

/// Waits until every viewer has received `events` pages (60 s at most).
async fn wait_for(counts: &[AtomicU64], events: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts.iter().any(|c| c.load(Ordering::Relaxed) < events) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "viewers did not receive {events} pages within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Triggers `per_second` runs a second for `seconds`, round robin over
/// the deployments.
async fn trigger_for(
    client: &reqwest::Client,
    server: &Server,
    deployments: &[String],
    per_second: u64,
    seconds: u64,
) -> anyhow::Result<u64> {
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / per_second.max(1)));
    let mut sent = 0;
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        tick.tick().await;
        let id = &deployments[sent as usize % deployments.len()];
        let r = client
            .post(format!("{}/deployments/{id}/run", server.http))
            .bearer_auth(&server.token)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "trigger: {}", r.status());
        r.bytes().await?;
        sent += 1;
    }
    Ok(sent)
}

/// The server's RSS before and while `--viewers` live runs pages are open
/// and runs are triggered (20 a second for `--seconds`): every viewer must
/// receive at least three changed pages.
async fn viewers(
    args: &Args,
    server: &Server,
    browser: &Browser,
    deployments: &[String],
) -> anyhow::Result<Value> {
    // Warm-up: a few viewers through a few changes, so the server's pools
    // and caches are not counted against the viewers.
    let (warm, counts) = open_viewers(browser, 8).await?;
    trigger_for(&browser.client, server, deployments, 20, 2).await?;
    wait_for(&counts, 2).await?;
    warm.iter().for_each(|t| t.abort());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib(server.pid)?;

    let n = args.viewers;
    let opened = Instant::now();
    let (tasks, counts) = open_viewers(browser, n).await?;
    let open_seconds = opened.elapsed().as_secs_f64();
    let triggers = trigger_for(&browser.client, server, deployments, 20, args.seconds).await?;
    wait_for(&counts, 3).await?;
    let during = rss_kib(server.pid)?;
    let pages: u64 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    tasks.iter().for_each(|t| t.abort());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(server.pid)?;
    let mib = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
    Ok(json!({
        "viewers": n,
        "open_seconds": (open_seconds * 10.0).round() / 10.0,
        "triggers": triggers,
        "pages_received": pages,
        "pages_per_viewer": (pages as f64 / n.max(1) as f64 * 10.0).round() / 10.0,
        "rss_before_mib": mib(before),
        "rss_with_viewers_mib": mib(during),
        "rss_after_close_mib": mib(after),
        "rss_growth_per_viewer_kib": ((during.saturating_sub(before)) as f64 / n.max(1) as f64).round(),
    }))
}
