//! A failed run's retry: recorded `pending` when the run fails with
//! attempts left (by [`super::turns::finish`]), started or skipped when its
//! backoff is over ([`start_retry`], by the reaper).

use runway_api::enums::{RunStatus, TriggerType};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect,
};

use super::begin;
use super::runs;
use super::webhooks::{Outbox, Subject};
use crate::entity::deployment::{self, Entity as Deployment};
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::ids::IdKind;
use crate::{Store, StoreError, StoreResult};

/// Records the retry of `failed` (due at `start_after`) in the caller's
/// transaction, which holds the deployment row.
pub(super) async fn insert_retry(
    txn: &DatabaseTransaction,
    dep: &deployment::Model,
    failed: &deployment_run::Model,
    now: i64,
    start_after: i64,
) -> StoreResult<deployment_run::Model> {
    // The retry runs the failed run's agent version; it is a new trigger
    // of the deployment as it is now otherwise.
    let mut retry = runs::new_run(
        dep,
        IdKind::Run.generate(),
        TriggerType::Retry,
        Some(failed.id.clone()),
        failed.attempt + 1,
        now,
    );
    retry.agent_id = failed.agent_id.clone();
    retry.agent_version = failed.agent_version;
    retry.environment_id = failed.environment_id.clone();
    retry.start_after = Some(start_after);
    DeploymentRun::insert(retry.clone().into_active_model())
        .exec_without_returning(txn)
        .await?;
    // The retry takes over the failed run's slot (given back by `finish`).
    runs::bump_triggered(txn, &dep.id, now, 1).await?;
    Ok(retry)
}

/// Starts pending retry `run_id` once its backoff is over, through
/// `decide` (which sees the deployment, locked, and the other runs that
/// hold a slot). `None` when it is no longer a due pending run.
pub async fn start_retry<E: From<StoreError>>(
    store: &Store,
    run_id: &str,
    now: i64,
    decide: impl FnOnce(&deployment::Model, u64) -> Result<runs::TriggerDecision, E>,
) -> Result<Option<deployment_run::Model>, E> {
    let txn = begin(store).await?;
    let Some(run) = DeploymentRun::find_by_id(run_id)
        .one(&txn)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(None);
    };
    // Lock the deployment first, as a trigger does, then re-read the run.
    let Some(dep) = Deployment::find_by_id(&run.deployment_id)
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(None);
    };
    let Some(mut run) = DeploymentRun::find_by_id(run_id)
        .filter(deployment_run::Column::Status.eq(RunStatus::Pending))
        .filter(deployment_run::Column::StartAfter.lte(now))
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(None);
    };
    // The retry holds a slot already; the gate counts the others.
    let others = runs::slots_taken(&dep).saturating_sub(1);
    let session = match decide(&dep, others)? {
        runs::TriggerDecision::Start => Some(runs::start(&dep, &mut run, now)),
        runs::TriggerDecision::Skip {
            error_type,
            message,
        } => {
            runs::skip(&mut run, error_type, message, now);
            // A skipped retry gives its slot back.
            Deployment::update_many()
                .col_expr(
                    deployment::Column::ActiveRuns,
                    Expr::col(deployment::Column::ActiveRuns).sub(1),
                )
                .filter(deployment::Column::Id.eq(&dep.id))
                .exec(&txn)
                .await
                .map_err(StoreError::from)?;
            None
        }
    };
    let run = run
        .into_active_model()
        .reset_all()
        .update(&txn)
        .await
        .map_err(StoreError::from)?;
    if let Some(started) = session {
        started.insert(&txn).await?;
    }
    let written = Outbox::send(
        &txn,
        store,
        &run.org_id,
        runs::recorded_event(&run),
        Subject::Run(&run),
        now,
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    store.webhooks().dispatch(written);
    store.runs_touched(&run.org_id);
    Ok(Some(run))
}
