//! The trigger transaction: what a trigger records (a run, and its
//! session when it starts), under the deployment's lock.

use runway_api::enums::{RunErrorType, RunStatus, SessionStatus, TriggerType, WebhookEventType};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set};

use crate::entity::deployment::{self, Entity as Deployment};
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::entity::{session, session_event};
use crate::ids::IdKind;
use crate::repo::idempotency::{self, IdempotencyClaim};
use crate::repo::webhooks::{Outbox, Subject, Written};
use crate::repo::{begin, events};
use crate::{Store, StoreError, StoreResult};

/// What the caller decided, inside the trigger transaction, about a trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerDecision {
    /// Start the run now: create its session and turn.
    Start,
    /// Record the run as `skipped` with this error.
    Skip {
        error_type: RunErrorType,
        message: String,
    },
}

/// What caused a trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerCause<'a> {
    pub trigger_type: TriggerType,
    pub retry_of: Option<String>,
    pub attempt: i32,
    /// For scheduled runs, the instant fired.
    pub scheduled_for: Option<i64>,
    pub idempotency: Option<&'a IdempotencyClaim>,
    /// When the trigger happened (`triggered_at`), by the caller's clock.
    pub at: i64,
}

impl<'a> TriggerCause<'a> {
    /// A manual trigger (`POST …/run`), first attempt, at `at`.
    pub fn manual(at: i64, idempotency: Option<&'a IdempotencyClaim>) -> Self {
        TriggerCause {
            trigger_type: TriggerType::Manual,
            retry_of: None,
            attempt: 1,
            scheduled_for: None,
            idempotency,
            at,
        }
    }
}

/// Records a trigger of deployment `deployment_id` in one transaction: lock
/// the deployment row, let `decide` apply the rules to it and its pending
/// and running runs (it may refuse), then insert the run (and, when started,
/// its session) and bump the deployment's stats and slot count. Because the
/// deployment row is locked (PostgreSQL) or the writer is single (SQLite),
/// the count cannot change under the decision: parallel triggers never
/// exceed the limit.
///
/// `Ok(None)` when the deployment does not exist in `org_id`. A trigger
/// whose idempotency key is held is [`StoreError::IdempotencyKeyTaken`]
/// before any rule, as in the batch: its caller replays the holder's run.
pub async fn trigger<E: From<StoreError>>(
    store: &Store,
    org_id: &str,
    deployment_id: &str,
    cause: TriggerCause<'_>,
    decide: impl FnOnce(&deployment::Model, u64) -> Result<TriggerDecision, E>,
) -> Result<Option<deployment_run::Model>, E> {
    let txn = begin(store).await?;
    // The deployment first, then the key: the batch's lock order.
    let dep = Deployment::find_by_id(deployment_id)
        .filter(deployment::Column::OrgId.eq(org_id))
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(StoreError::from)?;
    if let Some(claim) = cause.idempotency
        && !idempotency::held(&txn, &[(org_id, claim)])
            .await?
            .is_empty()
    {
        return Err(StoreError::IdempotencyKeyTaken.into());
    }
    let Some(dep) = dep else {
        return Ok(None);
    };
    let decision = decide(&dep, slots_taken(&dep))?;
    let (run, written) = record(&txn, store, &dep, cause, decision).await?;
    txn.commit().await.map_err(StoreError::from)?;
    store.webhooks().dispatch(written);
    store.runs_touched(&run.org_id);
    Ok(Some(run))
}

/// The deployment's runs that hold a concurrency slot (pending or running),
/// as its row counts them.
pub(crate) fn slots_taken(dep: &deployment::Model) -> u64 {
    u64::try_from(dep.active_runs).unwrap_or(0)
}

/// Inserts the run `decision` calls for (and its session when it starts),
/// bumps the deployment's stats and emits the run's webhook event, in the
/// caller's transaction, which holds the deployment row. Returns the run
/// and the deliveries written (dispatch them after the commit).
pub(crate) async fn record(
    txn: &DatabaseTransaction,
    store: &Store,
    dep: &deployment::Model,
    cause: TriggerCause<'_>,
    decision: TriggerDecision,
) -> StoreResult<(deployment_run::Model, Written)> {
    let now = cause.at;
    let run_id = IdKind::Run.generate();
    if let Some(claim) = cause.idempotency {
        idempotency::record(txn, &dep.org_id, claim, &run_id).await?;
    }
    let mut run = new_run(
        dep,
        run_id,
        cause.trigger_type,
        cause.retry_of,
        cause.attempt,
        now,
    );
    run.scheduled_for = cause.scheduled_for;
    let session = match decision {
        TriggerDecision::Skip {
            error_type,
            message,
        } => {
            skip(&mut run, error_type, message, now);
            None
        }
        TriggerDecision::Start => Some(start(dep, &mut run, now)),
    };
    let slots = i64::from(session.is_some());
    DeploymentRun::insert(deployment_run::ActiveModel::from(run.clone()))
        .exec_without_returning(txn)
        .await
        .map_err(StoreError::classify)?;
    if let Some(started) = session {
        started.insert(txn).await?;
    }
    bump_triggered(txn, &dep.id, now, slots).await?;
    let written = Outbox::send(
        txn,
        store,
        &run.org_id,
        recorded_event(&run),
        Subject::Run(&run),
        now,
    )
    .await?;
    Ok((run, written))
}

/// The webhook event of a run just recorded or started: `started`, or
/// `skipped`. (A pending retry is told when it starts.)
pub(crate) fn recorded_event(run: &deployment_run::Model) -> WebhookEventType {
    if run.status == RunStatus::Skipped {
        WebhookEventType::DeploymentRunSkipped
    } else {
        WebhookEventType::DeploymentRunStarted
    }
}

/// A `pending` run of `dep` recorded at `now`, with the environment and
/// time limit the deployment has now; the caller starts or skips it.
pub(crate) fn new_run(
    dep: &deployment::Model,
    id: String,
    trigger_type: TriggerType,
    retry_of: Option<String>,
    attempt: i32,
    now: i64,
) -> deployment_run::Model {
    deployment_run::Model {
        id,
        org_id: dep.org_id.clone(),
        deployment_id: dep.id.clone(),
        agent_id: dep.agent_id.clone(),
        agent_version: dep.agent_version,
        status: RunStatus::Pending,
        error_type: None,
        error_message: None,
        trigger_type,
        retry_of,
        scheduled_for: None,
        attempt,
        session_id: None,
        turn_id: None,
        started_at: None,
        completed_at: None,
        duration_ms: None,
        triggered_at: now,
        created_at: now,
        environment_id: Some(dep.environment_id.clone()),
        timeout_ms: Some(dep.timeout_ms),
        lease_id: None,
        lease_expires_at: None,
        claimed_at: None,
        runner_name: None,
        start_after: None,
    }
}

/// Marks `run` skipped: recorded, never started, terminal at once.
pub(crate) fn skip(
    run: &mut deployment_run::Model,
    error_type: RunErrorType,
    message: String,
    now: i64,
) {
    run.status = RunStatus::Skipped;
    run.error_type = Some(error_type);
    run.error_message = Some(message);
    run.completed_at = Some(now);
}

/// What starting a run adds: its session and the session's opening events.
pub(crate) struct Started {
    pub session: session::ActiveModel,
    pub events: Vec<session_event::Model>,
}

impl Started {
    /// Inserts the session and its events in the caller's transaction.
    pub(crate) async fn insert(self, txn: &DatabaseTransaction) -> StoreResult<()> {
        session::Entity::insert(self.session)
            .exec_without_returning(txn)
            .await?;
        events::insert(txn, self.events).await
    }
}

/// Starts `run`: it gets its session and turn and becomes claimable by the
/// runners of its environment; the session opens with the deployment's
/// initial events and `session.status_running`.
pub(crate) fn start(dep: &deployment::Model, run: &mut deployment_run::Model, now: i64) -> Started {
    let session = open_session(dep, run, now);
    let events = events::opening_rows(dep, run, now);
    let mut session = session;
    session.event_seq = Set(events.len() as i64);
    Started { session, events }
}

fn open_session(
    dep: &deployment::Model,
    run: &mut deployment_run::Model,
    now: i64,
) -> session::ActiveModel {
    let session_id = IdKind::Session.generate();
    run.status = RunStatus::Running;
    run.session_id = Some(session_id.clone());
    run.turn_id = Some(IdKind::Turn.generate());
    run.start_after = None;
    run.started_at = Some(now);
    session::ActiveModel {
        id: Set(session_id),
        org_id: Set(dep.org_id.clone()),
        deployment_run_id: Set(run.id.clone()),
        deployment_id: Set(dep.id.clone()),
        environment_id: Set(run
            .environment_id
            .clone()
            .unwrap_or_else(|| dep.environment_id.clone())),
        agent_id: Set(run.agent_id.clone()),
        agent_version: Set(run.agent_version),
        status: Set(SessionStatus::Processing),
        event_seq: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Counts a recorded run in the deployment's stats, and the `slots` it
/// takes (1 for a started or pending run, 0 for a skipped one).
pub(crate) async fn bump_triggered(
    txn: &DatabaseTransaction,
    deployment_id: &str,
    now: i64,
    slots: i64,
) -> StoreResult<()> {
    Deployment::update_many()
        .col_expr(
            deployment::Column::TotalRuns,
            Expr::col(deployment::Column::TotalRuns).add(1),
        )
        .col_expr(
            deployment::Column::ActiveRuns,
            Expr::col(deployment::Column::ActiveRuns).add(slots),
        )
        .col_expr(deployment::Column::LastTriggeredAt, Expr::value(now))
        .filter(deployment::Column::Id.eq(deployment_id))
        .exec(txn)
        .await?;
    Ok(())
}
