//! The server's Prometheus metrics: runs by trigger and outcome, failures
//! by error type, gRPC latency per method, and active leases.

use runway_api::enums::{RunErrorType, RunStatus, TriggerType};
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    /// `manual`, `schedule` or `retry`.
    pub trigger: String,
    /// `running`, `pending` or `skipped`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FinishLabels {
    /// `completed` or `failed`.
    pub status: String,
    /// The error type of a failed run; empty when completed.
    pub error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub outcome: AttemptResult,
}

/// What a recorded webhook attempt came to (the `outcome` label).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum AttemptResult {
    /// Answered 2xx in time.
    Delivered,
    /// Failed; another attempt is due.
    Retrying,
    /// Failed; no attempt is left.
    Failed,
}

impl AttemptResult {
    pub const fn name(self) -> &'static str {
        match self {
            AttemptResult::Delivered => "delivered",
            AttemptResult::Retrying => "retrying",
            AttemptResult::Failed => "failed",
        }
    }
}

impl prometheus_client::encoding::EncodeLabelValue for AttemptResult {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        prometheus_client::encoding::EncodeLabelValue::encode(&self.name(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// `/runway.v1.DeploymentService/RunDeployment`.
    pub method: String,
    /// The gRPC status code name, e.g. `Ok`, `NotFound`.
    pub code: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Handles to every server metric (cheap to clone).
#[derive(Clone)]
pub struct ServerMetrics {
    pub runs_triggered: Family<TriggerLabels, Counter>,
    pub runs_finished: Family<FinishLabels, Counter>,
    pub rpc_duration: Family<RpcLabels, Histogram, fn() -> Histogram>,
    pub active_leases: Gauge,
    pub trigger_batch_size: Histogram,
    pub webhook_attempts: Family<DeliveryLabels, Counter>,
    pub auto_paused: Counter,
    pub pruned: Family<PrunedLabels, Counter>,
}

/// What retention deletes (the `kind` label), in [`ServerMetrics::pruned`]'s order.
const PRUNED_KINDS: [&str; 6] = [
    "runs",
    "sessions",
    "events",
    "webhook_deliveries",
    "webhook_attempts",
    "idempotency_keys",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PrunedLabels {
    kind: &'static str,
}

impl ServerMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ServerMetrics {
            runs_triggered: Family::default(),
            runs_finished: Family::default(),
            rpc_duration: Family::new_with_constructor(latency_histogram),
            active_leases: Gauge::default(),
            // 1 … 256, the most a batch holds.
            trigger_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            webhook_attempts: Family::default(),
            auto_paused: Counter::default(),
            pruned: Family::default(),
        };
        // Every series of a closed set exists from the start, at 0: a rate
        // or an alert on one works before its first increment.
        for kind in PRUNED_KINDS {
            let _ = metrics.pruned.get_or_create(&PrunedLabels { kind });
        }
        for outcome in [
            AttemptResult::Delivered,
            AttemptResult::Retrying,
            AttemptResult::Failed,
        ] {
            let _ = metrics
                .webhook_attempts
                .get_or_create(&DeliveryLabels { outcome });
        }
        registry.register(
            "runway_retention_deleted",
            "Rows deleted by retention, by kind: runs, sessions, events, webhook_deliveries, webhook_attempts, idempotency_keys",
            metrics.pruned.clone(),
        );
        registry.register(
            "runway_webhook_attempts",
            "Webhook delivery attempts recorded, by outcome: delivered, retrying (another attempt is due) or failed (none left)",
            metrics.webhook_attempts.clone(),
        );
        registry.register(
            "runway_deployments_auto_paused",
            "Deployments paused by the service after max_consecutive_failures failed runs in a row",
            metrics.auto_paused.clone(),
        );
        registry.register(
            "runway_runs_triggered",
            "Runs recorded, by trigger type and outcome: running (started at once), pending (a retry waiting its backoff) or skipped (at the concurrency limit)",
            metrics.runs_triggered.clone(),
        );
        registry.register(
            "runway_runs_finished",
            "Runs that reached completed or failed, by error type",
            metrics.runs_finished.clone(),
        );
        registry.register(
            "runway_grpc_request_duration_seconds",
            "gRPC request latency by method and status code",
            metrics.rpc_duration.clone(),
        );
        registry.register(
            "runway_active_leases",
            "Turns claimed by a runner and still running (as of the last reaper pass)",
            metrics.active_leases.clone(),
        );
        registry.register(
            "runway_trigger_batch_size",
            "Manual triggers recorded per transaction (they batch while the previous batch is written)",
            metrics.trigger_batch_size.clone(),
        );
        metrics
    }

    /// Metrics registered nowhere (for servers built without a registry).
    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }

    pub fn triggered(&self, trigger: TriggerType, status: RunStatus) {
        self.runs_triggered
            .get_or_create(&TriggerLabels {
                trigger: trigger.name().to_string(),
                outcome: status.name().to_string(),
            })
            .inc();
    }

    pub fn webhook_attempt(&self, outcome: AttemptResult, count: u64) {
        if count > 0 {
            self.webhook_attempts
                .get_or_create(&DeliveryLabels { outcome })
                .inc_by(count);
        }
    }

    /// Counts what a retention pass deleted.
    pub fn pruned(&self, removed: &runway_store::repo::prune::Removed) {
        let counts = [
            removed.runs,
            removed.sessions,
            removed.events,
            removed.deliveries,
            removed.attempts,
            removed.idempotency_keys,
        ];
        for (kind, count) in PRUNED_KINDS.into_iter().zip(counts) {
            if count > 0 {
                self.pruned
                    .get_or_create(&PrunedLabels { kind })
                    .inc_by(count);
            }
        }
    }

    pub fn finished(&self, status: RunStatus, error_type: Option<RunErrorType>) {
        self.runs_finished
            .get_or_create(&FinishLabels {
                status: status.name().to_string(),
                error_type: error_type.map(|t| t.name()).unwrap_or_default().to_string(),
            })
            .inc();
    }
}

/// A tower layer that times every gRPC call into `rpc_duration`.
#[derive(Clone)]
pub struct RpcMetricsLayer(pub Arc<ServerMetrics>);

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: Arc<ServerMetrics>,
}

impl<S, B, R> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_string();
        let started = Instant::now();
        let metrics = self.metrics.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            // Errors are trailers-only responses: the code is in the headers.
            // A success carries it in the trailers, after the body.
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok())
                .map_or(tonic::Code::Ok, tonic::Code::from_i32);
            metrics
                .rpc_duration
                .get_or_create(&RpcLabels {
                    method,
                    code: format!("{code:?}"),
                })
                .observe(started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}
