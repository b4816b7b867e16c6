//! Run execution: claims under a lease, heartbeats, and every way a run
//! ends. Each change is a compare-and-set on the run's current status (and
//! lease), made with the run row locked, so of two racing changes — a late
//! report and the reaper, a cancel and a completion — exactly one applies
//! and the other changes nothing.

use runway_api::enums::{
    DeploymentStatus, PausedReasonType, RunStatus, SessionStatus, WebhookEventType,
};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::begin;
use super::events::{self, NewEvent};
use super::retries::insert_retry;
use super::webhooks::{Outbox, Subject};
use crate::entity::deployment::{self, Entity as Deployment};
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::entity::{session, session_event};
use crate::{Store, StoreError, StoreResult};

/// Nanoseconds in a millisecond (`timeout_ms` is in milliseconds).
pub const NANOS_PER_MS: i64 = 1_000_000;

/// The turns a claim may take at `now`, oldest first: started, unclaimed,
/// within their time limit, of `environment_ids` (or any environment of
/// `org_id`). It reads the running unclaimed runs (`idx_runs_active`).
pub fn claim_query(
    org_id: &str,
    environment_ids: Option<&[String]>,
    now: i64,
) -> sea_orm::Select<DeploymentRun> {
    use deployment_run::Column as C;
    let mut select = DeploymentRun::find()
        .filter(C::Status.eq(RunStatus::Running))
        .filter(C::ClaimedAt.is_null())
        .filter(C::OrgId.eq(org_id))
        .filter(
            Expr::col(C::StartedAt)
                .add(Expr::col(C::TimeoutMs).mul(NANOS_PER_MS))
                .gt(now),
        );
    if let Some(envs) = environment_ids {
        select = select.filter(C::EnvironmentId.is_in(envs.iter().map(String::as_str)));
    }
    select.order_by_asc(C::StartedAt).limit(1)
}

/// Claims the oldest started, unclaimed turn (of one of `environment_ids`,
/// or of any environment of `org_id`) whose time limit has not passed, under a
/// new lease. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so runners never get
/// the same turn.
pub async fn claim(
    store: &Store,
    org_id: &str,
    environment_ids: Option<&[String]>,
    runner_name: &str,
    now: i64,
    lease_ttl_nanos: i64,
) -> StoreResult<Option<deployment_run::Model>> {
    let txn = begin(store).await?;
    let Some(run) = claim_query(org_id, environment_ids, now)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .one(&txn)
        .await?
    else {
        return Ok(None);
    };
    let mut row = run.into_active_model();
    row.claimed_at = Set(Some(now));
    row.lease_id = Set(Some(uuid::Uuid::now_v7().simple().to_string()));
    row.lease_expires_at = Set(Some(now + lease_ttl_nanos));
    row.runner_name = Set(Some(runner_name.to_string()));
    let claimed = row.update(&txn).await?;
    txn.commit().await?;
    store.runs_touched(&claimed.org_id);
    Ok(Some(claimed))
}

/// Extends the lease `lease_id` of run `run_id` (of one of
/// `environment_ids`, when given). `None` when the run is no longer
/// running under that lease.
pub async fn heartbeat(
    store: &Store,
    org_id: &str,
    environment_ids: Option<&[String]>,
    run_id: &str,
    lease_id: &str,
    now: i64,
    lease_ttl_nanos: i64,
) -> StoreResult<Option<i64>> {
    use deployment_run::Column as C;
    let expires = now + lease_ttl_nanos;
    let mut update = DeploymentRun::update_many()
        .col_expr(C::LeaseExpiresAt, Expr::value(expires))
        .filter(C::Id.eq(run_id))
        .filter(C::OrgId.eq(org_id))
        .filter(C::Status.eq(RunStatus::Running))
        .filter(C::LeaseId.eq(lease_id));
    if let Some(envs) = environment_ids {
        update = update.filter(C::EnvironmentId.is_in(envs.iter().map(String::as_str)));
    }
    let updated = update.exec(store.writer()).await?;
    Ok((updated.rows_affected == 1).then_some(expires))
}

/// What the caller decided, inside the finish transaction, about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishDecision {
    /// Change nothing: the run is not in a state this finish applies to.
    Refuse,
    /// Store the run as `ended` (terminal), its session as `session` with
    /// the event `closing` (`session.status_idle`) appended, and, with
    /// `retry_after`, a `pending` retry that starts at that instant and
    /// takes over the run's slot.
    End {
        ended: Box<deployment_run::Model>,
        session: SessionStatus,
        /// Events recorded before `closing` (e.g. the `user.interrupt` that
        /// ends the turn).
        interjected: Vec<NewEvent>,
        closing: NewEvent,
        retry_after: Option<i64>,
        /// Pause the deployment for this reason (its consecutive failures
        /// reached the limit), in the same transaction.
        pause: Option<PausedReasonType>,
    },
}

/// The result of [`finish`].
#[derive(Debug, Clone)]
pub enum Finish {
    /// No such run in the organization.
    NotFound,
    /// The decision refused; nothing changed. Carries the run as it is.
    Refused(Box<deployment_run::Model>),
    /// The run ended (and maybe a retry was created); `events` are those
    /// appended to its session, the closing one last.
    Finished {
        run: Box<deployment_run::Model>,
        retry: Option<Box<deployment_run::Model>>,
        events: Vec<session_event::Model>,
        /// The deployment was paused for its consecutive failures.
        paused: bool,
    },
}

/// Ends run `run_id` at `now` as `decide` says, in one transaction: `decide`
/// sees the run's deployment and the run, both locked, and the run, its
/// session, the deployment's stats and slot count and any retry are written
/// together. Every ending gives the run's slot back (a retry takes it over).
pub async fn finish<E: From<StoreError>>(
    store: &Store,
    org_id: Option<&str>,
    run_id: &str,
    now: i64,
    decide: impl FnOnce(&deployment::Model, &deployment_run::Model) -> Result<FinishDecision, E>,
) -> Result<Finish, E> {
    let txn = begin(store).await?;
    // Lock the run's deployment before the run: triggers and retry starts
    // lock the deployment first too, and the other order would deadlock
    // with them (a cancel of a pending retry against its start).
    let owner = Query::select()
        .column(deployment_run::Column::DeploymentId)
        .from(DeploymentRun)
        .and_where(deployment_run::Column::Id.eq(run_id))
        .to_owned();
    let dep = Deployment::find()
        .filter(deployment::Column::Id.in_subquery(owner))
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(StoreError::from)?;
    let mut find = DeploymentRun::find_by_id(run_id);
    if let Some(org) = org_id {
        find = find.filter(deployment_run::Column::OrgId.eq(org));
    }
    let Some(run) = find
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(Finish::NotFound);
    };
    let dep = dep.ok_or_else(|| StoreError::Corrupt(format!("run {run_id} has no deployment")))?;
    let (ended, session_status, appended, retry_after, pause) = match decide(&dep, &run)? {
        FinishDecision::Refuse => return Ok(Finish::Refused(Box::new(run))),
        FinishDecision::End {
            ended,
            session,
            interjected,
            closing,
            retry_after,
            pause,
        } => {
            let mut appended = interjected;
            appended.push(closing);
            (*ended, session, appended, retry_after, pause)
        }
    };
    let failed = ended.status == RunStatus::Failed;
    let mut appended_events = Vec::new();
    let ended = ended
        .into_active_model()
        .reset_all()
        .update(&txn)
        .await
        .map_err(StoreError::from)?;
    if let Some(session_id) = &run.session_id {
        session::Entity::update_many()
            .col_expr(session::Column::Status, Expr::value(session_status))
            .col_expr(session::Column::UpdatedAt, Expr::value(now))
            .filter(session::Column::Id.eq(session_id))
            .exec(&txn)
            .await
            .map_err(StoreError::from)?;
        // The run row is locked: nothing else appends to its session now.
        appended_events = events::append_to_run(&txn, &run, appended, now).await?;
    }
    let stats = Deployment::update_many()
        .filter(deployment::Column::Id.eq(&run.deployment_id))
        .col_expr(
            deployment::Column::ActiveRuns,
            Expr::col(deployment::Column::ActiveRuns).sub(1),
        );
    let stats = if failed {
        stats
            .col_expr(
                deployment::Column::TotalFailures,
                Expr::col(deployment::Column::TotalFailures).add(1),
            )
            .col_expr(
                deployment::Column::ConsecutiveFailures,
                Expr::col(deployment::Column::ConsecutiveFailures).add(1),
            )
    } else {
        stats.col_expr(deployment::Column::ConsecutiveFailures, Expr::value(0i64))
    };
    stats.exec(&txn).await.map_err(StoreError::from)?;
    let retry = match retry_after {
        Some(at) => Some(insert_retry(&txn, &dep, &run, now, at).await?),
        None => None,
    };
    let mut outbox = Outbox::load(&txn, store, [dep.org_id.as_str()]).await?;
    let told = if failed {
        WebhookEventType::DeploymentRunFailed
    } else {
        WebhookEventType::DeploymentRunCompleted
    };
    outbox.emit(&ended.org_id, told, Subject::Run(&ended), now)?;
    if let Some(reason) = pause {
        let paused = pause_deployment(&txn, &dep.id, reason, now).await?;
        outbox.emit(
            &paused.org_id,
            WebhookEventType::DeploymentPaused,
            Subject::Deployment(&paused),
            now,
        )?;
    }
    let written = outbox.write(&txn).await?;
    txn.commit().await.map_err(StoreError::from)?;
    store.webhooks().dispatch(written);
    store.runs_touched(&ended.org_id);
    Ok(Finish::Finished {
        run: Box::new(ended),
        retry: retry.map(Box::new),
        events: appended_events,
        paused: pause.is_some(),
    })
}

/// Pauses deployment `id` for `reason` in the caller's transaction (which
/// holds its row) and returns it as it now is.
async fn pause_deployment(
    txn: &DatabaseTransaction,
    id: &str,
    reason: PausedReasonType,
    now: i64,
) -> StoreResult<deployment::Model> {
    Deployment::update_many()
        .col_expr(
            deployment::Column::Status,
            Expr::value(DeploymentStatus::Paused),
        )
        .col_expr(deployment::Column::PausedReason, Expr::value(reason))
        .col_expr(
            deployment::Column::NextFireAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(deployment::Column::UpdatedAt, Expr::value(now))
        .filter(deployment::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Deployment::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("deployment {id} vanished while paused")))
}
