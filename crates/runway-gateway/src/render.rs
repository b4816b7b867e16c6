//! Proto messages → the documented JSON objects, as typed structs (so the
//! OpenAPI document is generated from the very types that are served).
//!
//! Fields are declared in alphabetical order, as the documented examples
//! print them. Nullable fields are `Option` and serialize as `null`;
//! "present when …" fields are skipped when absent.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat};
use prost_types::Timestamp;
use runway_api::json_value;
use runway_api::v1;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// RFC 3339, UTC, `Z`, nanoseconds: `2026-06-14T08:58:17.133340942Z`.
pub fn timestamp(ts: &Timestamp) -> String {
    DateTime::from_timestamp(ts.seconds, ts.nanos.clamp(0, 999_999_999) as u32)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_default()
}

fn ts(t: Option<&Timestamp>) -> Option<String> {
    t.map(timestamp)
}

fn ts_or_empty(t: Option<&Timestamp>) -> String {
    ts(t).unwrap_or_default()
}

fn objects(items: &[prost_types::Struct]) -> Vec<Map<String, Value>> {
    items.iter().map(json_value::struct_to_object).collect()
}

/// `{"id","type":"agent","version"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentRefJson {
    #[schema(example = "agent_019ebb21ef8e7df6a559052c94875160")]
    pub id: String,
    /// Always `agent`.
    #[serde(rename = "type")]
    #[schema(example = "agent")]
    pub kind: &'static str,
    pub version: i32,
}

fn agent_ref(a: Option<&v1::AgentRef>) -> AgentRefJson {
    let a = a.cloned().unwrap_or_default();
    AgentRefJson {
        id: a.id,
        kind: "agent",
        version: a.version,
    }
}

/// A page of a list, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    pub data: Vec<T>,
    pub first_id: Option<String>,
    pub has_more: bool,
    pub last_id: Option<String>,
    /// Pass as `page` to read the next page; null without more.
    pub next_page: Option<String>,
}

pub fn list<T: ToSchema>(data: Vec<T>, info: Option<&v1::PageInfo>) -> List<T> {
    let info = info.cloned().unwrap_or_default();
    List {
        data,
        first_id: info.first_id,
        has_more: info.has_more,
        last_id: info.last_id,
        next_page: info.next_page,
    }
}

/// An agent at its latest version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentJson {
    pub archived_at: Option<String>,
    pub created_at: String,
    pub description: Option<String>,
    pub id: String,
    pub instructions: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub model: String,
    pub name: String,
    pub system: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<Map<String, Value>>,
    /// Always `agent`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub updated_at: String,
    pub version: i32,
}

pub fn agent(a: &v1::Agent) -> AgentJson {
    AgentJson {
        archived_at: ts(a.archived_at.as_ref()),
        created_at: ts_or_empty(a.created_at.as_ref()),
        description: a.description.clone(),
        id: a.id.clone(),
        instructions: a.instructions.clone(),
        metadata: a.metadata.clone(),
        model: a.model.clone(),
        name: a.name.clone(),
        system: a.system.clone(),
        tools: objects(&a.tools),
        kind: "agent",
        updated_at: ts_or_empty(a.updated_at.as_ref()),
        version: a.version,
    }
}

/// An environment: the pool of runners that execute its runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnvironmentJson {
    pub created_at: String,
    pub description: Option<String>,
    pub id: String,
    pub name: String,
    /// `ready` or `archived`.
    pub status: &'static str,
    /// Always `environment`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub updated_at: String,
}

pub fn environment(e: &v1::Environment) -> EnvironmentJson {
    let status = match v1::EnvironmentStatus::try_from(e.status) {
        Ok(v1::EnvironmentStatus::Archived) => "archived",
        _ => "ready",
    };
    EnvironmentJson {
        created_at: ts_or_empty(e.created_at.as_ref()),
        description: e.description.clone(),
        id: e.id.clone(),
        name: e.name.clone(),
        status,
        kind: "environment",
        updated_at: ts_or_empty(e.updated_at.as_ref()),
    }
}

pub fn initial_event_type_name(t: i32) -> &'static str {
    match v1::InitialEventType::try_from(t) {
        Ok(v1::InitialEventType::UserMessage) => "user.message",
        Ok(v1::InitialEventType::UserDefineOutcome) => "user.define_outcome",
        Ok(v1::InitialEventType::SystemMessage) => "system.message",
        _ => "unspecified",
    }
}

/// An event every run starts with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InitialEventJson {
    /// A string, or a list of content blocks.
    #[schema(value_type = Object)]
    pub content: Value,
    /// `user.message`, `user.define_outcome` or `system.message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// When a deployment fires by itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleJson {
    pub expression: String,
    /// Present after the first scheduled run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<String>,
    pub timezone: String,
    /// Always `cron`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The next 5 fire times (UTC); empty while paused or archived.
    pub upcoming_runs_at: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PausedReasonJson {
    /// Always `manual`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConfigJson {
    pub max_concurrent: i32,
    pub max_retries: i32,
    pub timeout_ms: i64,
}

/// Read-only counters.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsJson {
    pub consecutive_failures: i64,
    pub last_triggered_at: Option<String>,
    pub next_trigger_at: Option<String>,
    pub total_failures: i64,
    pub total_runs: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CasConfigJson {
    pub config: ConfigJson,
    /// Always `new_session`.
    pub session_strategy: &'static str,
    pub stats: StatsJson,
}

/// User keys (string values) beside the reserved `cas_config`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentMetadataJson {
    pub cas_config: CasConfigJson,
    #[serde(flatten)]
    pub user: BTreeMap<String, String>,
}

/// A deployment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentJson {
    pub agent: AgentRefJson,
    pub archived_at: Option<String>,
    pub created_at: String,
    pub description: Option<String>,
    pub environment_id: String,
    pub id: String,
    pub initial_events: Vec<InitialEventJson>,
    pub metadata: DeploymentMetadataJson,
    pub name: String,
    pub paused_reason: Option<PausedReasonJson>,
    #[schema(value_type = Vec<Object>)]
    pub resources: Vec<Map<String, Value>>,
    pub schedule: Option<ScheduleJson>,
    /// `active` or `paused`.
    pub status: &'static str,
    /// Always `deployment`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub updated_at: String,
    pub vault_ids: Vec<String>,
}

pub fn deployment_status_name(s: i32) -> &'static str {
    match v1::DeploymentStatus::try_from(s) {
        Ok(v1::DeploymentStatus::Paused) => "paused",
        _ => "active",
    }
}

pub fn deployment(d: &v1::Deployment) -> DeploymentJson {
    let status = deployment_status_name(d.status);
    let cas = d.cas_config.unwrap_or_default();
    let config = cas.config.unwrap_or_default();
    let stats = cas.stats.unwrap_or_default();
    DeploymentJson {
        agent: agent_ref(d.agent.as_ref()),
        archived_at: ts(d.archived_at.as_ref()),
        created_at: ts_or_empty(d.created_at.as_ref()),
        description: d.description.clone(),
        environment_id: d.environment_id.clone(),
        id: d.id.clone(),
        initial_events: d
            .initial_events
            .iter()
            .map(|e| InitialEventJson {
                content: e
                    .content
                    .as_ref()
                    .map(json_value::from_proto)
                    .unwrap_or(Value::Null),
                kind: initial_event_type_name(e.r#type),
            })
            .collect(),
        metadata: DeploymentMetadataJson {
            cas_config: CasConfigJson {
                config: ConfigJson {
                    max_concurrent: config.max_concurrent,
                    max_retries: config.max_retries,
                    timeout_ms: config.timeout_ms,
                },
                session_strategy: "new_session",
                stats: StatsJson {
                    consecutive_failures: stats.consecutive_failures,
                    last_triggered_at: ts(stats.last_triggered_at.as_ref()),
                    next_trigger_at: ts(stats.next_trigger_at.as_ref()),
                    total_failures: stats.total_failures,
                    total_runs: stats.total_runs,
                },
            },
            user: d.metadata.clone(),
        },
        name: d.name.clone(),
        paused_reason: d
            .paused_reason
            .as_ref()
            .map(|_| PausedReasonJson { kind: "manual" }),
        resources: objects(&d.resources),
        schedule: d.schedule.as_ref().map(|s| ScheduleJson {
            expression: s.expression.clone(),
            last_run_at: ts(s.last_run_at.as_ref()),
            timezone: s.timezone.clone(),
            kind: "cron",
            upcoming_runs_at: s.upcoming_runs_at.iter().map(timestamp).collect(),
        }),
        status,
        kind: "deployment",
        updated_at: ts_or_empty(d.updated_at.as_ref()),
        vault_ids: d.vault_ids.clone(),
    }
}

pub fn run_status_name(s: i32) -> &'static str {
    match v1::DeploymentRunStatus::try_from(s) {
        Ok(v1::DeploymentRunStatus::Pending) => "pending",
        Ok(v1::DeploymentRunStatus::Running) => "running",
        Ok(v1::DeploymentRunStatus::Completed) => "completed",
        Ok(v1::DeploymentRunStatus::Failed) => "failed",
        Ok(v1::DeploymentRunStatus::Skipped) => "skipped",
        _ => "unspecified",
    }
}

pub fn trigger_type_name(t: i32) -> &'static str {
    match v1::TriggerType::try_from(t) {
        Ok(v1::TriggerType::Manual) => "manual",
        Ok(v1::TriggerType::Schedule) => "schedule",
        Ok(v1::TriggerType::Retry) => "retry",
        _ => "unspecified",
    }
}

/// What caused a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TriggerContextJson {
    /// For a retry: the run it retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// `manual`, `schedule` or `retry`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// Why a run failed or was skipped.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunErrorJson {
    pub message: String,
    /// e.g. `concurrency_limit_error`, `timeout_error`, `agent_error`,
    /// `runner_lost_error`, `canceled_error`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CasRunExtrasJson {
    pub attempt: i32,
    /// Present once the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Present once the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
}

/// A deployment run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunJson {
    pub agent: AgentRefJson,
    pub cas_run_extras: CasRunExtrasJson,
    /// Present once terminal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    pub created_at: String,
    pub deployment_id: String,
    /// Present once completed or failed after starting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    pub error: Option<RunErrorJson>,
    pub id: String,
    /// Present once the session is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `pending`, `running`, `completed`, `failed` or `skipped`.
    pub status: &'static str,
    pub trigger_context: TriggerContextJson,
    pub triggered_at: String,
    /// Always `deployment_run`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

pub fn run(r: &v1::DeploymentRun) -> RunJson {
    let context = r.trigger_context.clone().unwrap_or_default();
    let extras = r.cas_run_extras.clone().unwrap_or_default();
    RunJson {
        agent: agent_ref(r.agent.as_ref()),
        cas_run_extras: CasRunExtrasJson {
            attempt: extras.attempt,
            started_at: ts(extras.started_at.as_ref()),
            turn_id: extras.turn_id,
        },
        completed_at: ts(r.completed_at.as_ref()),
        created_at: ts_or_empty(r.created_at.as_ref()),
        deployment_id: r.deployment_id.clone(),
        duration_ms: r.duration_ms,
        error: r.error.as_ref().map(|e| RunErrorJson {
            message: e.message.clone(),
            kind: e.r#type.clone(),
        }),
        id: r.id.clone(),
        session_id: r.session_id.clone(),
        status: run_status_name(r.status),
        trigger_context: TriggerContextJson {
            retry_of: context.retry_of,
            kind: trigger_type_name(context.r#type),
        },
        triggered_at: ts_or_empty(r.triggered_at.as_ref()),
        kind: "deployment_run",
    }
}

/// The session a started run executes in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionJson {
    /// The agent version the session runs.
    pub agent: Option<AgentJson>,
    pub created_at: String,
    pub deployment_run_id: String,
    pub environment_id: String,
    pub id: String,
    /// `running`, `completed` or `failed`.
    pub status: &'static str,
    /// Always `session`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

pub fn session(s: &v1::Session) -> SessionJson {
    let status = match v1::SessionStatus::try_from(s.status) {
        Ok(v1::SessionStatus::Completed) => "completed",
        Ok(v1::SessionStatus::Failed) => "failed",
        _ => "running",
    };
    SessionJson {
        agent: s.agent.as_ref().map(agent),
        created_at: ts_or_empty(s.created_at.as_ref()),
        deployment_run_id: s.deployment_run_id.clone(),
        environment_id: s.environment_id.clone(),
        id: s.id.clone(),
        status,
        kind: "session",
    }
}
