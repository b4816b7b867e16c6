//! Historical runs written in bulk, for benchmarks and query-plan tests:
//! finished runs of existing deployments, spread over the past in the
//! proportions a long-lived installation has (most scheduled and
//! completed, some failed, skipped, manual and retries).

use runway_api::enums::{RunErrorType, RunStatus, TriggerType};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::runs::new_run;
use crate::entity::deployment::{self, Entity as Deployment};
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::ids::IdKind;
use crate::{Store, StoreResult};

/// Rows per INSERT (25 columns each: within SQLite's and PostgreSQL's
/// parameter limits).
const ROWS_PER_STATEMENT: usize = 1_000;
/// Statements per transaction.
const STATEMENTS_PER_TRANSACTION: usize = 20;

/// A well-mixed number from `i` (SplitMix64), so the history has the same
/// shape on every run of a benchmark.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The finished run number `i` of `dep`, triggered at `at`: 90 % completed,
/// 6 % failed, 4 % skipped; 70 % scheduled, 27 % manual, 3 % retries.
fn historical_run(dep: &deployment::Model, i: u64, at: i64) -> deployment_run::Model {
    let roll = mix(i);
    let trigger = match roll % 100 {
        0..70 => TriggerType::Schedule,
        70..97 => TriggerType::Manual,
        _ => TriggerType::Retry,
    };
    let mut run = new_run(
        dep,
        IdKind::Run.generate(),
        trigger,
        None,
        if trigger == TriggerType::Retry { 2 } else { 1 },
        at,
    );
    if trigger == TriggerType::Schedule {
        run.scheduled_for = Some(at);
    }
    let duration_ms = 1_000 + (roll >> 8) as i64 % 60_000;
    match (roll >> 16) % 100 {
        0..90 => run.status = RunStatus::Completed,
        90..96 => {
            run.status = RunStatus::Failed;
            run.error_type = Some(RunErrorType::Agent);
            run.error_message = Some("the agent exited with status 1".into());
        }
        _ => {
            run.status = RunStatus::Skipped;
            run.error_type = Some(RunErrorType::ConcurrencyLimit);
            run.error_message = Some("the deployment is at max_concurrent".into());
            return run;
        }
    }
    run.started_at = Some(at);
    run.completed_at = Some(at + duration_ms * 1_000_000);
    run.duration_ms = Some(duration_ms);
    run
}

/// Writes `runs` finished runs, round-robin over `deployments`, the last
/// one triggered at `until` and each `spacing` nanoseconds after the one
/// before; bumps the deployments' run counts. `progress` hears the number
/// written after each transaction.
pub async fn fill(
    store: &Store,
    deployments: &[deployment::Model],
    runs: u64,
    until: i64,
    spacing: i64,
    mut progress: impl FnMut(u64),
) -> StoreResult<()> {
    if deployments.is_empty() || runs == 0 {
        return Ok(());
    }
    let batch = (ROWS_PER_STATEMENT * STATEMENTS_PER_TRANSACTION) as u64;
    let mut written = 0u64;
    while written < runs {
        let txn = store.writer().begin().await?;
        let end = Ord::min(written + batch, runs);
        let rows: Vec<deployment_run::Model> = (written..end)
            .map(|i| {
                let dep = &deployments[(i % deployments.len() as u64) as usize];
                let at = until - (runs - 1 - i) as i64 * spacing;
                historical_run(dep, i, at)
            })
            .collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let models = chunk
                .iter()
                .cloned()
                .map(sea_orm::IntoActiveModel::into_active_model);
            DeploymentRun::insert_many(models).exec(&txn).await?;
        }
        txn.commit().await?;
        written = end;
        progress(written);
    }
    for (n, dep) in deployments.iter().enumerate() {
        let count = runs / deployments.len() as u64
            + u64::from((n as u64) < runs % deployments.len() as u64);
        Deployment::update_many()
            .col_expr(
                deployment::Column::TotalRuns,
                Expr::col(deployment::Column::TotalRuns).add(count as i64),
            )
            .filter(deployment::Column::Id.eq(&dep.id))
            .exec(store.writer())
            .await?;
    }
    Ok(())
}
