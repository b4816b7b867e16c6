//! May a trigger start a run? Decided inside the trigger transaction, with
//! the deployment row locked and its slot count read from it.

use runway_api::enums::{DeploymentStatus, RunErrorType};
use runway_store::entity::deployment;
use runway_store::repo::runs::TriggerDecision;

use super::archived;
use crate::error::{Reason, ServiceError, ServiceResult};

/// The trigger rule: paused or archived deployments refuse; at
/// `max_concurrent` pending + running runs the run is recorded `skipped`.
pub fn concurrency_gate(
    deployment: &deployment::Model,
    active_runs: u64,
) -> ServiceResult<TriggerDecision> {
    if deployment.archived_at.is_some() {
        return Err(archived(&deployment.id));
    }
    if deployment.status == DeploymentStatus::Paused {
        return Err(ServiceError::precondition(
            Reason::DeploymentPaused,
            format!("Deployment {} is paused", deployment.id),
        ));
    }
    let limit = u64::try_from(deployment.max_concurrent).unwrap_or(0);
    if active_runs >= limit {
        return Ok(TriggerDecision::Skip {
            error_type: RunErrorType::ConcurrencyLimit,
            message: format!(
                "Deployment {} is at its limit of {limit} concurrent {} (max_concurrent); {} pending or running.",
                deployment.id,
                if limit == 1 { "run" } else { "runs" },
                if active_runs == 1 {
                    "1 run is".to_string()
                } else {
                    format!("{active_runs} runs are")
                },
            ),
        });
    }
    Ok(TriggerDecision::Start)
}

/// The gate a pending retry passes when its backoff is over: like a
/// trigger's, except that a paused or archived deployment records the retry
/// as `skipped` instead of refusing (nobody is there to refuse to).
pub fn retry_gate(
    deployment: &deployment::Model,
    other_active_runs: u64,
) -> ServiceResult<TriggerDecision> {
    if deployment.archived_at.is_some() {
        return Ok(TriggerDecision::Skip {
            error_type: RunErrorType::DeploymentArchived,
            message: format!(
                "Deployment {} was archived before the retry started",
                deployment.id
            ),
        });
    }
    if deployment.status == DeploymentStatus::Paused {
        return Ok(TriggerDecision::Skip {
            error_type: RunErrorType::DeploymentPaused,
            message: format!(
                "Deployment {} was paused before the retry started",
                deployment.id
            ),
        });
    }
    concurrency_gate(deployment, other_active_runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::deployment;

    fn skipped_with(decision: ServiceResult<TriggerDecision>) -> Option<RunErrorType> {
        match decision.expect("not refused") {
            TriggerDecision::Skip { error_type, .. } => Some(error_type),
            TriggerDecision::Start => None,
        }
    }

    #[test]
    fn a_trigger_starts_below_the_limit_and_is_skipped_at_it() {
        let mut dep = deployment();
        dep.max_concurrent = 2;
        assert_eq!(skipped_with(concurrency_gate(&dep, 0)), None);
        assert_eq!(skipped_with(concurrency_gate(&dep, 1)), None);
        assert_eq!(
            skipped_with(concurrency_gate(&dep, 2)),
            Some(RunErrorType::ConcurrencyLimit)
        );
        assert_eq!(
            skipped_with(concurrency_gate(&dep, 7)),
            Some(RunErrorType::ConcurrencyLimit)
        );
    }

    #[test]
    fn a_skipped_trigger_says_how_many_runs_hold_the_slots() {
        let message = |limit: i32, active: u64| {
            let mut dep = deployment();
            dep.max_concurrent = limit;
            match concurrency_gate(&dep, active).expect("not refused") {
                TriggerDecision::Skip { message, .. } => message,
                TriggerDecision::Start => panic!("started at {active} of {limit}"),
            }
        };
        let id = deployment().id;
        assert_eq!(
            message(1, 1),
            format!(
                "Deployment {id} is at its limit of 1 concurrent run (max_concurrent); 1 run is pending or running."
            )
        );
        assert_eq!(
            message(2, 3),
            format!(
                "Deployment {id} is at its limit of 2 concurrent runs (max_concurrent); 3 runs are pending or running."
            )
        );
    }

    #[test]
    fn paused_and_archived_deployments_refuse_triggers() {
        let mut dep = deployment();
        dep.status = DeploymentStatus::Paused;
        let err = concurrency_gate(&dep, 0).unwrap_err();
        assert!(matches!(
            err,
            ServiceError::FailedPrecondition {
                reason: Reason::DeploymentPaused,
                ..
            }
        ));
        dep.archived_at = Some(1);
        let err = concurrency_gate(&dep, 0).unwrap_err();
        assert!(matches!(
            err,
            ServiceError::FailedPrecondition {
                reason: Reason::DeploymentArchived,
                ..
            }
        ));
    }

    #[test]
    fn a_retry_of_a_paused_or_archived_deployment_is_skipped_not_refused() {
        let mut dep = deployment();
        dep.status = DeploymentStatus::Paused;
        assert_eq!(
            skipped_with(retry_gate(&dep, 0)),
            Some(RunErrorType::DeploymentPaused)
        );
        dep.archived_at = Some(1);
        assert_eq!(
            skipped_with(retry_gate(&dep, 0)),
            Some(RunErrorType::DeploymentArchived)
        );
        let mut dep = deployment();
        dep.max_concurrent = 1;
        assert_eq!(skipped_with(retry_gate(&dep, 0)), None);
        assert_eq!(
            skipped_with(retry_gate(&dep, 1)),
            Some(RunErrorType::ConcurrencyLimit)
        );
    }
}
