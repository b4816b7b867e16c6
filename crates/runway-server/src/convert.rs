//! Stored rows → proto messages. Proto → stored values lives with the
//! validation of each service.

use prost_types::{Struct, Timestamp};
use runway_api::enums::{EnvironmentStatus, ScheduleType};
use runway_api::json_value;
use runway_api::v1;
use runway_store::entity::organization::RetentionRules;
use runway_store::entity::{
    access_token, agent, deployment, deployment_run, environment, session, session_event,
    webhook_attempt, webhook_delivery, webhook_endpoint,
};
use runway_store::repo::agents::StoredVersion;
use runway_store::repo::events::SCHEMA_VERSION;

use crate::error::{ServiceError, ServiceResult};
use crate::schedule::{CronSchedule, UPCOMING};

/// Unix nanoseconds as a proto timestamp.
pub fn timestamp(nanos: i64) -> Timestamp {
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

/// A proto timestamp as Unix nanoseconds, saturating far outside 1677–2262
/// (right for a bound: a filter past the range matches what its edge does).
pub fn nanos(ts: &Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(ts.nanos))
}

/// A proto timestamp that is stored as given: INVALID_ARGUMENT on `param`
/// outside the instants Unix nanoseconds hold (1677-09-21 to 2262-04-11),
/// which saturating would silently change.
pub fn stored_nanos(param: &str, ts: &Timestamp) -> crate::error::ServiceResult<i64> {
    ts.seconds
        .checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(i64::from(ts.nanos)))
        .ok_or_else(|| {
            crate::error::ServiceError::invalid(
                param,
                format!("{param} must be between 1677-09-21 and 2262-04-11"),
            )
        })
}

fn structs(items: &[serde_json::Map<String, serde_json::Value>]) -> Vec<Struct> {
    items
        .iter()
        .map(|item| json_value::object_to_struct(item.clone()))
        .collect()
}

pub fn agent(row: &agent::Model) -> v1::Agent {
    v1::Agent {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        model: row.model.clone(),
        system: row.system.clone(),
        instructions: row.instructions.clone(),
        tools: structs(&row.tools),
        metadata: row.metadata.0.clone(),
        version: row.version,
        archived_at: row.archived_at.map(timestamp),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

pub fn environment(row: &environment::Model) -> v1::Environment {
    let status = if row.archived_at.is_some() {
        EnvironmentStatus::Archived
    } else {
        EnvironmentStatus::Ready
    };
    v1::Environment {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        status: status.to_proto(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

/// A token as clients see it (never its secret or hash).
pub fn token(row: &access_token::Model) -> v1::AccessToken {
    v1::AccessToken {
        id: row.id.clone(),
        name: row.name.clone(),
        scope: row.scope.to_proto(),
        environment_ids: row.environment_ids.0.clone(),
        created_at: Some(timestamp(row.created_at)),
        expires_at: row.expires_at.map(timestamp),
        last_used_at: row.last_used_at.map(timestamp),
        revoked_at: row.revoked_at.map(timestamp),
    }
}

pub fn initial_event(e: deployment::InitialEvent) -> v1::InitialEvent {
    v1::InitialEvent {
        r#type: e.kind.to_proto(),
        content: Some(json_value::to_proto(e.content)),
    }
}

/// A deployment as clients see it at `now`: upcoming fire times are
/// computed from now, and empty while paused or archived.
pub fn deployment(row: &deployment::Model, now: i64) -> ServiceResult<v1::Deployment> {
    let initial_events = row
        .initial_events
        .iter()
        .cloned()
        .map(initial_event)
        .collect();
    let live = crate::domain::is_live(row);
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
                r#type: ScheduleType::Cron.to_proto(),
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
        status: row.status.to_proto(),
        paused_reason: row.paused_reason.map(|reason| v1::PausedReason {
            r#type: reason.to_proto(),
        }),
        archived_at: row.archived_at.map(timestamp),
        resources: structs(&row.resources),
        vault_ids: row.vault_ids.0.clone(),
        metadata: row.metadata.0.clone(),
        cas_config: Some(v1::CasConfig {
            config: Some(v1::DeploymentConfig {
                max_concurrent: row.max_concurrent,
                max_retries: row.max_retries,
                max_consecutive_failures: row.max_consecutive_failures,
                timeout_ms: row.timeout_ms,
            }),
            session_strategy: row.session_strategy.to_proto(),
            stats: Some(v1::DeploymentStats {
                consecutive_failures: row.consecutive_failures,
                total_failures: row.total_failures,
                total_runs: row.total_runs,
                last_triggered_at: row.last_triggered_at.map(timestamp),
                next_trigger_at,
                missed_fires: row.missed_fires,
            }),
            retention: row.retention.as_ref().map(|r| retention_rules(&r.0)),
        }),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    })
}

pub fn retention_rules(rules: &RetentionRules) -> v1::RetentionRules {
    v1::RetentionRules {
        keep_days: rules.keep_days,
        keep_failed_days: rules.keep_failed_days,
        max_runs: rules.max_runs,
    }
}

pub fn retention_rules_from(rules: &v1::RetentionRules) -> RetentionRules {
    RetentionRules {
        keep_days: rules.keep_days,
        keep_failed_days: rules.keep_failed_days,
        max_runs: rules.max_runs,
    }
}

/// An organization's policy; `updated_at` absent while never set.
pub fn retention_policy(rules: &RetentionRules, updated_at: Option<i64>) -> v1::RetentionPolicy {
    v1::RetentionPolicy {
        rules: Some(retention_rules(rules)),
        updated_at: updated_at.map(timestamp),
    }
}

pub fn run(row: deployment_run::Model) -> v1::DeploymentRun {
    // Taken by value: a page's strings move into the message uncopied.
    v1::DeploymentRun {
        id: row.id,
        deployment_id: row.deployment_id,
        agent: Some(v1::AgentRef {
            id: row.agent_id,
            version: row.agent_version,
        }),
        status: row.status.to_proto(),
        error: row.error_type.map(|t| v1::RunError {
            r#type: t.name().to_string(),
            message: row.error_message.unwrap_or_default(),
        }),
        trigger_context: Some(v1::TriggerContext {
            r#type: row.trigger_type.to_proto(),
            retry_of: row.retry_of,
        }),
        session_id: row.session_id,
        cas_run_extras: Some(v1::CasRunExtras {
            attempt: row.attempt,
            turn_id: row.turn_id,
            started_at: row.started_at.map(timestamp),
            runner_name: row.runner_name,
        }),
        triggered_at: Some(timestamp(row.triggered_at)),
        created_at: Some(timestamp(row.created_at)),
        completed_at: row.completed_at.map(timestamp),
        duration_ms: row.duration_ms,
    }
}

/// An agent version as sessions run it: the agent as it was once the
/// version was made (created with the agent, updated when the version was).
pub fn agent_version(stored: &StoredVersion) -> v1::Agent {
    let snapshot = &stored.snapshot;
    let f = &snapshot.fields;
    v1::Agent {
        id: snapshot.id.clone(),
        name: f.name.clone(),
        description: f.description.clone(),
        model: f.model.clone(),
        system: f.system.clone(),
        instructions: f.instructions.clone(),
        tools: structs(&f.tools),
        metadata: f.metadata.clone(),
        version: snapshot.version,
        archived_at: None,
        created_at: Some(timestamp(stored.agent_created_at)),
        updated_at: Some(timestamp(stored.created_at)),
    }
}

pub fn session(row: &session::Model, agent: &StoredVersion) -> v1::Session {
    v1::Session {
        id: row.id.clone(),
        agent: Some(agent_version(agent)),
        environment_id: row.environment_id.clone(),
        deployment_run_id: row.deployment_run_id.clone(),
        status: row.status.to_proto(),
        created_at: Some(timestamp(row.created_at)),
    }
}

pub fn event(row: &session_event::Model) -> v1::SessionEvent {
    v1::SessionEvent {
        id: row.id.clone(),
        r#type: row.kind.to_proto(),
        session_id: row.session_id.clone(),
        turn_id: row.turn_id.clone(),
        schema_version: SCHEMA_VERSION.to_string(),
        created_at: Some(timestamp(row.created_at)),
        processed_at: Some(timestamp(row.processed_at)),
        fields: Some(json_value::object_to_struct(row.fields.0.clone())),
    }
}

/// A webhook endpoint at `now`; `secret` only in the answers that show it.
pub fn webhook_endpoint(
    row: &webhook_endpoint::Model,
    secret: Option<&str>,
    now: i64,
) -> v1::WebhookEndpoint {
    v1::WebhookEndpoint {
        id: row.id.clone(),
        url: row.url.clone(),
        description: row.description.clone(),
        event_types: row.event_types.iter().map(|t| t.to_proto()).collect(),
        enabled: row.enabled,
        disabled_reason: row.disabled_reason.map(|r| r.to_proto()),
        failing_since: row.failing_since.map(timestamp),
        signing_secret: secret.map(str::to_string),
        // Only while the previous secret still signs.
        previous_secret_expires_at: row
            .previous_secret_expires_at
            .filter(|until| row.previous_secret.is_some() && *until > now)
            .map(timestamp),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

/// A delivery and its attempts.
pub fn webhook_delivery(
    row: &webhook_delivery::Model,
    attempts: &[webhook_attempt::Model],
) -> v1::WebhookDelivery {
    v1::WebhookDelivery {
        id: row.id.clone(),
        endpoint_id: row.endpoint_id.clone(),
        event_id: row.event_id.clone(),
        event_type: row.event_type.to_proto(),
        status: row.status.to_proto(),
        attempts: attempts
            .iter()
            .map(|a| v1::WebhookAttempt {
                attempted_at: Some(timestamp(a.attempted_at)),
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                response_body: a.response_body.clone(),
                error: a.error.clone(),
            })
            .collect(),
        next_attempt_at: row.next_attempt_at.map(timestamp),
        redelivery_of: row.redelivery_of.clone(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}
