//! The `Pruner`: deletes what retention no longer keeps, in every `serve`
//! (and from `runway prune`). A pass walks the deployments whose rules
//! limit something and deletes their expired runs with their sessions and
//! transcripts, then idempotency keys past 24 h, then finished webhook
//! deliveries past the organization's retention, then hands SQLite's freed
//! pages back. Every deletion is a short transaction of at most a batch,
//! and after each the pruner rests a multiple of the time it held the
//! writer, so triggers (which queue for the same writer on SQLite) wait
//! at most one batch. Deletes are idempotent: replicas pruning at once
//! only share the work.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runway_store::StoreResult;
use runway_store::repo::prune::{self, Removed};
use runway_store::repo::retention::{self, ExpiredRun, RunCutoffs};

use crate::domain::retention::{IDEMPOTENCY_KEY_LIFETIME, cutoffs, may_exceed_max_runs};
use crate::services::Core;

/// How hard the pruner works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneLimits {
    /// Runs (or deliveries, or keys) deleted per transaction.
    pub batch: u64,
    /// Transcript events deleted per transaction.
    pub event_batch: u64,
    /// After a transaction that took `t`, the pruner rests `rest_factor × t`
    /// (4: it holds the writer at most a fifth of the time).
    pub rest_factor: u32,
    /// Free SQLite pages handed back per transaction.
    pub reclaim_pages: u32,
}

impl Default for PruneLimits {
    fn default() -> Self {
        Self {
            batch: 200,
            event_batch: 2_000,
            rest_factor: 4,
            reclaim_pages: 1_000,
        }
    }
}

#[derive(Clone)]
pub struct Pruner {
    core: Arc<Core>,
    limits: PruneLimits,
}

/// What one deployment's rules expire now.
struct Expiry {
    deployment_id: String,
    cutoffs: RunCutoffs,
}

impl Pruner {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            limits: PruneLimits::default(),
        }
    }

    /// The same pruner with other limits.
    pub fn with_limits(mut self, limits: PruneLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Runs `write`, counts what it removed, then rests in proportion to
    /// how long it took.
    async fn paced(
        &self,
        write: impl Future<Output = StoreResult<Removed>>,
    ) -> StoreResult<Removed> {
        let started = Instant::now();
        let out = write.await?;
        self.core.metrics.pruned(&out);
        let rest = started.elapsed() * self.limits.rest_factor;
        if !rest.is_zero() {
            tokio::time::sleep(rest).await;
        }
        Ok(out)
    }

    /// The deployments with something to expire at `now`, and where.
    async fn expiries(&self, now: i64) -> StoreResult<Vec<Expiry>> {
        let store = &self.core.store;
        let mut found = Vec::new();
        for dep in retention::deployments_to_prune(store).await? {
            let mut cut = cutoffs(dep.rules, now);
            if let Some(max) = may_exceed_max_runs(dep.rules, dep.total_runs) {
                cut.newest_kept = retention::newest_kept(store, &dep.deployment_id, max).await?;
            }
            if cut != RunCutoffs::default() {
                found.push(Expiry {
                    deployment_id: dep.deployment_id,
                    cutoffs: cut,
                });
            }
        }
        Ok(found)
    }

    /// One pass at the clock's instant: deletes everything expired, batch
    /// by batch, and says what went.
    pub async fn run_once(&self) -> StoreResult<Removed> {
        let store = &self.core.store;
        let now = self.core.now();
        let batch = self.limits.batch;
        let mut removed = Removed::default();
        for expiry in self.expiries(now).await? {
            let mut kept = 0;
            loop {
                let candidates = retention::expired_runs(
                    store,
                    &expiry.deployment_id,
                    &expiry.cutoffs,
                    batch + kept,
                )
                .await?;
                // Read after the candidates (see `still_retrying`).
                let retrying = retention::still_retrying(store).await?;
                let doomed: Vec<ExpiredRun> = candidates
                    .iter()
                    .filter(|run| !retrying.contains(&run.id))
                    .cloned()
                    .collect();
                kept = (candidates.len() - doomed.len()) as u64;
                if doomed.is_empty() {
                    break;
                }
                loop {
                    let events = self
                        .paced(prune::delete_events(
                            store,
                            &doomed,
                            self.limits.event_batch,
                        ))
                        .await?;
                    removed += events;
                    if events.events == 0 {
                        break;
                    }
                }
                removed += self.paced(prune::delete_runs(store, &doomed)).await?;
                if (candidates.len() as u64) < batch + kept {
                    break;
                }
            }
        }
        loop {
            let keys = self
                .paced(async {
                    Ok(Removed {
                        idempotency_keys: prune::delete_idempotency_keys(
                            store,
                            now - IDEMPOTENCY_KEY_LIFETIME,
                            batch,
                        )
                        .await?,
                        ..Removed::default()
                    })
                })
                .await?
                .idempotency_keys;
            removed.idempotency_keys += keys;
            if keys < batch {
                break;
            }
        }
        for (org_id, rules) in retention::organization_policies(store).await? {
            let cut = cutoffs(rules, now);
            loop {
                let ids = prune::expired_deliveries(
                    store,
                    &org_id,
                    cut.keep_before,
                    cut.failed_before,
                    batch,
                )
                .await?;
                removed += self.paced(prune::delete_deliveries(store, &ids)).await?;
                if (ids.len() as u64) < batch {
                    break;
                }
            }
        }
        // Bounded: each round hands back `reclaim_pages` of what is free.
        while let Some((free, true)) = prune::free_pages(store).await?
            && free > 0
        {
            self.paced(async {
                prune::reclaim_pages(store, self.limits.reclaim_pages).await?;
                Ok(Removed::default())
            })
            .await?;
            if free <= i64::from(self.limits.reclaim_pages) {
                break;
            }
        }
        if removed != Removed::default() {
            tracing::info!(?removed, "retention pass");
        }
        Ok(removed)
    }

    /// What a pass at the clock's instant would delete; deletes nothing.
    pub async fn dry_run(&self) -> StoreResult<Removed> {
        let store = &self.core.store;
        let now = self.core.now();
        let mut would = Removed::default();
        let expiries = self.expiries(now).await?;
        let retrying: HashSet<String> = retention::still_retrying(store).await?;
        for expiry in &expiries {
            let (runs, sessions, events) =
                retention::count_expired(store, &expiry.deployment_id, &expiry.cutoffs, &retrying)
                    .await?;
            would.runs += runs;
            would.sessions += sessions;
            would.events += events;
        }
        would.idempotency_keys =
            prune::count_idempotency_keys(store, now - IDEMPOTENCY_KEY_LIFETIME).await?;
        for (org_id, rules) in retention::organization_policies(store).await? {
            let cut = cutoffs(rules, now);
            would.deliveries +=
                prune::count_expired_deliveries(store, &org_id, cut.keep_before, cut.failed_before)
                    .await?;
        }
        Ok(would)
    }

    /// Runs a pass every `interval` until `shutdown`, which also ends a
    /// pass midway (between transactions: each one commits or rolls back
    /// whole); a failed pass is logged and retried on the next tick.
    pub async fn run(self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = &mut shutdown => return,
                result = self.run_once() => {
                    if let Err(err) = result {
                        tracing::error!(error = %err, "retention pass failed");
                    }
                }
            }
        }
    }
}
