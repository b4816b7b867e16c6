//! The `Pruner`: deletes what retention no longer keeps, in every `serve`
//! (and from `runway prune`). A pass walks the deployments whose rules
//! limit something and deletes their expired runs with their sessions and
//! transcripts, then idempotency keys past 24 h, then finished webhook
//! deliveries past the organization's retention, then hands SQLite's freed
//! pages back. Every deletion is a short transaction sized to hold the
//! writer a few milliseconds (`pace`), and after each the pruner rests a
//! multiple of the time it held it, so triggers (which queue for the same
//! writer on SQLite) wait at most one short transaction. Deletes are idempotent: replicas pruning at once
//! only share the work.

mod limits;
mod pace;
mod walk;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use runway_store::StoreResult;
use runway_store::entity::organization::RetentionRules;
use runway_store::repo::prune::{self, Deleted, Removed};
use runway_store::repo::retention::{self, DeploymentRetention, ExpiredRun, RunCutoffs};

use crate::domain::retention::{IDEMPOTENCY_KEY_LIFETIME, cutoffs, may_exceed_max_runs};
use crate::services::Core;
pub use limits::PruneLimits;
use pace::Pace;
use walk::Walks;

#[derive(Clone)]
pub struct Pruner {
    core: Arc<Core>,
    limits: PruneLimits,
    walks: Arc<Walks>,
}

/// What one deployment's rules expire now.
#[derive(Clone)]
struct Expiry {
    deployment_id: String,
    org_id: String,
    rules: RetentionRules,
    cutoffs: RunCutoffs,
}

/// The paces of one pass, one per kind of transaction.
struct Paces {
    runs: Pace,
    events: Pace,
    deliveries: Pace,
    keys: Pace,
    pages: Pace,
}

impl Pruner {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        let limits = PruneLimits::for_backend(core.store.backend());
        Self {
            core,
            limits,
            walks: Arc::default(),
        }
    }

    /// The same pruner with other limits.
    pub fn with_limits(mut self, limits: PruneLimits) -> Self {
        self.limits = limits;
        self
    }

    fn paces(&self) -> Paces {
        let l = &self.limits;
        Paces {
            runs: Pace::new(l.max_batch, l.hold),
            events: Pace::new(l.max_event_batch, l.hold),
            deliveries: Pace::new(l.max_batch, l.hold),
            keys: Pace::new(l.max_batch, l.hold),
            pages: Pace::new(l.max_reclaim_pages, l.hold),
        }
    }

    /// Runs `write` (a transaction), counts what it removed, teaches `pace`
    /// what its `rows` cost, then rests in proportion to how long it held
    /// the writer (not to how long it waited for it: under load the wait
    /// is the triggers' turn, not the pruner's).
    async fn paced(
        &self,
        pace: &mut Pace,
        rows: impl Fn(&Removed) -> u64,
        write: impl Future<Output = StoreResult<Deleted>>,
    ) -> StoreResult<(Removed, bool)> {
        let Deleted {
            removed,
            held,
            more,
        } = write.await?;
        pace.record(rows(&removed), held);
        self.core.metrics.pruned(&removed);
        let rest = held * self.limits.rest_factor;
        if !rest.is_zero() {
            tokio::time::sleep(rest).await;
        }
        Ok((removed, more))
    }

    /// Where `rules` cut `deployment_id`'s runs at `now`.
    async fn expiry(&self, dep: DeploymentRetention, now: i64) -> StoreResult<Expiry> {
        let mut cut = cutoffs(dep.rules, now);
        if let Some(max) = may_exceed_max_runs(dep.rules, dep.total_runs) {
            cut.newest_kept =
                retention::newest_kept(&self.core.store, &dep.deployment_id, max).await?;
        }
        Ok(Expiry {
            deployment_id: dep.deployment_id,
            org_id: dep.org_id,
            rules: dep.rules,
            cutoffs: cut,
        })
    }

    /// The deployments with something to expire at `now`, and where.
    async fn expiries(&self, now: i64) -> StoreResult<Vec<Expiry>> {
        let mut found = Vec::new();
        for dep in retention::deployments_to_prune(&self.core.store).await? {
            let expiry = self.expiry(dep, now).await?;
            if expiry.cutoffs != RunCutoffs::default() {
                found.push(expiry);
            }
        }
        Ok(found)
    }

    /// `expiry` under the rules that apply now: a policy changed during a
    /// pass (an administrator undoing a mistake) counts from the next batch
    /// of runs, not from the next pass; `None` when nothing is to go any
    /// more.
    async fn current(&self, expiry: &Expiry, now: i64) -> StoreResult<Option<Expiry>> {
        match retention::rules_of(&self.core.store, &expiry.deployment_id).await? {
            Some(dep) => self.reread(expiry, dep, now).await,
            None => Ok(None),
        }
    }

    /// `expiry` under `dep`, its deployment's rules as read now: the same
    /// if they did not change; `None` when nothing is to go any more.
    async fn reread(
        &self,
        expiry: &Expiry,
        dep: DeploymentRetention,
        now: i64,
    ) -> StoreResult<Option<Expiry>> {
        if dep.rules == expiry.rules {
            return Ok(Some(expiry.clone()));
        }
        let updated = self.expiry(dep, now).await?;
        Ok((updated.cutoffs != RunCutoffs::default()).then_some(updated))
    }

    /// Deletes `doomed` with their sessions, their transcripts first (a long
    /// one over several transactions).
    async fn delete_runs(&self, doomed: &[ExpiredRun], paces: &mut Paces) -> StoreResult<Removed> {
        let store = &self.core.store;
        let mut removed = Removed::default();
        if doomed.is_empty() {
            return Ok(removed);
        }
        loop {
            let size = paces.events.size();
            let (events, more) = self
                .paced(
                    &mut paces.events,
                    |r| r.events,
                    prune::delete_events(store, doomed, size),
                )
                .await?;
            removed += events;
            if !more {
                break;
            }
        }
        removed += self
            .paced(
                &mut paces.runs,
                |r| r.runs,
                prune::delete_runs(store, doomed),
            )
            .await?
            .0;
        Ok(removed)
    }

    /// Deletes `expiry`'s runs, batch by batch, each batch under the rules
    /// that apply when it starts.
    async fn prune_runs(
        &self,
        mut expiry: Expiry,
        now: i64,
        paces: &mut Paces,
    ) -> StoreResult<Removed> {
        let store = &self.core.store;
        let mut removed = Removed::default();
        // Runs of chains still going are found again each round: the next
        // round asks for that many more, so it always gets new ones.
        let mut kept = 0;
        loop {
            match self.current(&expiry, now).await? {
                Some(current) => expiry = current,
                None => return Ok(removed),
            }
            let limit = paces.runs.size() + kept;
            let candidates =
                retention::expired_runs(store, &expiry.deployment_id, &expiry.cutoffs, limit)
                    .await?;
            // Read after the candidates (see `still_retrying`).
            let retrying = retention::still_retrying(store).await?;
            let mut doomed: Vec<ExpiredRun> = candidates
                .iter()
                .filter(|run| !retrying.contains(&run.id))
                .cloned()
                .collect();
            kept = (candidates.len() - doomed.len()) as u64;
            // Chains that ended between rounds free more than a batch: the
            // rest is read again next round.
            let batch = paces.runs.size() as usize;
            let truncated = doomed.len() > batch;
            doomed.truncate(batch);
            removed += self.delete_runs(&doomed, paces).await?;
            if (candidates.len() as u64) < limit && !truncated {
                return Ok(removed);
            }
        }
    }

    /// One pass at the clock's instant: deletes everything expired, batch
    /// by batch, and says what went.
    pub async fn run_once(&self) -> StoreResult<Removed> {
        let store = &self.core.store;
        let now = self.core.now();
        let mut paces = self.paces();
        let mut removed = Removed::default();
        // Read before the rules: a policy changed after this ends a walk.
        let versions = retention::policy_versions(store).await?;
        let expiries = self.expiries(now).await?;
        // Most runs go in the walks, in time order; the deployments' own
        // ranges then find what the walks passed by and expires now.
        let mut by_org: BTreeMap<&str, Vec<Expiry>> = BTreeMap::new();
        for expiry in &expiries {
            by_org
                .entry(&expiry.org_id)
                .or_default()
                .push(expiry.clone());
        }
        self.walks.keep_only(by_org.keys().copied());
        for (org_id, expiries) in by_org {
            let version = versions.get(org_id).copied().flatten();
            removed += self
                .walk(org_id, version, expiries, now, &mut paces)
                .await?;
        }
        tracing::debug!(?removed, "retention pass: walks done");
        for expiry in expiries {
            removed += self.prune_runs(expiry, now, &mut paces).await?;
        }
        loop {
            let size = paces.keys.size();
            let (keys, more) = self
                .paced(
                    &mut paces.keys,
                    |r| r.idempotency_keys,
                    prune::delete_idempotency_keys(store, now - IDEMPOTENCY_KEY_LIFETIME, size),
                )
                .await?;
            removed.idempotency_keys += keys.idempotency_keys;
            if !more {
                break;
            }
        }
        // Read again, not reused from the start of the pass: the runs may
        // have taken an hour, and a policy changed meanwhile applies now.
        for (org_id, rules) in retention::organization_policies(store).await? {
            let cut = cutoffs(rules, now);
            loop {
                let size = paces.deliveries.size();
                let ids = prune::expired_deliveries(
                    store,
                    &org_id,
                    cut.keep_before,
                    cut.failed_before,
                    size,
                )
                .await?;
                let rows = ids.len() as u64;
                removed += self
                    .paced(
                        &mut paces.deliveries,
                        |r| r.deliveries,
                        prune::delete_deliveries(store, &ids),
                    )
                    .await?
                    .0;
                if rows < size {
                    break;
                }
            }
        }
        // Until the free pages are gone, or stop going (pages freed by
        // other writes meanwhile are left to the next pass).
        tracing::debug!(?removed, "retention pass: runs, keys and deliveries done");
        let mut before = i64::MAX;
        while let Some((free, true)) = prune::free_pages(store).await?
            && free > 0
            && free < before
        {
            before = free;
            let size = paces.pages.size();
            let pages = u32::try_from(size).unwrap_or(u32::MAX);
            tracing::debug!(free, size, "retention pass: reclaiming pages");
            self.paced(
                &mut paces.pages,
                |_| size,
                prune::reclaim_pages(store, pages),
            )
            .await?;
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
        crate::periodic::every_cancelling(interval, shutdown, || async {
            if let Err(err) = self.run_once().await {
                tracing::error!(error = %err, "retention pass failed");
            }
        })
        .await;
    }
}
