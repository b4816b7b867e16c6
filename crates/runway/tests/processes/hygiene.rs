//! What a first start leaves on disk and what the processes write to their
//! logs: private files, no secret in any log line, no colour codes in a
//! pipe, JSON lines on request.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::harness::{Api, BIN, agent_script, eventually};
use crate::receiver::Receiver;

/// A child process whose standard output and error are kept, whole.
struct Logged {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Logged {
    fn spawn(command: &mut Command) -> Logged {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn runway");
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            keep(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            keep(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Logged {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits for the server's "gRPC on A, REST on http://B/…" line; returns
    /// `(http://A, http://B)`.
    async fn listening(&self) -> (String, String) {
        eventually(
            Duration::from_secs(60),
            "runway serve to listen",
            || async {
                let out = self.stdout.lock().unwrap().clone();
                let line = out
                    .lines()
                    .find_map(|l| l.strip_prefix("runway: gRPC on "))?;
                let (grpc, rest) = line.split_once(", REST on ")?;
                Some((
                    format!("http://{grpc}"),
                    rest.trim_end_matches("/api/v1/cloud").to_string(),
                ))
            },
        )
        .await
    }

    /// Kills the process and returns everything it wrote: (stdout, stderr).
    async fn finish(mut self) -> (String, String) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        for reader in self.readers {
            reader.await.unwrap();
        }
        let take = |text: &Arc<Mutex<String>>| std::mem::take(&mut *text.lock().unwrap());
        (take(&self.stdout), take(&self.stderr))
    }
}

fn keep(
    mut pipe: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    })
}

fn serve(data_dir: &Path, rust_log: &str, extra: &[&str]) -> Logged {
    Logged::spawn(
        Command::new(BIN)
            .args([
                "serve",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--no-scheduler", "--webhooks-allow-private"])
            .args(extra)
            .env("RUST_LOG", rust_log)
            .env_remove("NO_COLOR"),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_keeps_its_files_private_and_no_secret_reaches_the_logs() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("nested").join("data");
    // The most a user could turn on: every crate at trace.
    let server = serve(&data, "trace", &[]);
    let (grpc, http) = server.listening().await;

    assert_eq!(mode(&scratch.path().join("nested")), 0o700);
    assert_eq!(mode(&data), 0o700);
    for file in ["runway.db", "runway.db-wal", "runway.db-shm", "admin-token"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    let token = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_string();

    // A run from trigger to its webhooks, with a runner process on gRPC.
    let api = Api::new(&http, &token);
    let receiver = Receiver::start(false).await;
    let (status, hook) = api
        .post(
            "/webhooks/endpoints",
            json!({"url": receiver.url, "event_types": ["*"]}),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    let hook_id = hook["id"].as_str().unwrap();
    let (status, rotated) = api
        .post(
            &format!("/webhooks/endpoints/{hook_id}/rotate_secret"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let secrets = [&hook["signing_secret"], &rotated["signing_secret"]]
        .map(|s| s.as_str().unwrap().to_string());
    assert!(
        secrets.iter().all(|s| s.starts_with("whsec_")),
        "{secrets:?}"
    );
    let (agent, env) = api.agent_and_environment().await;
    let dep = api.deployment(&agent, &env, "exit 0", json!({})).await;
    // The runner's token is issued through the API, and revoked ones too.
    let (status, issued) = api
        .post(
            "/tokens",
            json!({"name": "runner", "scope": "runner", "environment_ids": [env]}),
        )
        .await;
    assert_eq!(status, 200, "{issued}");
    let runner_token = issued["secret"].as_str().unwrap().to_string();
    let (_, doomed) = api
        .post("/tokens", json!({"name": "doomed", "scope": "read"}))
        .await;
    let doomed_token = doomed["secret"].as_str().unwrap().to_string();
    let (status, _) = api
        .post(
            &format!("/tokens/{}/revoke", doomed["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let runner = Logged::spawn(
        Command::new(BIN)
            .args(["runner", "--server", &grpc, "--environment", &env])
            .args(["--exec", &format!("sh {}", agent_script().display())])
            .env("RUNWAY_TOKEN", &runner_token)
            .env("RUST_LOG", "trace")
            .env_remove("NO_COLOR"),
    );
    let run = api.trigger(&dep).await;
    let run = api
        .terminal(run["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(run["status"], "completed", "{run}");
    eventually(
        Duration::from_secs(30),
        "started and completed webhooks",
        || async { (receiver.arrivals().len() >= 2).then_some(()) },
    )
    .await;
    // A refused token is not logged either.
    let bogus = "rw_bogus_0123456789abcdef0123456789abcdef";
    let refused = crate::harness::http_client()
        .get(format!("{http}/api/v1/cloud/deployments"))
        .bearer_auth(bogus)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    let (server_out, server_err) = server.finish().await;
    let (runner_out, runner_err) = runner.finish().await;
    assert!(
        server_out.contains("its admin token is in") && server_out.contains("(mode 0600)"),
        "a piped stdout is told where the token is: {server_out}"
    );
    assert!(
        server_err.contains("DEBUG") && runner_err.contains("DEBUG"),
        "verbose logging was on"
    );
    for (name, text) in [
        ("server stdout", &server_out),
        ("server stderr", &server_err),
        ("runner stdout", &runner_out),
        ("runner stderr", &runner_err),
    ] {
        for secret in [
            token.as_str(),
            bogus,
            &secrets[0],
            &secrets[1],
            &runner_token,
            &doomed_token,
        ] {
            assert!(!text.contains(secret), "{name} holds a secret");
        }
        let lower = text.to_lowercase();
        for word in ["authorization", "bearer "] {
            assert!(!lower.contains(word), "{name} mentions {word:?}");
        }
        assert!(!text.contains('\u{1b}'), "{name} holds colour codes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_a_line() {
    let scratch = tempfile::tempdir().unwrap();
    let server = serve(scratch.path(), "info", &["--log-format", "json"]);
    server.listening().await;
    let (_, err) = server.finish().await;
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty(), "the server logged at info");
    for line in lines {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            entry["timestamp"].is_string()
                && entry["level"].is_string()
                && entry["target"].is_string()
                && entry["fields"].is_object(),
            "{line}"
        );
    }
}
