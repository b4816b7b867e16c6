//! The pruner's walk: an organization's runs in the order they were
//! triggered, each judged under its deployment's rules, the expired ones
//! deleted. Runs are stored in about that order, every deployment's
//! interleaved with the others', so a batch of neighbours in time empties
//! whole pages, where a batch of one deployment's runs left a row or two
//! on each of hundreds (runway-store `retention::walk`).
//!
//! The walk goes once over each run: a pass resumes where the last one
//! stopped, under the same organization policy. Behind that position are
//! only runs the rules kept when the walk read them — failed runs kept
//! longer, runs of deployments with longer rules or none, chains still
//! retrying, runs a `max_runs` kept then — and when one of them expires
//! later, the deployment's own ranges find it (the second half of a pass).
//! So a run the rules keep costs one read, not one a pass, and nothing
//! expired is ever left. A policy changed ends a walk (the next pass walks
//! under the new one, from the start); a deployment's own rules changed
//! count from the walk's next batch.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use runway_store::StoreResult;
use runway_store::repo::prune::Removed;
use runway_store::repo::retention::{self, ExpiredRun, WalkedRun};

use super::{Expiry, Paces, Pruner};

/// Where each organization's walk resumes: the `(triggered_at, id)` of the
/// last run it read, under the policy of that version.
#[derive(Debug, Default)]
pub(super) struct Walks(Mutex<HashMap<String, Position>>);

#[derive(Debug, Clone)]
struct Position {
    /// When the organization's policy last changed, as the walk read it.
    version: Option<i64>,
    after: (i64, String),
}

impl Walks {
    fn resume_at(&self, org_id: &str, version: Option<i64>) -> Option<(i64, String)> {
        self.positions()
            .get(org_id)
            .filter(|p| p.version == version)
            .map(|p| p.after.clone())
    }

    fn advance(&self, org_id: &str, version: Option<i64>, after: (i64, String)) {
        self.positions()
            .insert(org_id.to_string(), Position { version, after });
    }

    /// Forgets the organizations whose rules no longer expire anything.
    pub(super) fn keep_only<'a>(&self, orgs: impl IntoIterator<Item = &'a str>) {
        let orgs: BTreeSet<&str> = orgs.into_iter().collect();
        self.positions()
            .retain(|org, _| orgs.contains(org.as_str()));
    }

    fn positions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Position>> {
        // A position is a hint: one left by a panic is as good as any.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `run` goes under its deployment's rules in `expiries`.
fn expires(expiries: &HashMap<String, Expiry>, run: &WalkedRun) -> bool {
    expiries
        .get(&run.deployment_id)
        .is_some_and(|e| e.cutoffs.expires(run.status, run.triggered_at, &run.id))
}

impl Pruner {
    /// Walks `org_id`'s runs from where the last walk stopped to the last
    /// instant any of `expiries` expires, deleting the expired ones, while
    /// its policy is still of `version` (read before `expiries`).
    pub(super) async fn walk(
        &self,
        org_id: &str,
        version: Option<i64>,
        expiries: Vec<Expiry>,
        now: i64,
        paces: &mut Paces,
    ) -> StoreResult<Removed> {
        let store = &self.core.store;
        let mut removed = Removed::default();
        let Some(before) = expiries
            .iter()
            .filter_map(|e| e.cutoffs.expire_before())
            .max()
        else {
            return Ok(removed);
        };
        let mut expiries: HashMap<String, Expiry> = expiries
            .into_iter()
            .map(|e| (e.deployment_id.clone(), e))
            .collect();
        let mut after = self.walks.resume_at(org_id, version);
        while !expiries.is_empty() {
            // Reads are not the writer's: a window as long as the longest
            // transaction, so a stretch of kept runs costs few reads.
            let limit = self.limits.max_batch;
            let window = retention::runs_in_time_order(
                store,
                org_id,
                after.as_ref().map(|(at, id)| (*at, id.as_str())),
                before,
                limit,
            )
            .await?;
            let Some(last) = window.last().map(WalkedRun::position) else {
                break;
            };
            let full = window.len() as u64 == limit;
            if self.policy_changed(org_id, version).await? {
                return Ok(removed);
            }
            self.refresh(&mut expiries, &window, now).await?;
            let read = window.len();
            let mut candidates: Vec<WalkedRun> = window
                .into_iter()
                .filter(|run| expires(&expiries, run))
                .collect();
            if !candidates.is_empty() {
                // Read after the runs (see `still_retrying`).
                let retrying = retention::still_retrying(store).await?;
                candidates.retain(|run| !retrying.contains(&run.id));
            }
            tracing::debug!(
                org_id,
                read,
                candidates = candidates.len(),
                deployments = expiries.len(),
                "retention walk window"
            );
            // In transactions of the pace's size, each under the rules as
            // they are when it starts.
            let mut first = true;
            while !candidates.is_empty() {
                let size = (paces.runs.size() as usize).min(candidates.len());
                let chunk: Vec<WalkedRun> = candidates.drain(..size).collect();
                if !first {
                    if self.policy_changed(org_id, version).await? {
                        return Ok(removed);
                    }
                    self.refresh(&mut expiries, &chunk, now).await?;
                }
                first = false;
                let doomed: Vec<ExpiredRun> = chunk
                    .into_iter()
                    .filter(|run| expires(&expiries, run))
                    .map(WalkedRun::into_expired)
                    .collect();
                removed += self.delete_runs(&doomed, paces).await?;
            }
            self.walks.advance(org_id, version, last.clone());
            after = Some(last);
            if !full {
                break;
            }
        }
        Ok(removed)
    }

    /// Whether `org_id`'s policy changed since `version`: a walk under the
    /// old one ends (the next pass walks under the new one).
    async fn policy_changed(&self, org_id: &str, version: Option<i64>) -> StoreResult<bool> {
        let current = retention::policy(&self.core.store, org_id).await?;
        Ok(current.is_none_or(|(_, changed)| changed != version))
    }

    /// The rules of `runs`' deployments as they are now: a policy changed
    /// during a walk counts from its next batch (as in `current`).
    async fn refresh(
        &self,
        expiries: &mut HashMap<String, Expiry>,
        runs: &[WalkedRun],
        now: i64,
    ) -> StoreResult<()> {
        let ids: BTreeSet<&str> = runs
            .iter()
            .map(|run| run.deployment_id.as_str())
            .filter(|id| expiries.contains_key(*id))
            .collect();
        let ids: Vec<&str> = ids.into_iter().collect();
        let found = retention::rules_of_many(&self.core.store, &ids).await?;
        let mut gone: BTreeSet<String> = ids.iter().map(|id| id.to_string()).collect();
        for dep in found {
            let id = dep.deployment_id.clone();
            gone.remove(&id);
            let Some(expiry) = expiries.get(&id) else {
                continue;
            };
            match self.reread(expiry, dep, now).await? {
                Some(current) => expiries.insert(id, current),
                None => expiries.remove(&id),
            };
        }
        // A deployment deleted meanwhile took its runs with it.
        for id in gone {
            expiries.remove(&id);
        }
        Ok(())
    }
}
