//! Deployments as the REST API renders them: schedule, configuration,
//! counters, and the event every run starts with.

use std::collections::BTreeMap;

use runway_api::enums::{
    DeploymentStatus, InitialEventType, PausedReasonType, ScheduleType, SessionStrategy,
};
use runway_api::json_value;
use runway_api::v1;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::{
    AgentRefJson, DeploymentTag, RetentionRulesJson, Timestamp3339, agent_ref, member, objects,
    retention_rules, timestamp, ts, ts_or_empty,
};

/// A content block: an object with a `type` (e.g. `{"type":"text","text":"…"}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ContentBlock)]
pub struct ContentBlockJson {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    #[schema(inline)]
    pub rest: BTreeMap<String, Value>,
}

/// An event's content: a non-empty string, or a non-empty list of content blocks.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = EventContent)]
pub enum EventContentJson {
    Text(String),
    Blocks(Vec<ContentBlockJson>),
}

impl From<Value> for EventContentJson {
    fn from(value: Value) -> Self {
        match value {
            Value::String(text) => EventContentJson::Text(text),
            Value::Array(items) => EventContentJson::Blocks(
                items
                    .into_iter()
                    .map(|item| {
                        let mut rest: BTreeMap<String, Value> = match item {
                            Value::Object(map) => map.into_iter().collect(),
                            _ => BTreeMap::new(),
                        };
                        let kind = match rest.remove("type") {
                            Some(Value::String(kind)) => kind,
                            _ => String::new(),
                        };
                        ContentBlockJson { kind, rest }
                    })
                    .collect(),
            ),
            other => EventContentJson::Text(other.to_string()),
        }
    }
}

/// An event every run starts with.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = InitialEvent)]
pub struct InitialEventJson {
    pub content: EventContentJson,
    #[serde(rename = "type")]
    pub kind: InitialEventType,
}

/// When a deployment fires by itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Schedule)]
pub struct ScheduleJson {
    /// A 5-field cron expression.
    pub expression: String,
    /// Present after the first scheduled run.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub last_run_at: Option<String>,
    /// The IANA time zone the expression is evaluated in.
    pub timezone: String,
    #[serde(rename = "type")]
    pub kind: ScheduleType,
    /// The next 5 fire times (UTC); empty while paused or archived.
    #[schema(max_items = 5)]
    pub upcoming_runs_at: Vec<Timestamp3339>,
}

/// Why a deployment is paused.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PausedReason)]
pub struct PausedReasonJson {
    #[serde(rename = "type")]
    pub kind: PausedReasonType,
}

/// Limits applied to every run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DeploymentConfig)]
pub struct ConfigJson {
    #[schema(minimum = 1, maximum = 100)]
    pub max_concurrent: i32,
    /// Failed runs in a row after which the service pauses the deployment
    /// (`paused_reason` `consecutive_failures`); `null`: never.
    #[schema(required = true, minimum = 1, maximum = 1000)]
    pub max_consecutive_failures: Option<i32>,
    #[schema(minimum = 0, maximum = 10)]
    pub max_retries: i32,
    #[schema(minimum = 1000, maximum = 86400000)]
    pub timeout_ms: i64,
}

/// Read-only counters.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DeploymentStats)]
pub struct StatsJson {
    #[schema(minimum = 0)]
    pub consecutive_failures: i64,
    #[schema(required = true, format = DateTime)]
    pub last_triggered_at: Option<String>,
    /// Scheduled instants that passed while no scheduler ran (each gap is
    /// recorded as one skipped run, `schedule_missed_error`).
    #[schema(minimum = 0)]
    pub missed_fires: i64,
    #[schema(required = true, format = DateTime)]
    pub next_trigger_at: Option<String>,
    #[schema(minimum = 0)]
    pub total_failures: i64,
    #[schema(minimum = 0)]
    pub total_runs: i64,
}

/// The reserved `metadata.cas_config`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CasConfig)]
pub struct CasConfigJson {
    pub config: ConfigJson,
    /// The deployment's own retention rules; `null`: its organization's
    /// policy (`GET /retention`).
    #[schema(required = true)]
    pub retention: Option<RetentionRulesJson>,
    pub session_strategy: SessionStrategy,
    pub stats: StatsJson,
}

/// User keys (string values) beside the reserved `cas_config`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DeploymentMetadata)]
pub struct DeploymentMetadataJson {
    pub cas_config: CasConfigJson,
    #[serde(flatten)]
    #[schema(inline)]
    pub user: BTreeMap<String, String>,
}

/// A deployment.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Deployment)]
pub struct DeploymentJson {
    pub agent: AgentRefJson,
    #[schema(required = true, format = DateTime)]
    pub archived_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(pattern = "^env_[0-9a-f]{32}$")]
    pub environment_id: String,
    #[schema(pattern = "^dep_[0-9a-f]{32}$")]
    pub id: String,
    #[schema(min_items = 1, max_items = 50)]
    pub initial_events: Vec<InitialEventJson>,
    pub metadata: DeploymentMetadataJson,
    #[schema(min_length = 1)]
    pub name: String,
    #[schema(required = true)]
    pub paused_reason: Option<PausedReasonJson>,
    #[schema(schema_with = crate::typed_objects)]
    pub resources: Vec<Map<String, Value>>,
    #[schema(required = true)]
    pub schedule: Option<ScheduleJson>,
    pub status: DeploymentStatus,
    #[serde(rename = "type")]
    pub kind: DeploymentTag,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(max_items = 50)]
    pub vault_ids: Vec<String>,
}

pub fn initial_event(e: &v1::InitialEvent) -> InitialEventJson {
    InitialEventJson {
        content: e
            .content
            .as_ref()
            .map(json_value::from_proto)
            .unwrap_or(Value::Null)
            .into(),
        kind: member(
            e.r#type,
            InitialEventType::from_proto,
            InitialEventType::ALL,
        ),
    }
}

pub fn deployment(d: &v1::Deployment) -> DeploymentJson {
    let status = member(
        d.status,
        DeploymentStatus::from_proto,
        DeploymentStatus::ALL,
    );
    let cas = d.cas_config.unwrap_or_default();
    let config = cas.config.unwrap_or_default();
    let stats = cas.stats.unwrap_or_default();
    DeploymentJson {
        agent: agent_ref(d.agent.clone()),
        archived_at: ts(d.archived_at.as_ref()),
        created_at: ts_or_empty(d.created_at.as_ref()),
        description: d.description.clone(),
        environment_id: d.environment_id.clone(),
        id: d.id.clone(),
        initial_events: d.initial_events.iter().map(initial_event).collect(),
        metadata: DeploymentMetadataJson {
            cas_config: CasConfigJson {
                config: ConfigJson {
                    max_concurrent: config.max_concurrent,
                    max_consecutive_failures: config.max_consecutive_failures,
                    max_retries: config.max_retries,
                    timeout_ms: config.timeout_ms,
                },
                retention: cas.retention.as_ref().map(retention_rules),
                session_strategy: member(
                    cas.session_strategy,
                    SessionStrategy::from_proto,
                    SessionStrategy::ALL,
                ),
                stats: StatsJson {
                    consecutive_failures: stats.consecutive_failures,
                    last_triggered_at: ts(stats.last_triggered_at.as_ref()),
                    missed_fires: stats.missed_fires,
                    next_trigger_at: ts(stats.next_trigger_at.as_ref()),
                    total_failures: stats.total_failures,
                    total_runs: stats.total_runs,
                },
            },
            user: d.metadata.clone(),
        },
        name: d.name.clone(),
        paused_reason: d.paused_reason.as_ref().map(|reason| PausedReasonJson {
            kind: member(
                reason.r#type,
                PausedReasonType::from_proto,
                PausedReasonType::ALL,
            ),
        }),
        resources: objects(&d.resources),
        schedule: d.schedule.as_ref().map(|s| ScheduleJson {
            expression: s.expression.clone(),
            last_run_at: ts(s.last_run_at.as_ref()),
            timezone: s.timezone.clone(),
            kind: member(s.r#type, ScheduleType::from_proto, ScheduleType::ALL),
            upcoming_runs_at: s
                .upcoming_runs_at
                .iter()
                .map(|t| Timestamp3339(timestamp(t)))
                .collect(),
        }),
        status,
        kind: DeploymentTag,
        updated_at: ts_or_empty(d.updated_at.as_ref()),
        vault_ids: d.vault_ids.clone(),
    }
}
