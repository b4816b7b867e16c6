//! The `LeaseReaper`: makes sure no run is stuck or lost when a process
//! dies. Each pass fails runs whose runner stopped heartbeating
//! (`runner_lost_error`), runs no runner claimed within their time limit and
//! runs that overran it (`timeout_error`), and starts pending retries whose
//! backoff is over. Every action is a compare-and-set under lock, so any
//! number of replicas can reap at once.
//!
//! A reaper takes no lease for lost, and no claimed turn for overrun, until
//! it has reached the database for one lease TTL without a failed pass:
//! while no server ran or the database did not answer (an upgrade, a
//! failover), no runner could heartbeat or report, and a lease that ran out
//! then says nothing of its runner. A live runner renews it (a heartbeat
//! checks the lease, not its expiry) or reports its turn within that TTL (it
//! retries at least three times a TTL); a dead one's is taken then.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use runway_api::enums::{RunErrorType, TriggerType};
use runway_store::repo::turns::{self, Finish};
use runway_store::repo::{reaping, retries};

use crate::domain::gate::retry_gate;
use crate::domain::run_end::{self, Expect, Outcome};
use crate::error::ServiceResult;
use crate::services::Core;

/// Candidates looked at per kind per pass.
const BATCH: u64 = 500;

/// The least time between the start of a pass and one the retry alarm
/// wakes: a burst of failures makes one pass a few milliseconds later, not
/// one pass per retry.
const ALARM_GAP: Duration = Duration::from_millis(20);

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReapReport {
    pub lost: usize,
    pub timed_out: usize,
    pub retries_started: usize,
    pub retries_skipped: usize,
}

/// The instant before which an expired lease counts as lost (and a claimed
/// turn's deadline plus grace as overrun): `now` once the reaper has reached
/// the database `since` a lease TTL, none before (`i64::MIN`).
fn lost_before(since: i64, now: i64, lease_ttl: i64) -> i64 {
    if now.saturating_sub(since) >= lease_ttl {
        now
    } else {
        i64::MIN
    }
}

#[derive(Clone)]
pub struct LeaseReaper {
    core: Arc<Core>,
}

impl LeaseReaper {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// One pass at the clock's current instant.
    pub async fn run_once(&self) -> ServiceResult<ReapReport> {
        let core = &self.core;
        let now = core.now();
        core.retries_due.passed(now);
        let grace = core.lease_ttl_nanos();
        // A clock stepped back since counts from now: at most one TTL more.
        let since = core
            .reaping_since
            .fetch_min(now, Ordering::Relaxed)
            .min(now);
        let lost_before = lost_before(since, now, grace);
        let found = reaping::reap_candidates(&core.store, now, lost_before, grace, BATCH).await?;
        let mut report = ReapReport::default();
        let fail = |id: String, expect: Expect, error_type: RunErrorType, message: String| async move {
            let outcome = Outcome::Failed {
                error_type,
                message,
            };
            let decide = run_end::finish(expect, outcome, core.retry_policy(), now);
            let finish = turns::finish(&core.store, None, &id, now, decide).await?;
            core.record_finish(&finish);
            Ok::<_, crate::error::ServiceError>(finish)
        };
        for id in found.lost {
            let message = "The runner executing this run stopped heartbeating; its lease expired."
                .to_string();
            if let Finish::Finished { .. } = fail(
                id,
                Expect::LeaseExpiredBefore(lost_before),
                RunErrorType::RunnerLost,
                message,
            )
            .await?
            {
                report.lost += 1;
            }
        }
        for id in found.unclaimed {
            let message = "No runner claimed this run within its timeout_ms.".to_string();
            if let Finish::Finished { .. } = fail(
                id,
                Expect::UnclaimedPastTimeout(now),
                RunErrorType::Timeout,
                message,
            )
            .await?
            {
                report.timed_out += 1;
            }
        }
        for id in found.overrun {
            let message = "The run exceeded its timeout_ms.".to_string();
            let expect = Expect::ClaimedPastTimeout {
                now: lost_before,
                grace,
            };
            if let Finish::Finished { .. } =
                fail(id, expect, RunErrorType::Timeout, message).await?
            {
                report.timed_out += 1;
            }
        }
        for id in found.due_retries {
            match retries::start_retry(&core.store, &id, now, retry_gate).await? {
                Some(run) if run.session_id.is_some() => {
                    core.metrics.triggered(TriggerType::Retry, run.status);
                    report.retries_started += 1;
                }
                Some(run) => {
                    core.metrics.triggered(TriggerType::Retry, run.status);
                    report.retries_skipped += 1;
                }
                None => {}
            }
        }
        // Retries waiting that another process (or this one before a
        // restart) created: the alarm starts them on time from now on.
        if let Some(at) = reaping::next_retry_at(&core.store).await? {
            core.retries_due.set(at);
        }
        core.metrics
            .active_leases
            .set(reaping::count_leased(&core.store, now).await?);
        if report.retries_started > 0 {
            core.turns_started.notify_waiters();
        }
        if report != ReapReport::default() {
            tracing::info!(?report, "reaper pass");
        }
        Ok(report)
    }

    /// Runs a pass every `interval`, and one as soon as a retry the alarm
    /// knows of falls due, until `shutdown`; a failed pass is logged and
    /// retried on the next tick.
    pub async fn run(self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let alarm = &self.core.retries_due;
        alarm.arm();
        let mut last_pass = tokio::time::Instant::now();
        loop {
            // Retries falling due close together share a pass.
            let due = alarm.next().map(|at| {
                let wait = Duration::from_nanos(at.saturating_sub(self.core.now()).max(0) as u64);
                tokio::time::sleep_until(
                    (tokio::time::Instant::now() + wait).max(last_pass + ALARM_GAP),
                )
            });
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
                Some(()) = async {
                    due?.await;
                    Some(())
                } => {}
                // An earlier retry than the one waited for: wait for it.
                _ = alarm.earlier() => continue,
            }
            last_pass = tokio::time::Instant::now();
            if let Err(err) = self.run_once().await {
                tracing::error!(error = %err, "reaper pass failed");
                // The database away: runners could not reach it either.
                self.core
                    .reaping_since
                    .store(self.core.now(), Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lost_before;

    #[test]
    fn no_lease_is_lost_in_a_servers_first_lease_ttl() {
        let (started, ttl) = (1_000, 30);
        assert_eq!(lost_before(started, started, ttl), i64::MIN);
        assert_eq!(lost_before(started, started + ttl - 1, ttl), i64::MIN);
        assert_eq!(lost_before(started, started + ttl, ttl), started + ttl);
        assert_eq!(lost_before(started, started + 500, ttl), started + 500);
        // A clock set back before the start: not up long enough.
        assert_eq!(lost_before(started, started - 10, ttl), i64::MIN);
    }
}
