//! `runway-bench`: N clients trigger runs as fast as they can for a fixed
//! time, over gRPC or REST, against a `runway serve` child process on SQLite
//! or PostgreSQL. Reports throughput, p50/p99/p999 latency and the server's
//! peak RSS (VmHWM). Build the server with `--release` first.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use runway_api::enums::RunStatus;
use runway_api::v1::RunDeploymentRequest;
use runway_api::v1::deployment_service_client::DeploymentServiceClient;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Transport {
    Grpc,
    Rest,
}

#[derive(Debug, Parser)]
#[command(about = "Trigger-throughput benchmark for runway")]
struct Args {
    /// gRPC or REST.
    #[arg(long, value_enum, default_value = "grpc")]
    transport: Transport,
    /// Concurrent clients (each triggers its own deployments).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Deployments each client triggers in turn. Each takes 100 running runs
    /// before its triggers are recorded `skipped`, so enough of them (say 20
    /// for 10 s) measure the started path (run + session) throughout.
    #[arg(long, default_value_t = 1)]
    deployments_per_client: usize,
    /// How long to measure, in seconds (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// `postgres://…` to bench PostgreSQL; default: SQLite in a temp dir.
    #[arg(long)]
    database_url: Option<String>,
    /// Extra arguments for `runway serve` (e.g. `--sqlite-synchronous=normal`).
    #[arg(long, allow_hyphen_values = true)]
    serve_arg: Vec<String>,
    /// The runway binary to start.
    #[arg(long, default_value = "target/release/runway")]
    runway: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let data = std::env::temp_dir().join(format!("runway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data.join("runway.db").display()));
    let mut server = Command::new(&args.runway)
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--no-scheduler",
        ])
        .args(["--database-url", &database_url])
        .args(&args.serve_arg)
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", args.runway.display()))?;
    let pid = server.id().context("server pid")?;
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let (grpc, http) = loop {
        let Some(line) = lines.next_line().await? else {
            bail!("runway serve exited")
        };
        if let Some(rest) = line.strip_prefix("runway: gRPC on ") {
            let (grpc, rest) = rest.split_once(", REST on ").unwrap();
            break (format!("http://{grpc}"), rest.to_string());
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let token = std::fs::read_to_string(data.join("admin-token"))
        .context("the database must be empty: the bench needs the bootstrap admin token")?
        .trim()
        .to_string();

    let http_client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let deployments = setup(
        &http_client,
        &http,
        &token,
        args.clients * args.deployments_per_client.max(1),
    )
    .await?;
    // Each client its own HTTP/2 connection, as independent callers would
    // have (REST clients get theirs from reqwest's pool).
    let endpoint = tonic::transport::Endpoint::from_shared(grpc)?;
    let mut channels = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        channels.push(endpoint.connect().await?);
    }

    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (mine, channel) in deployments
        .chunks(args.deployments_per_client.max(1))
        .zip(channels)
    {
        let mine = mine.to_vec();
        let (token, http_client, http) = (token.clone(), http_client.clone(), http.clone());
        let transport = args.transport;
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut errors, mut started) = (0u64, 0u64);
            let mut grpc = DeploymentServiceClient::new(channel);
            let urls: Vec<String> = mine
                .iter()
                .map(|d| format!("{http}/deployments/{d}/run"))
                .collect();
            let auth: tonic::metadata::MetadataValue<_> =
                format!("Bearer {token}").parse().unwrap();
            let mut turn = 0;
            while start.elapsed() < warmup + measure {
                turn = (turn + 1) % mine.len();
                let t = Instant::now();
                // Some(started?) on success.
                let outcome = match transport {
                    Transport::Grpc => {
                        let mut request = tonic::Request::new(RunDeploymentRequest {
                            deployment_id: mine[turn].clone(),
                        });
                        request.metadata_mut().insert("authorization", auth.clone());
                        grpc.run_deployment(request).await.ok().map(|r| {
                            r.into_inner().run.is_some_and(|run| {
                                run.status() == runway_api::v1::DeploymentRunStatus::Running
                            })
                        })
                    }
                    Transport::Rest => match http_client
                        .post(&urls[turn])
                        .bearer_auth(&token)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => r
                            .json::<serde_json::Value>()
                            .await
                            .ok()
                            .map(|run| run["status"] == RunStatus::Running.name()),
                        _ => None,
                    },
                };
                if start.elapsed() > warmup {
                    match outcome {
                        Some(run_started) => {
                            histogram.record(t.elapsed().as_micros() as u64).unwrap();
                            started += u64::from(run_started);
                        }
                        None => errors += 1,
                    }
                }
            }
            (histogram, errors, started)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut errors, mut started) = (0, 0);
    for t in tasks {
        let (h, e, s) = t.await?;
        all.add(h)?;
        errors += e;
        started += s;
    }
    let rss = peak_rss_kib(pid).unwrap_or(0);
    let mean_batch = mean_trigger_batch(&http_client, &http).await;
    let _ = server.start_kill();
    let _ = server.wait().await;
    let _ = std::fs::remove_dir_all(&data);

    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    let backend = if database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let report = json!({
        "transport": format!("{:?}", args.transport).to_lowercase(),
        "backend": backend,
        "clients": args.clients,
        "deployments": args.clients * args.deployments_per_client.max(1),
        "seconds": args.seconds,
        "triggers": all.len(),
        "errors": errors,
        "started": started,
        "throughput_per_s": (all.len() as f64 / measure.as_secs_f64()).round(),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "server_peak_rss_mib": (rss as f64 / 1024.0 * 10.0).round() / 10.0,
        "mean_trigger_batch": mean_batch.map(|m| (m * 10.0).round() / 10.0),
    });
    println!("{report}");
    Ok(())
}

/// An agent, an environment and `n` deployments (max_concurrent 100: after
/// 100 running runs each trigger records a skipped run, which is the same
/// transaction minus the session insert).
async fn setup(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let post = |path: String, body: serde_json::Value| {
        let client = client.clone();
        let token = token.to_string();
        async move {
            let r = client
                .post(path)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "setup failed: {}", r.text().await?);
            Ok::<_, anyhow::Error>(r.json::<serde_json::Value>().await?)
        }
    };
    let agent = post(
        format!("{api}/agents"),
        json!({"name": "bench", "model": "m"}),
    )
    .await?;
    let env = post(format!("{api}/environments"), json!({"name": "bench"})).await?;
    let mut ids = Vec::new();
    for i in 0..n {
        let dep = post(
            format!("{api}/deployments"),
            json!({"name": format!("bench-{i}"), "agent": agent["id"], "environment_id": env["id"],
                   "initial_events": [{"type": "user.message", "content": "go"}],
                   "metadata": {"cas_config": {"config": {"max_concurrent": 100}}}}),
        )
        .await?;
        ids.push(dep["id"].as_str().unwrap().to_string());
    }
    Ok(ids)
}

/// Triggers per batch transaction over the whole run (warm-up included),
/// from the server's `runway_trigger_batch_size` histogram.
async fn mean_trigger_batch(client: &reqwest::Client, api: &str) -> Option<f64> {
    let root = api.trim_end_matches("/api/v1/cloud");
    let text = client
        .get(format!("{root}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    let count = value("runway_trigger_batch_size_count ")?;
    (count > 0.0).then(|| value("runway_trigger_batch_size_sum ").unwrap_or(0.0) / count)
}

/// The peak resident set of process `pid` (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
