//! `TestApp`: a running `runway serve` on a fresh database, with typed
//! helpers to call it. Logs are silent unless `TEST_LOG` is set.

use std::collections::BTreeSet;
use std::sync::{Arc, Once};

use runway::app::{RunningApp, ServeConfig};
use runway_api::enums::TokenScope;
use runway_api::v1::deployment_service_client::DeploymentServiceClient;
use runway_server::{Scheduler, SharedClock, SystemClock};
use runway_store::repo::tenants;
use runway_store::testing::TestDatabase;
use serde_json::{Value, json};
use tonic::transport::Channel;

pub struct TestApp {
    app: Option<RunningApp>,
    config: ServeConfig,
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    // Declared after `app`, so dropped after it: the database outlives its server.
    db: TestDatabase,
    _dir: tempfile::TempDir,
}

/// An HTTP answer: status, headers and the parsed JSON body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// The ids of an agent, an environment and a deployment made for a test.
pub struct Seed {
    pub agent_id: String,
    pub environment_id: String,
    pub deployment_id: String,
}

fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .init();
        }
    });
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        Self::start(TestDatabase::sqlite().await, Arc::new(SystemClock)).await
    }

    /// `None` (after a loud message) when PostgreSQL is unreachable outside CI.
    pub async fn postgres() -> Option<TestApp> {
        Some(Self::start(TestDatabase::postgres().await?, Arc::new(SystemClock)).await)
    }

    /// A server whose "now" is `clock`. Its scheduler loop is off: tests
    /// call [`TestApp::scheduler`] after moving the clock.
    pub async fn start(db: TestDatabase, clock: SharedClock) -> TestApp {
        Self::start_with_scheduler(db, clock, None).await
    }

    /// Like [`TestApp::start`], with the scheduler loop ticking every `interval`.
    pub async fn start_with_scheduler(
        db: TestDatabase,
        clock: SharedClock,
        interval: Option<std::time::Duration>,
    ) -> TestApp {
        Self::launch(
            db,
            clock,
            interval,
            runway_server::ExecutionConfig::default(),
        )
        .await
    }

    /// A server with these execution and webhook settings.
    pub async fn start_with_execution(
        db: TestDatabase,
        execution: runway_server::ExecutionConfig,
    ) -> TestApp {
        Self::launch(db, Arc::new(SystemClock), None, execution).await
    }

    async fn launch(
        db: TestDatabase,
        clock: SharedClock,
        interval: Option<std::time::Duration>,
        execution: runway_server::ExecutionConfig,
    ) -> TestApp {
        init_tracing();
        // reqwest takes its TLS provider from the process (as the CLI does).
        runway::tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let config = ServeConfig {
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            database_url: Some(db.url().to_string()),
            data_dir: dir.path().to_path_buf(),
            max_connections: 8,
            sqlite_durable: true,
            scheduler_interval: interval,
            clock,
            execution,
            reaper_interval: None,
            // Off: tests call `pruner().run_once()` after moving the clock.
            prune_interval: None,
            // Short, so a test sees heartbeats without waiting 15 s.
            sse_heartbeat: std::time::Duration::from_millis(300),
            tls: None,
        };
        let app = runway::app::start(&config)
            .await
            .expect("runway serve starts");
        let token = app
            .admin_token
            .clone()
            .expect("a fresh database is bootstrapped");
        let saved = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
        assert_eq!(
            saved.trim(),
            token,
            "the admin token is saved for the README's curl"
        );
        TestApp {
            base: format!("http://{}/api/v1/cloud", app.http_addr),
            app: Some(app),
            config,
            http: reqwest::Client::new(),
            token,
            db,
            _dir: dir,
        }
    }

    fn running(&self) -> &RunningApp {
        self.app.as_ref().expect("running")
    }

    /// The server's scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.running().scheduler
    }

    /// The server's lease reaper.
    pub fn reaper(&self) -> &runway_server::LeaseReaper {
        &self.running().reaper
    }

    /// The server's retention pruner.
    pub fn pruner(&self) -> &runway_server::Pruner {
        &self.running().pruner
    }

    /// A RunnerService client on the server's real port.
    pub async fn runner_client(
        &self,
    ) -> runway_api::v1::runner_service_client::RunnerServiceClient<Channel> {
        runway_api::v1::runner_service_client::RunnerServiceClient::connect(format!(
            "http://{}",
            self.running().grpc_addr
        ))
        .await
        .expect("gRPC connects")
    }

    /// A gRPC request with this app's token.
    pub fn authed<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        request
    }

    /// The database URL, for more replicas on the same data.
    pub fn database_url(&self) -> &str {
        self.db.url()
    }

    /// Stops the server (gracefully) and starts it again on the same
    /// database and ports-on-demand, as an operator's restart would.
    pub async fn restart(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.expect("clean shutdown");
        }
        let app = runway::app::start(&self.config).await.expect("restart");
        assert!(
            app.admin_token.is_none(),
            "a restart does not bootstrap again"
        );
        self.base = format!("http://{}/api/v1/cloud", app.http_addr);
        self.app = Some(app);
    }

    /// Another `serve` on this app's database (its own ports, no
    /// bootstrap): a replica. The caller shuts it down.
    pub async fn replica(&self) -> RunningApp {
        let mut config = self.config.clone();
        config.grpc_addr = "127.0.0.1:0".parse().unwrap();
        config.http_addr = "127.0.0.1:0".parse().unwrap();
        let replica = runway::app::start(&config).await.expect("a replica starts");
        assert!(
            replica.admin_token.is_none(),
            "a replica does not bootstrap"
        );
        replica
    }

    /// A token of a second organization.
    pub async fn other_org_token(&self) -> String {
        let store = &self.running().store;
        let org = tenants::create_organization(store, "other").await.unwrap();
        tenants::create_token(store, &org.id, &tenants::NewToken::admin("test"), 0)
            .await
            .unwrap()
            .secret
    }

    /// A token of this app's organization with `scope` (and, for a runner
    /// token, `environment_ids`), issued through the store.
    pub async fn scoped_token(&self, scope: TokenScope, environment_ids: &[&str]) -> String {
        let store = &self.running().store;
        let org = tenants::find_organization(store, "default")
            .await
            .unwrap()
            .expect("the default organization");
        let new = tenants::NewToken {
            name: format!("{scope} test"),
            scope,
            environment_ids: environment_ids.iter().map(|e| e.to_string()).collect(),
            expires_at: None,
        };
        tenants::create_token(store, &org.id, &new, 0)
            .await
            .unwrap()
            .secret
    }

    /// The gRPC server's address, as a URL.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.running().grpc_addr)
    }

    /// A WebhookService client on the server's real port.
    pub async fn webhooks(
        &self,
    ) -> runway_api::v1::webhook_service_client::WebhookServiceClient<Channel> {
        runway_api::v1::webhook_service_client::WebhookServiceClient::connect(self.grpc_url())
            .await
            .expect("gRPC connects")
    }

    /// A gRPC client on the server's real port.
    pub async fn grpc(&self) -> DeploymentServiceClient<Channel> {
        DeploymentServiceClient::connect(format!("http://{}", self.running().grpc_addr))
            .await
            .expect("gRPC connects")
    }

    /// Any request: `path` is under the base path unless it starts with `http`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method.parse().unwrap(), url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("non-JSON body {text:?}: {e}"))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        let auth = self.auth();
        self.call(
            "POST",
            path,
            Some(body.to_string()),
            &[("authorization", &auth)],
        )
        .await
    }

    /// A POST without a body, as the documented curl of `/run` sends it.
    pub async fn post_empty(&self, path: &str) -> Resp {
        let auth = self.auth();
        self.call("POST", path, None, &[("authorization", &auth)])
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        let auth = self.auth();
        self.call("GET", path, None, &[("authorization", &auth)])
            .await
    }

    /// An agent, an environment and a deployment with `max_concurrent`.
    pub async fn seed(&self, max_concurrent: u32) -> Seed {
        self.seed_with(max_concurrent, Value::Null).await
    }

    /// Like [`TestApp::seed`], with a `schedule` (or `null`).
    pub async fn seed_with(&self, max_concurrent: u32, schedule: Value) -> Seed {
        let agent = self
            .post(
                "/agents",
                json!({"name": "reporter", "model": "claude-sonnet-4-5"}),
            )
            .await;
        assert_eq!(agent.status, 201, "{:?}", agent.body);
        let env = self.post("/environments", json!({"name": "default"})).await;
        assert_eq!(env.status, 200, "{:?}", env.body);
        let agent_id = agent.body["id"].as_str().unwrap().to_string();
        let environment_id = env.body["id"].as_str().unwrap().to_string();
        let deployment_id = self
            .deployment_with(&agent_id, &environment_id, max_concurrent, schedule)
            .await;
        Seed {
            agent_id,
            environment_id,
            deployment_id,
        }
    }

    /// One more deployment of an existing agent and environment.
    pub async fn deployment(
        &self,
        agent_id: &str,
        environment_id: &str,
        max_concurrent: u32,
    ) -> String {
        self.deployment_with(agent_id, environment_id, max_concurrent, Value::Null)
            .await
    }

    /// One more deployment, with a `schedule` (or `null`).
    pub async fn deployment_with(
        &self,
        agent_id: &str,
        environment_id: &str,
        max_concurrent: u32,
        schedule: Value,
    ) -> String {
        let dep = self
            .post(
                "/deployments",
                json!({
                    "name": "daily-report",
                    "agent": agent_id,
                    "environment_id": environment_id,
                    "initial_events": [{"type": "user.message", "content": "Generate today's status report"}],
                    "schedule": schedule,
                    "metadata": {"cas_config": {"config": {"max_concurrent": max_concurrent}}},
                }),
            )
            .await;
        assert_eq!(dep.status, 200, "{:?}", dep.body);
        dep.body["id"].as_str().unwrap().to_string()
    }

    /// Stops the server, then checks what every test must leave behind:
    /// each deployment's slot count equals its pending and running runs.
    pub async fn shutdown(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.expect("clean shutdown");
        }
        runway_store::testing::assert_slot_counts(self.db.store()).await;
    }
}

/// The keys of a JSON object.
pub fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Asserts a whole error answer: status, envelope keys, type, param, and
/// that `request_id` matches the `x-request-id` header.
pub fn assert_envelope(resp: &Resp, status: u16, error_type: &str, param: Option<&str>) {
    assert_eq!(resp.status, status, "{}", resp.body);
    assert_eq!(
        keys(&resp.body),
        BTreeSet::from(["type", "error", "request_id"]),
        "{}",
        resp.body
    );
    assert_eq!(resp.body["type"], "error");
    let error = &resp.body["error"];
    let mut expected = BTreeSet::from(["type", "message"]);
    if param.is_some() {
        expected.insert("param");
    }
    assert_eq!(keys(error), expected, "{}", resp.body);
    assert_eq!(error["type"], error_type, "{}", resp.body);
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        resp.body
    );
    if let Some(param) = param {
        assert_eq!(error["param"], param, "{}", resp.body);
    }
    let header = resp
        .headers
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap();
    assert_eq!(resp.body["request_id"], header);
    assert_eq!(
        resp.headers.get("content-type").unwrap(),
        "application/json"
    );
}

/// `prefix` + 32 lowercase hex digits.
pub fn assert_id(value: &Value, prefix: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("id is not a string: {value}"));
    let hex = s
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{s} lacks {prefix}"));
    assert_eq!(hex.len(), 32, "{s}");
    assert!(
        hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{s}"
    );
}

/// RFC 3339 UTC with 9 fractional digits and `Z`: `2026-06-14T08:58:17.133340942Z`.
pub fn assert_timestamp(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    let shape: String = s
        .chars()
        .map(|c| if c.is_ascii_digit() { 'd' } else { c })
        .collect();
    assert_eq!(shape, "dddd-dd-ddTdd:dd:dd.dddddddddZ", "{s}");
}

/// Runs each named `async fn(&TestApp)` once on SQLite and once on
/// PostgreSQL, each on its own fresh database and server.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let app = $crate::support::TestApp::sqlite().await;
                super::$name(&app).await;
                app.shutdown().await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(app) = $crate::support::TestApp::postgres().await else { return };
                super::$name(&app).await;
                app.shutdown().await;
            })*
        }
    };
}

/// Like [`on_every_backend!`] with a manual clock: each named
/// `async fn(&TestApp, Arc<ManualClock>)` runs on both backends, the
/// server's "now" set by the test.
#[macro_export]
macro_rules! on_every_backend_with_clock {
    ($($name:ident),* $(,)?) => {
        mod sqlite_with_clock {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let clock = runway_server::ManualClock::new(runway_store::time::now_nanos());
                let db = runway_store::testing::TestDatabase::sqlite().await;
                let app = $crate::support::TestApp::start(db, clock.clone()).await;
                super::$name(&app, clock).await;
                app.shutdown().await;
            })*
        }
        mod postgres_with_clock {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = runway_store::testing::TestDatabase::postgres().await else { return };
                let clock = runway_server::ManualClock::new(runway_store::time::now_nanos());
                let app = $crate::support::TestApp::start(db, clock.clone()).await;
                super::$name(&app, clock).await;
                app.shutdown().await;
            })*
        }
    };
}

/// A runner's event of type `kind` holding `text` as its content, numbered
/// `sequence`.
pub fn runner_event(
    sequence: i64,
    kind: runway_api::enums::EventType,
    text: &str,
) -> runway_api::v1::RunnerEvent {
    runway_api::v1::RunnerEvent {
        sequence,
        r#type: kind.to_proto(),
        created_at: None,
        fields: Some(runway_api::json_value::object_to_struct(
            json!({"content": [{"type": "text", "text": text}]})
                .as_object()
                .unwrap()
                .clone(),
        )),
    }
}

/// Checks `check` every 10 ms until it gives a value (at most 20 s): for
/// state the service reaches on its own, after what the test awaited.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let wait = async {
        loop {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
