//! runway's rules, in one place and free of storage: whether a trigger
//! starts a run, how a run ends and whether it is retried, and how a
//! deployment moves between active, paused and archived. The store runs
//! each decision inside the transaction that holds the rows it looked at
//! (the closures of `runway_store::repo`), so a rule always sees what it
//! changes; the rules themselves are tested here without a database.

pub mod access;
pub mod deliveries;
pub mod gate;
pub mod lifecycle;
pub mod retention;
pub mod run_end;

use runway_api::enums::DeploymentStatus;
use runway_store::entity::deployment;

use crate::error::{Reason, ResourceKind, ServiceError};

/// The refusal for a change to an archived deployment.
pub fn archived(id: &str) -> ServiceError {
    ServiceError::precondition(
        Reason::DeploymentArchived,
        format!("Deployment {id} is archived"),
    )
}

/// The refusal for an unknown deployment.
pub fn deployment_not_found(id: &str) -> ServiceError {
    ServiceError::not_found(ResourceKind::Deployment, id, "deployment_id")
}

/// True while `dep` takes triggers and fires its schedule.
pub fn is_live(dep: &deployment::Model) -> bool {
    dep.archived_at.is_none() && dep.status == DeploymentStatus::Active
}

/// Rows to test rules with: a live deployment and a pending run of it.
#[cfg(test)]
pub(crate) mod testing {
    use runway_api::enums::{DeploymentStatus, RunStatus, SessionStrategy, TriggerType};
    use runway_store::entity::{deployment, deployment_run};
    use runway_store::json_text::JsonText;

    pub fn deployment() -> deployment::Model {
        deployment::Model {
            id: "dep_1".into(),
            org_id: "org_1".into(),
            name: "d".into(),
            description: None,
            agent_id: "agent_1".into(),
            agent_version: 1,
            environment_id: "env_1".into(),
            initial_events: JsonText::default(),
            schedule_expression: None,
            schedule_timezone: None,
            last_run_at: None,
            next_fire_at: None,
            status: DeploymentStatus::Active,
            paused_reason: None,
            archived_at: None,
            resources: JsonText::default(),
            vault_ids: JsonText::default(),
            metadata: JsonText::default(),
            max_concurrent: 1,
            max_retries: 0,
            max_consecutive_failures: None,
            timeout_ms: 300_000,
            session_strategy: SessionStrategy::NewSession,
            total_runs: 0,
            total_failures: 0,
            consecutive_failures: 0,
            last_triggered_at: None,
            missed_fires: 0,
            active_runs: 0,
            retention: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    pub fn run() -> deployment_run::Model {
        deployment_run::Model {
            id: "drun_1".into(),
            org_id: "org_1".into(),
            deployment_id: "dep_1".into(),
            agent_id: "agent_1".into(),
            agent_version: 1,
            status: RunStatus::Pending,
            error_type: None,
            error_message: None,
            trigger_type: TriggerType::Manual,
            retry_of: None,
            scheduled_for: None,
            attempt: 1,
            session_id: None,
            turn_id: None,
            started_at: None,
            completed_at: None,
            duration_ms: None,
            triggered_at: 0,
            created_at: 0,
            environment_id: Some("env_1".into()),
            timeout_ms: Some(300_000),
            lease_id: None,
            lease_expires_at: None,
            claimed_at: None,
            runner_name: None,
            start_after: None,
        }
    }
}
