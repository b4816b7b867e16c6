//! The gRPC services. Each handler authenticates, validates, applies the
//! domain rules and answers with proto messages; storage is runway-store's.

mod agents;
mod deployment_fields;
mod deployment_update;
mod deployments;
mod environments;
mod retention;
mod runner;
mod runner_checks;
mod runs;
mod session_follow;
mod sessions;
mod tokens;
mod watch_runs;
mod webhook_fields;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use runway_store::Store;
use runway_store::repo::trigger_queue::TriggerQueue;
use tokio::sync::Notify;

pub use agents::AgentApi;
pub use deployments::DeploymentApi;
pub use environments::EnvironmentApi;
pub use retention::RetentionApi;
pub use runner::RunnerApi;
pub use sessions::SessionApi;
pub use tokens::TokenApi;
pub use webhooks::WebhookApi;

use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::domain::gate::concurrency_gate;
use crate::domain::run_end::RetryPolicy;
use crate::error::ServiceError;
use crate::idempotency::IdempotencyGate;

/// How runs are executed (leases and retries) and how their webhooks are sent.
#[derive(Debug, Clone)]
pub struct ExecutionConfig {
    /// How long a claim lasts without a heartbeat.
    pub lease_ttl: Duration,
    /// The first retry's backoff; each later one doubles, up to `retry_backoff_cap`.
    pub retry_backoff: Duration,
    pub retry_backoff_cap: Duration,
    pub webhooks: crate::webhooks::WebhookConfig,
    /// Each token's request rate; `None`: unlimited.
    pub rate_limit: Option<crate::rate_limit::RateLimit>,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            retry_backoff: Duration::from_secs(1),
            retry_backoff_cap: Duration::from_secs(300),
            webhooks: Default::default(),
            rate_limit: Some(Default::default()),
        }
    }
}

/// What every service, the scheduler and the reaper share.
pub struct Core {
    pub store: Store,
    pub auth: Authenticator,
    pub idempotency: IdempotencyGate,
    pub clock: SharedClock,
    pub execution: ExecutionConfig,
    /// Woken whenever a turn starts, so waiting claims return at once.
    pub turns_started: Notify,
    pub metrics: Arc<crate::metrics::ServerMetrics>,
    /// Manual triggers without an idempotency key, recorded in batches.
    pub triggers: TriggerQueue<ServiceError>,
    /// Wakes the streams following a session when its events change.
    pub events: Arc<crate::event_bus::EventBus>,
    /// Set when the server shuts down: open streams end, so a graceful
    /// shutdown does not wait for clients that follow forever.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// When the pending retries fall due, those this process records and
    /// the next one any pass finds (the reaper waits for it).
    pub retries_due: crate::retry_alarm::RetryAlarm,
    /// Since when this server's reaper has been reaching the database
    /// without a failure (its clock): it takes no lease for lost, and no
    /// claimed turn for overrun, until one lease TTL after it, see
    /// [`crate::reaper`].
    pub reaping_since: std::sync::atomic::AtomicI64,
}

use runway_store::time::duration_nanos as nanos;

impl Core {
    pub fn new(
        store: Store,
        clock: SharedClock,
        execution: ExecutionConfig,
        metrics: crate::metrics::ServerMetrics,
    ) -> Arc<Core> {
        let metrics = Arc::new(metrics);
        let batch_sizes = metrics.trigger_batch_size.clone();
        let observe = Arc::new(move |size: usize| batch_sizes.observe(size as f64));
        store
            .webhooks()
            .set_renderer(Arc::new(crate::webhooks::render::Renderer));
        Arc::new(Core {
            reaping_since: clock.now_nanos().into(),
            triggers: TriggerQueue::start(store.clone(), concurrency_gate, observe),
            auth: Authenticator::new(store.clone(), clock.clone(), execution.rate_limit),
            idempotency: IdempotencyGate::new(store.clone(), clock.clone()),
            store,
            clock,
            execution,
            turns_started: Notify::new(),
            metrics,
            events: Arc::default(),
            closing: tokio::sync::watch::Sender::new(false),
            retries_due: Default::default(),
        })
    }

    /// The lease TTL in nanoseconds.
    pub fn lease_ttl_nanos(&self) -> i64 {
        nanos(self.execution.lease_ttl)
    }

    /// Counts how a finish ended in the metrics, and wakes the streams
    /// following its session (its closing event is in).
    pub fn record_finish(&self, finish: &runway_store::repo::turns::Finish) {
        if let runway_store::repo::turns::Finish::Finished {
            run,
            retry,
            events,
            paused,
        } = finish
        {
            if let Some(at) = retry.as_ref().and_then(|r| r.start_after) {
                self.retries_due.set(at);
            }
            self.events.publish(events.clone());
            self.metrics.finished(run.status, run.error_type);
            if *paused {
                self.metrics.auto_paused.inc();
            }
        }
    }

    /// How failed runs are retried.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::Backoff {
            base: nanos(self.execution.retry_backoff),
            cap: nanos(self.execution.retry_backoff_cap),
        }
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_nanos()
    }
}

/// The paths of an update mask, checked against the fields a request may
/// change. `prefixes` accept any path under them: map keys (`metadata.`,
/// the only one today, whose keys are 1–64 characters).
fn mask_paths<'a>(
    mask: Option<&'a prost_types::FieldMask>,
    fields: &[&str],
    prefixes: &[&str],
) -> crate::error::ServiceResult<Vec<&'a str>> {
    let paths: Vec<&str> = mask
        .map(|m| m.paths.iter().map(String::as_str).collect())
        .unwrap_or_default();
    for path in &paths {
        if prefixes.contains(path) {
            // `metadata.` names no key: an empty map key, as REST's
            // `{"metadata": {"": …}}` becomes; said as a create says it.
            return Err(crate::error::ServiceError::invalid(
                *path,
                format!(
                    "{} keys must be 1 to {} characters",
                    path.trim_end_matches('.'),
                    crate::validate::MAX_METADATA_KEY_CHARS
                ),
            ));
        }
        let known = fields.contains(path)
            || prefixes
                .iter()
                .any(|p| path.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
        if !known {
            return Err(crate::error::ServiceError::invalid(
                "update_mask",
                format!("{path:?} is not a field that can be updated"),
            ));
        }
    }
    Ok(paths)
}

/// The messages a stream's task sends through `rx` until the server stops,
/// then one last error saying so (UNAVAILABLE, which clients retry). Said
/// here, where the client reads, not by the task: the error is never lost
/// behind a full buffer, a stream opened as the stop began ends too, and a
/// task blocked on a client that does not read fails its send once `rx` is
/// gone instead of holding the stop.
fn until_closing<T: Send + 'static>(
    closing: &tokio::sync::watch::Sender<bool>,
    rx: tokio::sync::mpsc::Receiver<Result<T, tonic::Status>>,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, tonic::Status>> + Send>> {
    let closing = closing.subscribe();
    Box::pin(futures::stream::unfold(
        Some((rx, closing)),
        |state| async move {
            let (mut rx, mut closing) = state?;
            let stopping = || Some((Err(ServiceError::ShuttingDown.into()), None));
            if *closing.borrow() {
                return stopping();
            }
            tokio::select! {
                biased;
                _ = closing.changed() => stopping(),
                item = rx.recv() => match item {
                    Some(item) => Some((item, Some((rx, closing)))),
                    // The task ends when the server stops, maybe first.
                    None if *closing.borrow() => stopping(),
                    None => None,
                },
            }
        },
    ))
}
