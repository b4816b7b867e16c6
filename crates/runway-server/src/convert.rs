//! Stored rows → proto messages. Proto → stored values lives with the
//! validation of each service.

use std::collections::BTreeMap;

use prost_types::{Struct, Timestamp};
use runway_api::json_value;
use runway_api::v1;
use runway_store::entity::{agent, deployment, deployment_run, environment, session};
use runway_store::repo::agents::AgentSnapshot;
use runway_store::repo::runs::status;

use crate::error::{ServiceError, ServiceResult};
use crate::schedule::{CronSchedule, UPCOMING};

/// Unix nanoseconds as a proto timestamp.
pub fn timestamp(nanos: i64) -> Timestamp {
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

/// A proto timestamp as Unix nanoseconds, saturating far outside 1677–2262.
pub fn nanos(ts: &Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(ts.nanos))
}

fn corrupt(what: &str, err: serde_json::Error) -> ServiceError {
    ServiceError::Internal(format!("stored {what} does not decode: {err}"))
}

fn structs(json: &str, what: &str) -> ServiceResult<Vec<Struct>> {
    let items: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(json).map_err(|e| corrupt(what, e))?;
    Ok(items
        .into_iter()
        .map(json_value::object_to_struct)
        .collect())
}

fn string_map(json: &str, what: &str) -> ServiceResult<BTreeMap<String, String>> {
    serde_json::from_str(json).map_err(|e| corrupt(what, e))
}

pub fn agent(row: &agent::Model) -> ServiceResult<v1::Agent> {
    Ok(v1::Agent {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        model: row.model.clone(),
        system: row.system.clone(),
        instructions: row.instructions.clone(),
        tools: structs(&row.tools, "agent tools")?,
        metadata: string_map(&row.metadata, "agent metadata")?,
        version: row.version,
        archived_at: row.archived_at.map(timestamp),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    })
}

pub fn environment(row: &environment::Model) -> v1::Environment {
    let status = if row.archived_at.is_some() {
        v1::EnvironmentStatus::Archived
    } else {
        v1::EnvironmentStatus::Ready
    };
    v1::Environment {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        status: status as i32,
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

pub fn initial_event_type(name: &str) -> Option<v1::InitialEventType> {
    Some(match name {
        "user.message" => v1::InitialEventType::UserMessage,
        "user.define_outcome" => v1::InitialEventType::UserDefineOutcome,
        "system.message" => v1::InitialEventType::SystemMessage,
        _ => return None,
    })
}

pub fn initial_event_name(kind: v1::InitialEventType) -> Option<&'static str> {
    Some(match kind {
        v1::InitialEventType::UserMessage => "user.message",
        v1::InitialEventType::UserDefineOutcome => "user.define_outcome",
        v1::InitialEventType::SystemMessage => "system.message",
        v1::InitialEventType::Unspecified => return None,
    })
}

/// A deployment as clients see it at `now`: upcoming fire times are
/// computed from now, and empty while paused or archived.
pub fn deployment(row: &deployment::Model, now: i64) -> ServiceResult<v1::Deployment> {
    let events: Vec<serde_json::Value> =
        serde_json::from_str(&row.initial_events).map_err(|e| corrupt("initial events", e))?;
    let initial_events = events
        .into_iter()
        .map(|e| v1::InitialEvent {
            r#type: e["type"]
                .as_str()
                .and_then(initial_event_type)
                .unwrap_or(v1::InitialEventType::Unspecified) as i32,
            content: Some(json_value::to_proto(e["content"].clone())),
        })
        .collect();
    let live = row.archived_at.is_none() && row.status == runway_store::repo::deployments::ACTIVE;
    let schedule = match (&row.schedule_expression, &row.schedule_timezone) {
        (Some(expression), Some(timezone)) => {
            let upcoming = if live {
                CronSchedule::parse(expression, timezone)
                    .map_err(|e| ServiceError::Internal(format!("stored schedule: {e}")))?
                    .upcoming(now, UPCOMING)
            } else {
                Vec::new()
            };
            Some(v1::Schedule {
                r#type: v1::ScheduleType::Cron as i32,
                expression: expression.clone(),
                timezone: timezone.clone(),
                last_run_at: row.last_run_at.map(timestamp),
                upcoming_runs_at: upcoming.into_iter().map(timestamp).collect(),
            })
        }
        _ => None,
    };
    let next_trigger_at = schedule
        .as_ref()
        .and_then(|s| s.upcoming_runs_at.first().cloned());
    let vault_ids: Vec<String> =
        serde_json::from_str(&row.vault_ids).map_err(|e| corrupt("vault ids", e))?;
    let status = if row.status == runway_store::repo::deployments::PAUSED {
        v1::DeploymentStatus::Paused
    } else {
        v1::DeploymentStatus::Active
    };
    Ok(v1::Deployment {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        agent: Some(v1::AgentRef {
            id: row.agent_id.clone(),
            version: row.agent_version,
        }),
        environment_id: row.environment_id.clone(),
        initial_events,
        schedule,
        status: status as i32,
        paused_reason: row.paused_reason.as_ref().map(|_| v1::PausedReason {
            r#type: v1::PausedReasonType::Manual as i32,
        }),
        archived_at: row.archived_at.map(timestamp),
        resources: structs(&row.resources, "resources")?,
        vault_ids,
        metadata: string_map(&row.metadata, "deployment metadata")?,
        cas_config: Some(v1::CasConfig {
            config: Some(v1::DeploymentConfig {
                max_concurrent: row.max_concurrent,
                max_retries: row.max_retries,
                timeout_ms: row.timeout_ms,
            }),
            session_strategy: v1::SessionStrategy::NewSession as i32,
            stats: Some(v1::DeploymentStats {
                consecutive_failures: row.consecutive_failures,
                total_failures: row.total_failures,
                total_runs: row.total_runs,
                last_triggered_at: row.last_triggered_at.map(timestamp),
                next_trigger_at,
                missed_fires: row.missed_fires,
            }),
        }),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    })
}

pub fn run_status(name: &str) -> v1::DeploymentRunStatus {
    match name {
        status::PENDING => v1::DeploymentRunStatus::Pending,
        status::RUNNING => v1::DeploymentRunStatus::Running,
        status::COMPLETED => v1::DeploymentRunStatus::Completed,
        status::FAILED => v1::DeploymentRunStatus::Failed,
        status::SKIPPED => v1::DeploymentRunStatus::Skipped,
        _ => v1::DeploymentRunStatus::Unspecified,
    }
}

pub fn run_status_name(kind: v1::DeploymentRunStatus) -> Option<&'static str> {
    Some(match kind {
        v1::DeploymentRunStatus::Pending => status::PENDING,
        v1::DeploymentRunStatus::Running => status::RUNNING,
        v1::DeploymentRunStatus::Completed => status::COMPLETED,
        v1::DeploymentRunStatus::Failed => status::FAILED,
        v1::DeploymentRunStatus::Skipped => status::SKIPPED,
        v1::DeploymentRunStatus::Unspecified => return None,
    })
}

pub fn trigger_type(name: &str) -> v1::TriggerType {
    match name {
        "manual" => v1::TriggerType::Manual,
        "schedule" => v1::TriggerType::Schedule,
        "retry" => v1::TriggerType::Retry,
        _ => v1::TriggerType::Unspecified,
    }
}

pub fn trigger_type_name(kind: v1::TriggerType) -> Option<&'static str> {
    Some(match kind {
        v1::TriggerType::Manual => "manual",
        v1::TriggerType::Schedule => "schedule",
        v1::TriggerType::Retry => "retry",
        v1::TriggerType::Unspecified => return None,
    })
}

pub fn run(row: &deployment_run::Model) -> v1::DeploymentRun {
    v1::DeploymentRun {
        id: row.id.clone(),
        deployment_id: row.deployment_id.clone(),
        agent: Some(v1::AgentRef {
            id: row.agent_id.clone(),
            version: row.agent_version,
        }),
        status: run_status(&row.status) as i32,
        error: row.error_type.as_ref().map(|t| v1::RunError {
            r#type: t.clone(),
            message: row.error_message.clone().unwrap_or_default(),
        }),
        trigger_context: Some(v1::TriggerContext {
            r#type: trigger_type(&row.trigger_type) as i32,
            retry_of: row.retry_of.clone(),
        }),
        session_id: row.session_id.clone(),
        cas_run_extras: Some(v1::CasRunExtras {
            attempt: row.attempt,
            turn_id: row.turn_id.clone(),
            started_at: row.started_at.map(timestamp),
        }),
        triggered_at: Some(timestamp(row.triggered_at)),
        created_at: Some(timestamp(row.created_at)),
        completed_at: row.completed_at.map(timestamp),
        duration_ms: row.duration_ms,
    }
}

/// An agent version as sessions run it. `at` stands in for the version's
/// timestamps (the snapshot is immutable).
pub fn agent_snapshot(snapshot: &AgentSnapshot, at: i64) -> ServiceResult<v1::Agent> {
    let f = &snapshot.fields;
    let tools: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_value(f.tools.clone()).map_err(|e| corrupt("agent snapshot tools", e))?;
    Ok(v1::Agent {
        id: snapshot.id.clone(),
        name: f.name.clone(),
        description: f.description.clone(),
        model: f.model.clone(),
        system: f.system.clone(),
        instructions: f.instructions.clone(),
        tools: tools
            .into_iter()
            .map(json_value::object_to_struct)
            .collect(),
        metadata: f.metadata.clone(),
        version: snapshot.version,
        archived_at: None,
        created_at: Some(timestamp(at)),
        updated_at: Some(timestamp(at)),
    })
}

pub fn session(row: &session::Model, agent: &AgentSnapshot) -> ServiceResult<v1::Session> {
    let status = match row.status.as_str() {
        status::COMPLETED => v1::SessionStatus::Completed,
        status::FAILED => v1::SessionStatus::Failed,
        _ => v1::SessionStatus::Running,
    };
    Ok(v1::Session {
        id: row.id.clone(),
        agent: Some(agent_snapshot(agent, row.created_at)?),
        environment_id: row.environment_id.clone(),
        deployment_run_id: row.deployment_run_id.clone(),
        status: status as i32,
        created_at: Some(timestamp(row.created_at)),
    })
}
