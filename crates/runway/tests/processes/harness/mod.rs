//! Child processes for the tests: a server, runners, a gateway, and the
//! agent script; typed calls to the REST API (`api.rs`).

mod api;
mod gateway;

pub use api::{Api, http_client, json};
pub use gateway::Gateway;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_runway");

/// The lease TTL the tests' servers use.
pub const LEASE_TTL: Duration = Duration::from_millis(1000);

fn stderr() -> Stdio {
    if std::env::var_os("TEST_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

/// A `runway serve` child process.
pub struct Server {
    child: Child,
    pub grpc: String,
    pub http: String,
    pub token: String,
    database_url: String,
    data_dir: PathBuf,
    lease_ttl: Duration,
    extra_args: Vec<String>,
    /// Runs the scheduler (off unless asked: most tests trigger by hand).
    scheduling: bool,
}

impl Server {
    /// Starts a server on fresh ports.
    pub async fn start(database_url: &str, data_dir: &Path) -> Server {
        Self::start_at(
            database_url,
            data_dir,
            "127.0.0.1:0",
            "127.0.0.1:0",
            LEASE_TTL,
        )
        .await
    }

    /// Starts a server on fresh ports with more `serve` flags.
    pub async fn start_with(database_url: &str, data_dir: &Path, extra_args: &[&str]) -> Server {
        Self::start_at_with(
            database_url,
            data_dir,
            "127.0.0.1:0",
            "127.0.0.1:0",
            LEASE_TTL,
            extra_args.iter().map(|a| a.to_string()).collect(),
            false,
        )
        .await
    }

    /// Starts a server on fresh ports with its scheduler running (looking
    /// for due deployments every 100 ms).
    pub async fn start_scheduling(database_url: &str, data_dir: &Path) -> Server {
        Self::start_at_with(
            database_url,
            data_dir,
            "127.0.0.1:0",
            "127.0.0.1:0",
            LEASE_TTL,
            vec!["--scheduler-interval-ms".into(), "100".into()],
            true,
        )
        .await
    }

    pub async fn start_at(
        database_url: &str,
        data_dir: &Path,
        grpc: &str,
        http: &str,
        lease_ttl: Duration,
    ) -> Server {
        Self::start_at_with(
            database_url,
            data_dir,
            grpc,
            http,
            lease_ttl,
            Vec::new(),
            false,
        )
        .await
    }

    async fn start_at_with(
        database_url: &str,
        data_dir: &Path,
        grpc: &str,
        http: &str,
        lease_ttl: Duration,
        extra_args: Vec<String>,
        scheduling: bool,
    ) -> Server {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--grpc-addr",
                grpc,
                "--http-addr",
                http,
                "--database-url",
                database_url,
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--lease-ttl-ms", &lease_ttl.as_millis().to_string()])
            // Quick retries, unless the test names its own backoff.
            .args(
                (!extra_args.iter().any(|a| a == "--retry-backoff-ms"))
                    .then_some(["--retry-backoff-ms", "100"])
                    .into_iter()
                    .flatten(),
            )
            .args(["--reaper-interval-ms", "50"])
            .args((!scheduling).then_some("--no-scheduler"))
            .args(&extra_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn runway serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (grpc, http) = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                // "runway: gRPC on A, REST on http://B/api/v1/cloud"
                if let Some(rest) = line.strip_prefix("runway: gRPC on ") {
                    let (grpc, rest) = rest.split_once(", REST on ").unwrap();
                    let http = rest.trim_end_matches("/api/v1/cloud").to_string();
                    // gRPC speaks TLS exactly when REST does.
                    let scheme = if http.starts_with("https:") {
                        "https"
                    } else {
                        "http"
                    };
                    return (format!("{scheme}://{grpc}"), http);
                }
            }
            panic!("runway serve exited before listening");
        })
        .await
        .expect("runway serve listens within a minute");
        // Keep draining stdout so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let token = std::fs::read_to_string(data_dir.join("admin-token"))
            .unwrap()
            .trim()
            .to_string();
        Server {
            child,
            grpc,
            http,
            token,
            database_url: database_url.to_string(),
            data_dir: data_dir.to_path_buf(),
            lease_ttl,
            extra_args,
            scheduling,
        }
    }

    /// `kill -9`, then a start on the same database and ports.
    pub async fn kill9_and_restart(&mut self) {
        self.kill9().await;
        self.restart().await;
    }

    /// `kill -9`: the process ends without a word, mid-whatever.
    pub async fn kill9(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// The server's exit, when it stops on its own within `limit`.
    pub async fn exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the server exits on its own")
            .unwrap()
    }

    /// SIGTERM, and the wait for a graceful exit.
    pub async fn stop(&mut self) {
        let pid = self.child.id().expect("running") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("a graceful exit within 30 s")
            .unwrap();
        assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
    }

    /// A start on the same database and ports, with the same flags.
    pub async fn restart(&mut self) {
        let grpc = self.grpc.trim_start_matches("http://").to_string();
        let http = self.http.trim_start_matches("http://").to_string();
        let restarted = Server::start_at_with(
            &self.database_url,
            &self.data_dir,
            &grpc,
            &http,
            self.lease_ttl,
            self.extra_args.clone(),
            self.scheduling,
        )
        .await;
        *self = restarted;
    }

    /// An HTTP client for this server's REST API.
    pub fn api(&self) -> Api {
        Api::new(&self.http, &self.token)
    }
}

/// A `runway runner` child process.
pub struct Runner {
    child: Child,
}

impl Runner {
    pub fn start(
        server: &Server,
        environment: &str,
        concurrency: usize,
        env: &[(&str, &str)],
    ) -> Runner {
        let mut command = Command::new(BIN);
        command
            .args([
                "runner",
                "--server",
                &server.grpc,
                "--environment",
                environment,
            ])
            .args(["--exec", &format!("sh {}", agent_script().display())])
            .args(["--concurrency", &concurrency.to_string()])
            .env("RUNWAY_TOKEN", &server.token)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        Runner {
            child: command.spawn().expect("spawn runway runner"),
        }
    }

    /// The process id (a runner names itself `host:pid` by default).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// The runner's exit, when it comes within `limit`.
    pub async fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the runner exits")
            .unwrap()
    }

    /// `kill -9`: no goodbye, no report, the lease just stops being renewed.
    pub async fn kill9(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// The test agent: runs the first initial event's content as a shell
/// script, after writing its pid to `$PIDS/<run id>` when `PIDS` is set.
pub fn agent_script() -> PathBuf {
    static SCRIPT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("runway-test-agent-{}.sh", std::process::id()));
        std::fs::write(
            &path,
            r#"ctx=$(cat)
script=$(printf '%s' "$ctx" | sed -n 's/.*"initial_events":\[{"content":"\([^"]*\)".*/\1/p' | head -n 1)
if [ -n "${PIDS:-}" ]; then echo $$ > "$PIDS/$RUNWAY_RUN_ID"; fi
eval "$script"
"#,
        )
        .unwrap();
        path
    })
    .clone()
}

/// True when `pid` no longer runs (gone, or a zombie nobody reaped yet).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// Waits for `check` to hold, looking every 25 ms, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
