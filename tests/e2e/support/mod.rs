//! `TestApp`: a running `runway serve` on a fresh database, with typed
//! helpers to call it. Logs are silent unless `TEST_LOG` is set.

mod assertions;
mod backends;
mod requests;

pub use assertions::*;
pub use requests::*;

use std::sync::{Arc, Once};

use runway::app::{RunningApp, ServeConfig};
use runway_api::enums::TokenScope;
use runway_server::{Scheduler, SharedClock, SystemClock};
use runway_store::repo::tenants;
use runway_store::testing::TestDatabase;
use serde_json::Value;
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
            idle_timeout: runway_api::connections::DEFAULT_IDLE_TIMEOUT,
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

    /// Stops the server, then checks what every test must leave behind:
    /// each deployment's slot count equals its pending and running runs.
    pub async fn shutdown(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.expect("clean shutdown");
        }
        runway_store::testing::assert_slot_counts(self.db.store()).await;
    }
}
