//! The delivery worker every `serve` runs: claims due deliveries, sends
//! them (up to [`MAX_IN_FLIGHT`] at once), and records the answers in
//! batches.
//!
//! Nothing is lost: a delivery is claimed for a lease (its due time moves
//! to the lease's end), so if the process dies mid-send the delivery comes
//! due again and another worker sends it; only deliveries in flight at such
//! a death can be sent twice, with the same `webhook-id`.

use std::sync::Arc;

use runway_store::repo::webhooks::Handed;
use runway_store::repo::webhooks::deliveries::{self, ClaimRound, Claimed, Sharing};
use tokio::sync::mpsc;

use super::WebhookConfig;
use super::attempt::{self, HttpsClient};
use super::shares::{Shares, Waiting};
use super::slots::{Answer, Ended, Reports, Slots, Ticket};
use crate::domain::deliveries::{MAX_IN_FLIGHT_PER_ENDPOINT, failing_streak_gap, next_attempt};
use crate::metrics::AttemptResult;
use crate::services::Core;
use runway_store::time::duration_nanos;

pub use super::slots::MAX_IN_FLIGHT;

/// The fewest free slots a claim from the table waits for.
const CLAIM_MIN: usize = 16;

/// How long after a claim that took nothing but left a busy endpoint's
/// backlog the next claim waits (bounding such claims to 20 a second; other
/// endpoints' deliveries written due meanwhile wait at most this long).
const QUIET_AFTER_IDLE_CLAIM: std::time::Duration = std::time::Duration::from_millis(50);

/// Slots a claim leaves free rather than lend them to endpoints past their
/// share: a share's worth, so other endpoints' next deliveries start at
/// once.
const KEEP_FREE: usize = MAX_IN_FLIGHT_PER_ENDPOINT;

/// The attempts recorded in one transaction, at most.
const RECORD_BATCH: usize = 256;

/// How often a worker unparks what enabled endpoints still have parked
/// (left by a replica of an earlier version during a rollout).
const REPAIR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// How long the recorder waits for more answers before it writes a batch:
/// a few commits a second instead of one per answer, which on SQLite would
/// queue every trigger behind the worker's writes.
const RECORD_LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// Sends this server's share of the webhooks.
#[derive(Clone)]
pub struct DeliveryWorker {
    core: Arc<Core>,
    client: HttpsClient,
}

impl DeliveryWorker {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        let client = attempt::client(&core.execution.webhooks);
        Self { core, client }
    }

    fn config(&self) -> &WebhookConfig {
        &self.core.execution.webhooks
    }

    /// Sends what this process hands over and claims what is due, until
    /// `shutdown`; then waits (a little) for the attempts in flight and
    /// records them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let slots = Slots::new();
        let mut shares = Shares::default();
        let (answers, received) = mpsc::unbounded_channel();
        let (ended, mut ends) = mpsc::unbounded_channel::<String>();
        let reports = Reports { answers, ended };
        let recorder = tokio::spawn(self.clone().record(received));
        let hub = self.core.store.webhooks();
        let lease = self.lease();
        let mut handed = hub.attach_worker(lease);
        let attempt = self.config().attempt_timeout + std::time::Duration::from_secs(1);
        let hand_over_margin = (lease / 2).max(duration_nanos(attempt));
        // A hand-over that waited past half its lease, or so long that a
        // whole attempt would not end inside it, is left to come due and be
        // claimed (it may be another worker's by the time an attempt would
        // end): a hand-over keeps the margin a fresh claim has.
        let fresh = |claimed: &Claimed, now: i64| {
            now < claimed.delivery.next_attempt_at.unwrap_or(i64::MIN) - hand_over_margin
        };
        let poll = self.config().poll_interval;
        // Claim from the table at start, when woken (deliveries written due)
        // and every poll interval (retries come due; other replicas' leases
        // end); hand-overs need no claim.
        let mut claim_wanted = true;
        // The free slots a claim waits for: a few (not one query per slot);
        // more after a claim left busy endpoints' deliveries for want of
        // room beyond what it keeps free, so the next one can lend some.
        let mut claim_min = CLAIM_MIN;
        let mut quiet_until: Option<tokio::time::Instant> = None;
        // At a poll a claim takes what is free, however little: retries
        // are not starved by a steady stream of hand-overs.
        let mut polled = true;
        let mut next_poll = tokio::time::Instant::now() + poll;
        let mut next_repair = tokio::time::Instant::now();
        tokio::pin!(shutdown);
        loop {
            let free = slots.free();
            // A hand-over that waited for its endpoint's room goes first;
            // past its share it borrows what a claim would lend.
            let waited = if free > 0 { shares.next_ready() } else { None };
            let waited = waited.or_else(|| (free > KEEP_FREE).then(|| shares.next_lent())?);
            if let Some(Waiting { claimed, seen }) = waited {
                let endpoint = claimed.endpoint.id.clone();
                let changed = handed.as_ref().is_some_and(|h| {
                    h.stopped_waiting();
                    h.changed_since(&endpoint, seen)
                });
                match slots.take() {
                    Some(ticket) if !changed && fresh(&claimed, self.core.now()) => {
                        shares.started(&endpoint);
                        self.start(claimed, ticket, &reports);
                    }
                    _ => shares.not_started(&endpoint),
                }
                continue;
            }
            let quiet = quiet_until.is_some_and(|until| tokio::time::Instant::now() < until);
            if claim_wanted && !quiet && (free >= claim_min || (polled && free > 0)) {
                polled = false;
                let limit = free.min(RECORD_BATCH);
                let round = self.claim(limit, &shares).await;
                // One that found only a busy endpoint's backlog is not
                // repeated at every wake (each trigger batch that writes
                // deliveries due): the next waits a little.
                quiet_until = (round.claimed.is_empty() && round.left_last)
                    .then(|| tokio::time::Instant::now() + QUIET_AFTER_IDLE_CLAIM);
                // A claim that met its limit may have left more due.
                claim_wanted = round.full || round.left_last;
                claim_min = if round.full {
                    CLAIM_MIN
                } else {
                    KEEP_FREE + CLAIM_MIN
                };
                for delivery in round.claimed {
                    if let Some(ticket) = slots.take() {
                        shares.started(&delivery.endpoint.id);
                        self.start(delivery, ticket, &reports);
                    }
                }
                continue;
            }
            // A claim waits for a few free slots (not one query per slot);
            // a hand-over needs one.
            let wanted = if claim_wanted && !shares.any_ready() {
                claim_min
            } else {
                1
            };
            // Read before receiving: a hand-over kept waiting is not sent
            // if its endpoint changes after this.
            let seen = handed.as_ref().map_or(0, Handed::generation);
            tokio::select! {
                _ = &mut shutdown => break,
                Some(delivery) = recv(&mut handed), if free > 0 => {
                    if !fresh(&delivery, self.core.now()) {
                        continue;
                    }
                    let endpoint = delivery.endpoint.id.clone();
                    if shares.has_room(&endpoint) {
                        if let Some(ticket) = slots.take() {
                            shares.started(&endpoint);
                            self.start(delivery, ticket, &reports);
                        }
                    } else {
                        if let Some(handed) = &handed {
                            handed.kept_waiting();
                        }
                        shares.wait(Waiting { claimed: delivery, seen });
                    }
                }
                Some(endpoint) = ends.recv() => shares.finished(&endpoint),
                _ = hub.woken() => {
                    claim_wanted = true;
                    claim_min = CLAIM_MIN;
                }
                _ = tokio::time::sleep_until(next_poll) => {
                    claim_wanted = true;
                    claim_min = CLAIM_MIN;
                    polled = true;
                    next_poll = tokio::time::Instant::now() + poll;
                    if next_poll >= next_repair {
                        next_repair = next_poll + REPAIR_INTERVAL;
                        self.repair().await;
                    }
                }
                () = slots.wait_free(wanted), if free < wanted => {}
                _ = tokio::time::sleep_until(quiet_until.unwrap_or_else(tokio::time::Instant::now)), if quiet => {
                    quiet_until = None;
                }
            }
        }
        drop(reports);
        // Attempts in flight end within their timeout; past a grace period
        // their deliveries are left to the lease.
        let grace = self.config().attempt_timeout + std::time::Duration::from_secs(1);
        if tokio::time::timeout(grace, recorder).await.is_err() {
            tracing::warn!("webhook attempts still in flight at shutdown are left to their lease");
        }
    }

    fn lease(&self) -> i64 {
        duration_nanos(self.config().claim_lease)
    }

    /// Sends `claimed` in a task of its own.
    fn start(&self, claimed: Claimed, ticket: Ticket, reports: &Reports) {
        let (worker, reports) = (self.clone(), reports.clone());
        tokio::spawn(async move {
            // Told when the attempt ends, however it ends (a panic too).
            let ended = Ended {
                endpoint: Some(claimed.endpoint.id.clone()),
                to: reports.ended.clone(),
            };
            let now = worker.core.now();
            let outcome = attempt::send(&worker.client, worker.config(), now, claimed).await;
            // The send slot frees when the attempt ends; the delivery
            // counts against the unrecorded limit until its answer is
            // recorded (bounding how long answers wait, well inside the
            // lease).
            drop(ticket.sending);
            drop(ended);
            let _ = reports.answers.send((outcome, ticket.unrecorded));
        });
    }

    /// Claims up to `limit` due deliveries, endpoints past their share
    /// last.
    async fn claim(&self, limit: usize, shares: &Shares) -> ClaimRound {
        let now = self.core.now();
        let (store, lease) = (&self.core.store, self.lease());
        let sharing = Sharing {
            per_endpoint: MAX_IN_FLIGHT_PER_ENDPOINT as u64,
            keep_free: KEEP_FREE as u64,
        };
        let place = shares.placer();
        match deliveries::claim_due_placing(store, now, limit as u64, lease, sharing, place).await {
            Ok(round) => round,
            Err(err) => {
                tracing::error!(error = %err, "claiming webhook deliveries failed");
                tokio::time::sleep(self.config().poll_interval).await;
                ClaimRound::default()
            }
        }
    }

    /// Unparks the deliveries of enabled endpoints, if any were left parked.
    async fn repair(&self) {
        match deliveries::repair_parked(&self.core.store, self.core.now()).await {
            Ok(0) => {}
            Ok(unparked) => {
                tracing::warn!(
                    unparked,
                    "enabled webhook endpoints had parked deliveries: unparked"
                )
            }
            Err(err) => tracing::error!(error = %err, "unparking webhook deliveries failed"),
        }
    }

    /// Records answers in batches — those that come within
    /// [`RECORD_LINGER`] of the first, up to [`RECORD_BATCH`], one
    /// transaction each.
    async fn record(self, mut received: mpsc::UnboundedReceiver<Answer>) {
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        while received.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let until = tokio::time::Instant::now() + RECORD_LINGER;
            while batch.len() < RECORD_BATCH {
                let room = RECORD_BATCH - batch.len();
                let more = received.recv_many(&mut batch, room);
                match tokio::time::timeout_at(until, more).await {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            let (outcomes, tickets): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
            let config = self.config().clone();
            let now = self.core.now();
            let next = |failed: i32| {
                let jitter = rand::random::<f64>() * 2.0 - 1.0;
                next_attempt(&config.retry_delays, failed, now, jitter)
            };
            let disabling = deliveries::Disabling {
                after: duration_nanos(config.disable_after),
                streak_gap: duration_nanos(failing_streak_gap(
                    &config.retry_delays,
                    config.attempt_timeout,
                    config.poll_interval,
                    config.claim_lease,
                )),
            };
            let attempts = outcomes.len() as u64;
            match deliveries::record_attempts(&self.core.store, outcomes, now, next, disabling)
                .await
            {
                Ok(recorded) => {
                    let metrics = &self.core.metrics;
                    let (succeeded, failed) = (recorded.succeeded as u64, recorded.failed as u64);
                    metrics.webhook_attempt(AttemptResult::Delivered, succeeded);
                    metrics.webhook_attempt(AttemptResult::Failed, failed);
                    metrics.webhook_attempt(
                        AttemptResult::Retrying,
                        (recorded.attempts as u64).saturating_sub(succeeded + failed),
                    );
                    for endpoint in recorded.disabled {
                        tracing::warn!(endpoint_id = %endpoint, "webhook endpoint disabled: its deliveries failed for too long");
                    }
                }
                // Not recorded: the deliveries come due again when their
                // lease ends, and are sent again.
                Err(err) => {
                    tracing::error!(error = %err, attempts, "recording webhook attempts failed")
                }
            }
            drop(tickets);
        }
    }
}

/// The next delivery handed over, or never when this worker has no hand-off
/// (another worker of the process has it).
async fn recv(handed: &mut Option<Handed>) -> Option<Claimed> {
    match handed {
        Some(handed) => handed.recv().await,
        None => std::future::pending().await,
    }
}
