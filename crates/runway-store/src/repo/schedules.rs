//! The scheduler's transaction: claim one due deployment, record its run,
//! advance its next fire time, all at once.
//!
//! On PostgreSQL the claim is `SELECT … FOR UPDATE SKIP LOCKED`: replicas
//! take different due deployments in parallel and never the same one, and
//! once a claim commits the deployment is no longer due. The unique index on
//! `(deployment_id, scheduled_for)` backs this up: an instant can be
//! recorded once, whatever happens.

use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::begin;
use super::runs::{self, TriggerCause, TriggerDecision};
use super::webhooks::Written;
use crate::entity::deployment::{self, Entity as Deployment};
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::{Store, StoreError};
use runway_api::enums::{DeploymentStatus, RunErrorType, TriggerType};

/// What to fire for a due deployment, decided by the caller's cron rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirePlan {
    /// The instant to fire: the latest scheduled instant at or before now.
    pub fire_at: i64,
    /// Instants between the stored next fire time and `fire_at` that will
    /// never fire (downtime: one catch-up run, never a burst).
    pub missed: i64,
    /// The first instant after now.
    pub next_fire_at: Option<i64>,
    /// When `missed` > 0: the message of the skipped run (error
    /// `schedule_missed_error`) that records them, scheduled for the first.
    pub missed_error: Option<String>,
}

/// What firing one due deployment did.
#[derive(Debug, Clone)]
pub struct Fired {
    pub deployment_id: String,
    pub plan: FirePlan,
    /// The run recorded, or `None` when this instant was recorded already.
    pub run: Option<deployment_run::Model>,
}

/// Claims the deployment due soonest (`next_fire_at <= now`, active, not
/// archived) and fires it: `plan` picks the instant, `decide` applies the
/// trigger rules (the concurrency slot: a run at the limit is `skipped`).
/// `Ok(None)` when nothing is due.
pub async fn fire_next_due<E: From<StoreError>>(
    store: &Store,
    now: i64,
    plan: impl FnOnce(&deployment::Model) -> Result<FirePlan, E>,
    decide: impl FnOnce(&deployment::Model, u64) -> Result<TriggerDecision, E>,
) -> Result<Option<Fired>, E> {
    let txn = begin(store).await?;
    let Some(dep) = Deployment::find()
        .filter(deployment::Column::NextFireAt.lte(now))
        .filter(deployment::Column::Status.eq(DeploymentStatus::Active))
        .filter(deployment::Column::ArchivedAt.is_null())
        .order_by_asc(deployment::Column::NextFireAt)
        .limit(1)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .one(&txn)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(None);
    };
    let plan = plan(&dep)?;
    let mut emitted = Written::default();
    if let (Some(message), Some(first)) = (&plan.missed_error, dep.next_fire_at)
        && plan.missed > 0
    {
        // The instants that passed unfired are recorded as one skipped run,
        // for the first of them, so they are seen (and told) like any skip.
        let cause = TriggerCause {
            trigger_type: TriggerType::Schedule,
            retry_of: None,
            attempt: 1,
            scheduled_for: Some(first),
            idempotency: None,
            at: now,
        };
        let skip = TriggerDecision::Skip {
            error_type: RunErrorType::ScheduleMissed,
            message: message.clone(),
        };
        let (_, written) = runs::record(&txn, store, &dep, cause, skip).await?;
        emitted = emitted.merge(written);
    }
    // Backstop for the unique index: an instant already recorded is not
    // recorded again, but the deployment still moves on.
    let already = DeploymentRun::find()
        .filter(deployment_run::Column::DeploymentId.eq(&dep.id))
        .filter(deployment_run::Column::ScheduledFor.eq(plan.fire_at))
        .count(&txn)
        .await
        .map_err(StoreError::from)?
        > 0;
    let run = if already {
        None
    } else {
        let decision = decide(&dep, runs::slots_taken(&dep))?;
        let cause = TriggerCause {
            trigger_type: TriggerType::Schedule,
            retry_of: None,
            attempt: 1,
            scheduled_for: Some(plan.fire_at),
            idempotency: None,
            at: now,
        };
        let (run, written) = runs::record(&txn, store, &dep, cause, decision).await?;
        emitted = emitted.merge(written);
        Some(run)
    };
    Deployment::update_many()
        .col_expr(
            deployment::Column::NextFireAt,
            Expr::value(plan.next_fire_at),
        )
        .col_expr(deployment::Column::LastRunAt, Expr::value(plan.fire_at))
        .col_expr(
            deployment::Column::MissedFires,
            Expr::col(deployment::Column::MissedFires).add(plan.missed),
        )
        .filter(deployment::Column::Id.eq(&dep.id))
        .exec(&txn)
        .await
        .map_err(StoreError::from)?;
    txn.commit().await.map_err(StoreError::from)?;
    store.webhooks().dispatch(emitted);
    store.runs_touched(&dep.org_id);
    Ok(Some(Fired {
        deployment_id: dep.id,
        plan,
        run,
    }))
}
