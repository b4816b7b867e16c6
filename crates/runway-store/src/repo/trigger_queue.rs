//! Manual triggers, recorded in batches.
//!
//! A trigger is one small transaction (lock the deployment, insert the run
//! and its session, bump the stats and slot count), and under load the cost
//! of that transaction is its round trips, not its work: on SQLite every
//! statement is a hand-off to the single writer connection's thread, on
//! PostgreSQL a network round trip, and a commit each. The [`TriggerQueue`]
//! collects the triggers that arrive while a batch is being written and
//! records all of them in the next transaction with a fixed number of
//! statements (lock the deployments, read their organizations' webhook
//! endpoints, insert the runs, their sessions and opening events, bump the
//! stats and slot counts, insert the webhook deliveries), deciding each
//! trigger in arrival order
//! with the slot counts kept up to date in memory. The rules and the
//! guarantees are the single trigger's ([`super::runs::trigger`]): the
//! deployment rows, which count their active runs, are locked (PostgreSQL,
//! in id order so two batches cannot deadlock) or the writer is single
//! (SQLite), so no batch ever exceeds `max_concurrent`.
//!
//! A trigger may carry an idempotency claim: the batch reads which of its
//! keys are held already (those triggers record nothing and are told the
//! key is taken, so the caller replays the holder's run) and inserts the
//! others' records with the runs. A key claimed by another transaction in
//! between (another replica) fails the insert; the batch is then recorded
//! trigger by trigger, and only that trigger loses.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use runway_api::enums::TriggerType;
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::idempotency::{self, IdempotencyClaim};
use super::runs::{
    TriggerCause, TriggerDecision, new_run, recorded_event, skip, slots_taken, start, trigger,
};
use super::webhooks::{Outbox, Subject};
use super::{begin, events};
use crate::entity::deployment::{self, Entity as Deployment};
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::entity::session;
use crate::ids::IdKind;
use crate::{Backend, Store, StoreError, StoreResult};

/// The rule a trigger passes: given the locked deployment and its pending
/// and running runs, start, skip or refuse (the caller's error).
pub type TriggerGate<E> = fn(&deployment::Model, u64) -> Result<TriggerDecision, E>;

/// What a trigger comes back with: the recorded run, or `None` when the
/// deployment does not exist in the caller's organization.
pub type TriggerOutcome<E> = Result<Option<deployment_run::Model>, E>;

/// Told the size of every batch written (for metrics).
pub type BatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

/// The most triggers one transaction records. Keeps the multi-row insert
/// (26 columns a run) under SQLite's 32,766 bound parameters and a slow
/// batch short.
const MAX_BATCH: usize = 256;

/// How many batches may be written at once. SQLite: one (there is one
/// writer). PostgreSQL: up to four, at most half the pool, so that while one
/// batch waits on its round trips or its commit's WAL flush the next ones
/// are collected and locked. Measured here (local server, 32 clients, every
/// trigger starting a run): 1, 2 and 4 writers all 6,200–6,700 triggers/s
/// with p99 9–11 ms; before the slot count moved onto the deployment row,
/// when each batch counted its active runs, 1 writer gave 1,637/s and 4 gave
/// 3,882/s. Four keeps a remote server's round trips overlapped.
fn writers(store: &Store) -> usize {
    match store.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => (store.max_connections() / 2).clamp(1, 4) as usize,
    }
}

struct Job<E> {
    org_id: String,
    deployment_id: String,
    at: i64,
    claim: Option<IdempotencyClaim>,
    reply: oneshot::Sender<TriggerOutcome<E>>,
}

/// Records manual triggers in batches; see the module documentation.
/// Cloning shares the queue. The writer tasks end when the last clone is
/// dropped, after writing what was queued.
pub struct TriggerQueue<E> {
    jobs: mpsc::UnboundedSender<Job<E>>,
}

impl<E> Clone for TriggerQueue<E> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<E> TriggerQueue<E>
where
    E: From<StoreError> + Send + 'static,
{
    /// Starts the writer tasks on the current tokio runtime. `gate` decides
    /// every trigger; `observe` hears every batch's size.
    pub fn start(store: Store, gate: TriggerGate<E>, observe: BatchObserver) -> Self {
        let (jobs, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers(&store) {
            tokio::spawn(write_batches(
                store.clone(),
                gate,
                receiver.clone(),
                observe.clone(),
            ));
        }
        Self { jobs }
    }

    /// Records a manual trigger of `deployment_id` by `org_id` at `at`,
    /// claiming `claim`'s key with the run
    /// ([`StoreError::IdempotencyKeyTaken`] when a live record holds it).
    pub async fn trigger(
        &self,
        org_id: &str,
        deployment_id: &str,
        at: i64,
        claim: Option<IdempotencyClaim>,
    ) -> TriggerOutcome<E> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            org_id: org_id.to_string(),
            deployment_id: deployment_id.to_string(),
            at,
            claim,
            reply,
        };
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Stopped("the trigger queue"))?;
        answer
            .await
            .map_err(|_| E::from(StoreError::Stopped("the trigger queue")))?
    }
}

/// One writer: takes whatever is queued (at least one trigger, at most
/// [`MAX_BATCH`]), writes it, answers, and goes again.
async fn write_batches<E>(
    store: Store,
    gate: TriggerGate<E>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Job<E>>>>,
    observe: BatchObserver,
) where
    E: From<StoreError> + Send + 'static,
{
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        observe(batch.len());
        write(&store, gate, &mut batch).await;
    }
}

/// Writes `batch` in one transaction and answers every trigger. When the
/// transaction fails before its commit, each trigger is retried in a
/// transaction of its own, so one trigger's failure is its own and the
/// others still get recorded. A failed commit is not retried: its outcome
/// is unknown (the connection may have dropped after the commit landed), and
/// retrying could record a run twice.
async fn write<E>(store: &Store, gate: TriggerGate<E>, batch: &mut Vec<Job<E>>)
where
    E: From<StoreError> + Send + 'static,
{
    match record_batch(store, gate, batch).await {
        Ok(outcomes) => {
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                // The caller may have gone (a dropped request); the run stays recorded.
                let _ = job.reply.send(outcome);
            }
        }
        Err(BatchFailure::Commit(err)) => {
            tracing::error!(error = %err, triggers = batch.len(), "trigger batch commit failed");
            for job in batch.drain(..) {
                let err = StoreError::Database(DbErr::Custom(err.to_string()));
                let _ = job.reply.send(Err(E::from(err)));
            }
        }
        Err(BatchFailure::Statement(err)) => {
            tracing::warn!(error = %err, triggers = batch.len(), "trigger batch failed; recording each alone");
            for job in batch.drain(..) {
                let cause = TriggerCause::manual(job.at, job.claim.as_ref());
                let outcome = trigger(store, &job.org_id, &job.deployment_id, cause, gate).await;
                let _ = job.reply.send(outcome);
            }
        }
    }
}

/// How a batch transaction failed.
enum BatchFailure {
    /// A statement before the commit: nothing was recorded.
    Statement(StoreError),
    /// The commit: the batch may or may not be recorded.
    Commit(DbErr),
}

impl<T: Into<StoreError>> From<T> for BatchFailure {
    fn from(err: T) -> Self {
        BatchFailure::Statement(err.into())
    }
}

/// A deployment of the batch: its locked row, its active runs so far, and
/// what the batch adds to its stats.
struct Slot {
    row: deployment::Model,
    active: u64,
    recorded: i64,
    started: i64,
    last_at: i64,
}

/// The batch transaction. Decides every trigger in order; returns one
/// outcome per job, or the database error that rolled the batch back.
async fn record_batch<E>(
    store: &Store,
    gate: TriggerGate<E>,
    batch: &[Job<E>],
) -> Result<Vec<TriggerOutcome<E>>, BatchFailure>
where
    E: From<StoreError>,
{
    let ids: BTreeSet<&str> = batch.iter().map(|j| j.deployment_id.as_str()).collect();
    let txn = begin(store).await?;
    let mut slots: HashMap<String, Slot> = Deployment::find()
        .filter(deployment::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(deployment::Column::Id)
        .lock_exclusive()
        .all(&txn)
        .await?
        .into_iter()
        .map(|row| {
            let slot = Slot {
                active: slots_taken(&row),
                row,
                recorded: 0,
                started: 0,
                last_at: 0,
            };
            (slot.row.id.clone(), slot)
        })
        .collect();
    let mut outbox = Outbox::load(&txn, store, batch.iter().map(|j| j.org_id.as_str())).await?;
    let claims: Vec<(&str, &IdempotencyClaim)> = batch
        .iter()
        .filter_map(|j| Some((j.org_id.as_str(), j.claim.as_ref()?)))
        .collect();
    let mut held = idempotency::held(&txn, &claims).await?;
    let mut claimed = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut runs = Vec::with_capacity(batch.len());
    let mut sessions = Vec::with_capacity(batch.len());
    let mut events = Vec::with_capacity(batch.len());
    for job in batch {
        if let Some(claim) = &job.claim
            && held.contains(&(job.org_id.clone(), claim.key.clone()))
        {
            outcomes.push(Err(E::from(StoreError::IdempotencyKeyTaken)));
            continue;
        }
        let Some(slot) = slots
            .get_mut(&job.deployment_id)
            .filter(|s| s.row.org_id == job.org_id)
        else {
            outcomes.push(Ok(None));
            continue;
        };
        let decision = match gate(&slot.row, slot.active) {
            Ok(decision) => decision,
            Err(refusal) => {
                outcomes.push(Err(refusal));
                continue;
            }
        };
        let mut run = new_run(
            &slot.row,
            IdKind::Run.generate(),
            TriggerType::Manual,
            None,
            1,
            job.at,
        );
        match decision {
            TriggerDecision::Skip {
                error_type,
                message,
            } => skip(&mut run, error_type, message, job.at),
            TriggerDecision::Start => {
                let started = start(&slot.row, &mut run, job.at);
                sessions.push(started.session);
                events.extend(started.events);
                slot.active += 1;
                slot.started += 1;
            }
        }
        slot.recorded += 1;
        slot.last_at = Ord::max(slot.last_at, job.at);
        outbox.emit(
            &run.org_id,
            recorded_event(&run),
            Subject::Run(&run),
            job.at,
        )?;
        if let Some(claim) = &job.claim {
            // A second trigger with this key in the batch replays this one.
            held.insert((job.org_id.clone(), claim.key.clone()));
            claimed.push((job.org_id.clone(), claim.clone(), run.id.clone()));
        }
        runs.push(run.clone());
        outcomes.push(Ok(Some(run)));
    }

    DeploymentRun::insert_many(runs.into_iter().map(deployment_run::ActiveModel::from))
        .exec_without_returning(&txn)
        .await
        .map_err(StoreError::classify)?;
    session::Entity::insert_many(sessions)
        .exec_without_returning(&txn)
        .await?;
    events::insert(&txn, events).await?;
    idempotency::record_many(&txn, claimed).await?;
    bump_stats(&txn, slots.values().filter(|s| s.recorded > 0)).await?;
    let written = outbox.write(&txn).await?;
    let touched: std::collections::BTreeSet<&str> = slots
        .values()
        .filter(|s| s.recorded > 0)
        .map(|s| s.row.org_id.as_str())
        .collect();
    txn.commit().await.map_err(BatchFailure::Commit)?;
    store.webhooks().dispatch(written);
    for org_id in touched {
        store.runs_touched(org_id);
    }
    Ok(outcomes)
}

/// One statement for every deployment's `total_runs`, `active_runs` and
/// `last_triggered_at`.
async fn bump_stats<'a>(
    txn: &sea_orm::DatabaseTransaction,
    slots: impl Iterator<Item = &'a Slot>,
) -> StoreResult<()> {
    let mut ids = Vec::new();
    let mut added = CaseStatement::new();
    let mut started = CaseStatement::new();
    let mut last = CaseStatement::new();
    for slot in slots {
        let is_this = || deployment::Column::Id.eq(slot.row.id.as_str());
        added = added.case(is_this(), slot.recorded);
        started = started.case(is_this(), slot.started);
        last = last.case(is_this(), slot.last_at);
        ids.push(slot.row.id.as_str());
    }
    if ids.is_empty() {
        return Ok(());
    }
    Deployment::update_many()
        .col_expr(
            deployment::Column::TotalRuns,
            Expr::col(deployment::Column::TotalRuns).add(Into::<Expr>::into(added)),
        )
        .col_expr(
            deployment::Column::ActiveRuns,
            Expr::col(deployment::Column::ActiveRuns).add(Into::<Expr>::into(started)),
        )
        .col_expr(
            deployment::Column::LastTriggeredAt,
            Into::<Expr>::into(last),
        )
        .filter(deployment::Column::Id.is_in(ids))
        .exec(txn)
        .await?;
    Ok(())
}
