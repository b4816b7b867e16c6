//! The scheduler: fires due deployments as `schedule` runs through the same
//! concurrency gate as manual triggers.
//!
//! Each fire is one transaction (runway-store `schedules::fire_next_due`):
//! claim the due deployment, record the run, advance the next fire time. Any
//! number of replicas can run this loop on one PostgreSQL: each scheduled
//! instant fires exactly once. After downtime a deployment fires once, for
//! its latest missed instant; the instants skipped are counted and logged.

use runway_api::enums::TriggerType;
use std::time::Duration;

use std::sync::Arc;

use runway_store::entity::deployment;
use runway_store::repo::schedules::{self, FirePlan, Fired};

use crate::domain::gate::concurrency_gate;
use crate::error::{ServiceError, ServiceResult};
use crate::schedule::CronSchedule;
use crate::services::Core;

/// Counting missed instants stops here (an every-minute schedule down for a
/// year would otherwise cost half a million steps); the log says "at least".
const MAX_COUNTED_MISSES: usize = 100_000;

#[derive(Clone)]
pub struct Scheduler {
    core: Arc<Core>,
}

impl Scheduler {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// Fires every deployment due at the clock's current instant and
    /// returns what was fired.
    pub async fn run_once(&self) -> ServiceResult<Vec<Fired>> {
        let now = self.core.now();
        let mut fired = Vec::new();
        while let Some(f) =
            schedules::fire_next_due(&self.core.store, now, |d| plan(d, now), concurrency_gate)
                .await?
        {
            if let Some(run) = &f.run {
                self.core
                    .metrics
                    .triggered(TriggerType::Schedule, run.status);
                if run.session_id.is_some() {
                    self.core.turns_started.notify_waiters();
                }
            }
            if f.plan.missed > 0 {
                tracing::warn!(
                    deployment_id = %f.deployment_id,
                    missed = f.plan.missed,
                    "scheduled instants were missed while no scheduler ran; firing once for the latest"
                );
            }
            if f.run.is_none() {
                tracing::warn!(deployment_id = %f.deployment_id, "scheduled instant was already recorded");
            }
            fired.push(f);
        }
        Ok(fired)
    }

    /// Runs [`Scheduler::run_once`] every `interval` until `shutdown`.
    /// A failed pass is logged and retried on the next tick.
    pub async fn run(self, interval: Duration, shutdown: impl Future<Output = ()>) {
        crate::periodic::every(interval, shutdown, || async {
            if let Err(err) = self.run_once().await {
                tracing::error!(error = %err, "scheduler pass failed");
            }
        })
        .await;
    }
}

/// The instant to fire for a deployment due at `now`: the latest scheduled
/// instant at or before `now`, how many earlier ones were missed, and the
/// first one after `now`.
fn plan(dep: &deployment::Model, now: i64) -> ServiceResult<FirePlan> {
    let (Some(expression), Some(timezone), Some(due)) = (
        &dep.schedule_expression,
        &dep.schedule_timezone,
        dep.next_fire_at,
    ) else {
        return Err(ServiceError::Internal(format!(
            "deployment {} is due without a schedule",
            dep.id
        )));
    };
    let schedule = CronSchedule::parse(expression, timezone)?;
    // `due` is itself an instant of the schedule; walk from it to now.
    let mut fire_at = due;
    let mut missed = 0i64;
    let mut counted = 0usize;
    let mut cursor = due;
    loop {
        match schedule.next_after(cursor) {
            Some(t) if t <= now => {
                if counted == MAX_COUNTED_MISSES {
                    // Too many to count: jump to the latest instant at or before now.
                    fire_at = schedule.latest_at_or_before(now).unwrap_or(t);
                    break;
                }
                missed += 1;
                counted += 1;
                fire_at = t;
                cursor = t;
            }
            _ => break,
        }
    }
    let missed_error = (missed > 0).then(|| {
        let first = runway_json::timestamp(&crate::convert::timestamp(due));
        let fired = runway_json::timestamp(&crate::convert::timestamp(fire_at));
        format!(
            "{missed} scheduled instant(s) from {first} passed while no scheduler ran; \
             the schedule fired once, for {fired}"
        )
    });
    Ok(FirePlan {
        fire_at,
        missed,
        next_fire_at: schedule.next_after(now),
        missed_error,
    })
}
