//! The `runway serve` child process every load runs against, and the
//! resources the loads create through its REST API.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `runway serve` on fresh ports and a fresh database.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// `http://host:port` of gRPC.
    pub grpc: String,
    /// The REST base, `http://host:port/api/v1/cloud`.
    pub http: String,
    pub token: String,
    pub database_url: String,
    data: PathBuf,
}

impl Server {
    /// Starts `runway` (`serve_args` appended) on SQLite in a temp dir, or
    /// on `database_url` (which must be empty: the bench needs the
    /// bootstrap admin token).
    pub async fn start(
        runway: &Path,
        database_url: Option<&str>,
        serve_args: &[String],
    ) -> anyhow::Result<Server> {
        let data = std::env::temp_dir().join(format!("runway-bench-{}", std::process::id()));
        std::fs::create_dir_all(&data)?;
        let database_url = database_url
            .map(str::to_string)
            .unwrap_or_else(|| format!("sqlite://{}", data.join("runway.db").display()));
        let mut child = Command::new(runway)
            .args([
                "serve",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
                "--no-scheduler",
            ])
            .args(["--database-url", &database_url])
            .args(serve_args)
            .arg("--data-dir")
            .arg(&data)
            // Warnings only, unless RUNWAY_BENCH_SERVER_LOG says otherwise
            // (e.g. `warn,runway_server::pruner=debug`).
            .env(
                "RUST_LOG",
                std::env::var("RUNWAY_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", runway.display()))?;
        let pid = child.id().context("server pid")?;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
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
        Ok(Server {
            child,
            pid,
            grpc,
            http,
            token,
            database_url,
            data,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        if self.database_url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// The server's peak resident set so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let kib = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|status| {
                let line = status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))?
                    .to_string();
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .unwrap_or(0);
        (kib as f64 / 1024.0 * 10.0).round() / 10.0
    }

    /// Stops the server and removes its data.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// An agent, an environment and `n` deployments with `max_concurrent`
/// 100: after 100 running runs each trigger records a skipped run, which is
/// the same transaction minus the session insert. Returns the environment
/// and the deployments.
pub async fn setup(
    client: &reqwest::Client,
    server: &Server,
    n: usize,
) -> anyhow::Result<(String, Vec<String>)> {
    let post = |path: String, body: serde_json::Value| {
        let client = client.clone();
        let token = server.token.clone();
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
    let api = &server.http;
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
    Ok((env["id"].as_str().unwrap().to_string(), ids))
}

/// Triggers per batch transaction over the whole run (warm-up included),
/// from the server's `runway_trigger_batch_size` histogram.
pub async fn mean_trigger_batch(client: &reqwest::Client, api: &str) -> Option<f64> {
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
