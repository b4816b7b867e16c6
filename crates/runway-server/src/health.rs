//! gRPC health (`grpc.health.v1`): every service is SERVING while the
//! database answers, NOT_SERVING while it does not. The REST gateway's
//! `/readyz` asks this service.

use std::time::Duration;

use runway_store::Store;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The services whose health is reported, besides the whole server ("").
pub const SERVICES: [&str; 5] = [
    "runway.v1.DeploymentService",
    "runway.v1.AgentService",
    "runway.v1.EnvironmentService",
    "runway.v1.RunnerService",
    "runway.v1.SessionService",
];

/// How long a ping may take before the database counts as not answering.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the health statuses in step with the database.
#[derive(Clone)]
pub struct HealthWatcher {
    store: Store,
    reporter: HealthReporter,
}

impl HealthWatcher {
    pub(crate) fn new(store: Store, reporter: HealthReporter) -> Self {
        Self { store, reporter }
    }

    /// Pings the database once and publishes the result.
    pub async fn check_once(&self) -> bool {
        // Its own bound: a pool waits up to 30 s for a connection, and a
        // load balancer would send this replica traffic all that time.
        let ok = matches!(
            tokio::time::timeout(PING_TIMEOUT, self.store.ping()).await,
            Ok(Ok(()))
        );
        let status = if ok {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
        for service in SERVICES {
            self.reporter.set_service_status(service, status).await;
        }
        ok
    }

    /// Checks every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: impl Future<Output = ()>) {
        crate::periodic::every(interval, shutdown, || async {
            if !self.check_once().await {
                tracing::warn!("the database does not answer: reporting NOT_SERVING");
            }
        })
        .await;
    }
}
