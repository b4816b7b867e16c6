//! Proto messages → the documented JSON shapes. Keys come out sorted (as
//! in the documented examples); nullable fields are present with `null`,
//! "present when…" fields are omitted otherwise.

use chrono::{DateTime, SecondsFormat};
use prost_types::Timestamp;
use runway_api::json_value;
use runway_api::v1::*;
use serde_json::{Map, Value, json};

/// RFC 3339, UTC, `Z`, nanoseconds: `2026-06-14T08:58:17.133340942Z`.
pub fn timestamp(ts: &Timestamp) -> Value {
    DateTime::from_timestamp(ts.seconds, ts.nanos.clamp(0, 999_999_999) as u32)
        .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Nanos, true)))
        .unwrap_or(Value::Null)
}

fn opt_timestamp(ts: Option<&Timestamp>) -> Value {
    ts.map(timestamp).unwrap_or(Value::Null)
}

fn agent_ref(agent: Option<&AgentRef>) -> Value {
    match agent {
        Some(a) => json!({"id": a.id, "type": "agent", "version": a.version}),
        None => Value::Null,
    }
}

fn structs(items: &[prost_types::Struct]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|s| Value::Object(json_value::struct_to_object(s)))
            .collect(),
    )
}

/// A page of items as `{"data", "first_id", "last_id", "has_more", "next_page"}`.
pub fn list(data: Vec<Value>, info: Option<&PageInfo>) -> Value {
    let info = info.cloned().unwrap_or_default();
    json!({
        "data": data,
        "first_id": info.first_id,
        "last_id": info.last_id,
        "has_more": info.has_more,
        "next_page": info.next_page,
    })
}

pub fn agent(a: &Agent) -> Value {
    json!({
        "type": "agent",
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "model": a.model,
        "system": a.system,
        "instructions": a.instructions,
        "tools": structs(&a.tools),
        "metadata": a.metadata,
        "version": a.version,
        "archived_at": opt_timestamp(a.archived_at.as_ref()),
        "created_at": opt_timestamp(a.created_at.as_ref()),
        "updated_at": opt_timestamp(a.updated_at.as_ref()),
    })
}

pub fn environment(e: &Environment) -> Value {
    let status = match EnvironmentStatus::try_from(e.status) {
        Ok(EnvironmentStatus::Archived) => "archived",
        _ => "ready",
    };
    json!({
        "type": "environment",
        "id": e.id,
        "name": e.name,
        "description": e.description,
        "status": status,
        "created_at": opt_timestamp(e.created_at.as_ref()),
        "updated_at": opt_timestamp(e.updated_at.as_ref()),
    })
}

pub fn initial_event_type_name(t: i32) -> &'static str {
    match InitialEventType::try_from(t) {
        Ok(InitialEventType::UserMessage) => "user.message",
        Ok(InitialEventType::UserDefineOutcome) => "user.define_outcome",
        Ok(InitialEventType::SystemMessage) => "system.message",
        _ => "unspecified",
    }
}

pub fn deployment(d: &Deployment) -> Value {
    let schedule = match &d.schedule {
        None => Value::Null,
        Some(s) => {
            let mut out = json!({
                "type": "cron",
                "expression": s.expression,
                "timezone": s.timezone,
                "upcoming_runs_at": s.upcoming_runs_at.iter().map(timestamp).collect::<Vec<_>>(),
            });
            if let Some(last) = &s.last_run_at {
                out["last_run_at"] = timestamp(last);
            }
            out
        }
    };
    let status = match DeploymentStatus::try_from(d.status) {
        Ok(DeploymentStatus::Paused) => "paused",
        _ => "active",
    };
    let cas = d.cas_config.unwrap_or_default();
    let config = cas.config.unwrap_or_default();
    let stats = cas.stats.unwrap_or_default();
    let mut metadata: Map<String, Value> = d
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    metadata.insert(
        "cas_config".to_string(),
        json!({
            "config": {
                "max_concurrent": config.max_concurrent,
                "max_retries": config.max_retries,
                "timeout_ms": config.timeout_ms,
            },
            "session_strategy": "new_session",
            "stats": {
                "consecutive_failures": stats.consecutive_failures,
                "total_failures": stats.total_failures,
                "total_runs": stats.total_runs,
                "last_triggered_at": opt_timestamp(stats.last_triggered_at.as_ref()),
                "next_trigger_at": opt_timestamp(stats.next_trigger_at.as_ref()),
            },
        }),
    );
    json!({
        "type": "deployment",
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "agent": agent_ref(d.agent.as_ref()),
        "environment_id": d.environment_id,
        "initial_events": d.initial_events.iter().map(|e| json!({
            "type": initial_event_type_name(e.r#type),
            "content": e.content.as_ref().map(json_value::from_proto).unwrap_or(Value::Null),
        })).collect::<Vec<_>>(),
        "schedule": schedule,
        "status": status,
        "paused_reason": d.paused_reason.as_ref().map(|_| json!({"type": "manual"})),
        "archived_at": opt_timestamp(d.archived_at.as_ref()),
        "resources": structs(&d.resources),
        "vault_ids": d.vault_ids,
        "metadata": metadata,
        "created_at": opt_timestamp(d.created_at.as_ref()),
        "updated_at": opt_timestamp(d.updated_at.as_ref()),
    })
}

pub fn run_status_name(s: i32) -> &'static str {
    match DeploymentRunStatus::try_from(s) {
        Ok(DeploymentRunStatus::Pending) => "pending",
        Ok(DeploymentRunStatus::Running) => "running",
        Ok(DeploymentRunStatus::Completed) => "completed",
        Ok(DeploymentRunStatus::Failed) => "failed",
        Ok(DeploymentRunStatus::Skipped) => "skipped",
        _ => "unspecified",
    }
}

pub fn trigger_type_name(t: i32) -> &'static str {
    match TriggerType::try_from(t) {
        Ok(TriggerType::Manual) => "manual",
        Ok(TriggerType::Schedule) => "schedule",
        Ok(TriggerType::Retry) => "retry",
        _ => "unspecified",
    }
}

pub fn run(r: &DeploymentRun) -> Value {
    let context = r.trigger_context.clone().unwrap_or_default();
    let mut trigger = json!({"type": trigger_type_name(context.r#type)});
    if let Some(retry_of) = &context.retry_of {
        trigger["retry_of"] = json!(retry_of);
    }
    let extras = r.cas_run_extras.clone().unwrap_or_default();
    let mut cas_run_extras = json!({"attempt": extras.attempt});
    if let Some(turn_id) = &extras.turn_id {
        cas_run_extras["turn_id"] = json!(turn_id);
    }
    if let Some(started_at) = &extras.started_at {
        cas_run_extras["started_at"] = timestamp(started_at);
    }
    let mut out = json!({
        "type": "deployment_run",
        "id": r.id,
        "deployment_id": r.deployment_id,
        "agent": agent_ref(r.agent.as_ref()),
        "status": run_status_name(r.status),
        "error": r.error.as_ref().map(|e| json!({"type": e.r#type, "message": e.message})),
        "trigger_context": trigger,
        "cas_run_extras": cas_run_extras,
        "triggered_at": opt_timestamp(r.triggered_at.as_ref()),
        "created_at": opt_timestamp(r.created_at.as_ref()),
    });
    if let Some(session_id) = &r.session_id {
        out["session_id"] = json!(session_id);
    }
    if let Some(completed_at) = &r.completed_at {
        out["completed_at"] = timestamp(completed_at);
    }
    if let Some(duration_ms) = r.duration_ms {
        out["duration_ms"] = json!(duration_ms);
    }
    out
}

pub fn session(s: &Session) -> Value {
    let status = match SessionStatus::try_from(s.status) {
        Ok(SessionStatus::Completed) => "completed",
        Ok(SessionStatus::Failed) => "failed",
        _ => "running",
    };
    json!({
        "type": "session",
        "id": s.id,
        "agent": s.agent.as_ref().map(agent).unwrap_or(Value::Null),
        "environment_id": s.environment_id,
        "deployment_run_id": s.deployment_run_id,
        "status": status,
        "created_at": opt_timestamp(s.created_at.as_ref()),
    })
}
