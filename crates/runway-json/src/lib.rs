//! The REST contract's objects (docs/API.md): proto messages rendered as
//! the documented JSON, as typed structs, so the OpenAPI document is
//! generated from the very types that are served. The gateway serves them;
//! the reference runner hands them to agents.
//!
//! Fields are declared in alphabetical order, as the documented examples
//! print them. Nullable fields are `Option`, always present (`required`)
//! and `null` when empty; "present when …" fields are skipped when absent.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat};
use prost_types::Timestamp;
use runway_api::enums::{
    DeploymentStatus, EnvironmentStatus, InitialEventType, PausedReasonType, RunErrorType,
    RunStatus, ScheduleType, SessionStatus, SessionStrategy, TriggerType,
};
use runway_api::json_value;
use runway_api::v1;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

mod events;
mod retention;
mod tag;
mod tokens;
mod webhooks;

pub use events::*;
pub use retention::*;
pub use tag::*;
pub use tokens::*;
pub use webhooks::*;

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

/// The member a proto enum number stands for. The server never sends
/// `…_UNSPECIFIED`; should a newer server send a member this build does not
/// know, the set's first member stands in rather than failing the answer.
fn member<T: Copy>(number: i32, from_proto: fn(i32) -> Option<T>, all: &[T]) -> T {
    from_proto(number).unwrap_or(all[0])
}

/// `{"id","type":"agent","version"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AgentRef)]
pub struct AgentRefJson {
    #[schema(
        pattern = "^agent_[0-9a-f]{32}$",
        example = "agent_019ebb21ef8e7df6a559052c94875160"
    )]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: AgentTag,
    #[schema(minimum = 1)]
    pub version: i32,
}

fn agent_ref(a: Option<v1::AgentRef>) -> AgentRefJson {
    let a = a.unwrap_or_default();
    AgentRefJson {
        id: a.id,
        kind: AgentTag,
        version: a.version,
    }
}

/// A page of a list, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct List<T: ToSchema> {
    pub data: Vec<T>,
    /// The id of the page's first item; null when the page is empty.
    pub first_id: Option<String>,
    pub has_more: bool,
    /// The id of the page's last item; null when the page is empty.
    pub last_id: Option<String>,
    /// Pass as `page` to read the next page; null without more.
    pub next_page: Option<String>,
}

// By hand: utoipa's derive would spell the item type out inside every list
// (a generated client then has a second class per object); this refers to it.
impl<T: ToSchema> utoipa::PartialSchema for List<T> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
        let nullable_string = |description: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("A page of a list, newest first."))
            .property(
                "data",
                ArrayBuilder::new().items(utoipa::openapi::Ref::from_schema_name(T::name())),
            )
            .property(
                "first_id",
                nullable_string("The id of the page's first item; null when the page is empty."),
            )
            .property("has_more", ObjectBuilder::new().schema_type(Type::Boolean))
            .property(
                "last_id",
                nullable_string("The id of the page's last item; null when the page is empty."),
            )
            .property(
                "next_page",
                nullable_string("Pass as `page` to read the next page; null without more."),
            )
            .required("data")
            .required("first_id")
            .required("has_more")
            .required("last_id")
            .required("next_page")
            .into()
    }
}

impl<T: ToSchema> ToSchema for List<T> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("{}List", T::name()).into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
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
#[schema(as = Agent)]
pub struct AgentJson {
    #[schema(required = true, format = DateTime)]
    pub archived_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(pattern = "^agent_[0-9a-f]{32}$")]
    pub id: String,
    #[schema(required = true)]
    pub instructions: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub model: String,
    pub name: String,
    #[schema(required = true)]
    pub system: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<Map<String, Value>>,
    #[serde(rename = "type")]
    pub kind: AgentTag,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(minimum = 1)]
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
        kind: AgentTag,
        updated_at: ts_or_empty(a.updated_at.as_ref()),
        version: a.version,
    }
}

/// An environment: the pool of runners that execute its runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Environment)]
pub struct EnvironmentJson {
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(pattern = "^env_[0-9a-f]{32}$")]
    pub id: String,
    pub name: String,
    pub status: EnvironmentStatus,
    #[serde(rename = "type")]
    pub kind: EnvironmentTag,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

pub fn environment(e: &v1::Environment) -> EnvironmentJson {
    let status = member(
        e.status,
        EnvironmentStatus::from_proto,
        EnvironmentStatus::ALL,
    );
    EnvironmentJson {
        created_at: ts_or_empty(e.created_at.as_ref()),
        description: e.description.clone(),
        id: e.id.clone(),
        name: e.name.clone(),
        status,
        kind: EnvironmentTag,
        updated_at: ts_or_empty(e.updated_at.as_ref()),
    }
}

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
    #[schema(value_type = Vec<Object>)]
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

/// A timestamp: RFC 3339, UTC, `Z`, up to 9 fractional digits.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp3339(pub String);

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
        initial_events: d
            .initial_events
            .iter()
            .map(|e| InitialEventJson {
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
            })
            .collect(),
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

/// What caused a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TriggerContext)]
pub struct TriggerContextJson {
    /// For a retry: the run it retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^drun_[0-9a-f]{32}$")]
    pub retry_of: Option<String>,
    #[serde(rename = "type")]
    pub kind: TriggerType,
}

/// Why a run failed or was skipped.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = RunError)]
pub struct RunErrorJson {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: RunErrorType,
}

/// Run details of runway's execution model.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CasRunExtras)]
pub struct CasRunExtrasJson {
    /// 1 for the first attempt; a retry has its predecessor's + 1.
    #[schema(minimum = 1)]
    pub attempt: i32,
    /// Present once the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub started_at: Option<String>,
    /// Present once the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^turn_[0-9a-f]{32}$")]
    pub turn_id: Option<String>,
    /// The runner that claimed the run, as it named itself; present once
    /// a runner claimed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub runner_name: Option<String>,
}

/// A deployment run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DeploymentRun)]
pub struct RunJson {
    pub agent: AgentRefJson,
    pub cas_run_extras: CasRunExtrasJson,
    /// Present once terminal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(pattern = "^dep_[0-9a-f]{32}$")]
    pub deployment_id: String,
    /// Present once completed or failed after starting.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0)]
    pub duration_ms: Option<i64>,
    /// Why the run failed or was skipped; null otherwise.
    #[schema(required = true)]
    pub error: Option<RunErrorJson>,
    #[schema(pattern = "^drun_[0-9a-f]{32}$")]
    pub id: String,
    /// Present once the session is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^sess_[0-9a-f]{32}$")]
    pub session_id: Option<String>,
    pub status: RunStatus,
    pub trigger_context: TriggerContextJson,
    #[schema(format = DateTime)]
    pub triggered_at: String,
    #[serde(rename = "type")]
    pub kind: DeploymentRunTag,
}

pub fn run(r: v1::DeploymentRun) -> RunJson {
    // Taken by value: a page's strings move into the JSON shape uncopied.
    let context = r.trigger_context.unwrap_or_default();
    let extras = r.cas_run_extras.unwrap_or_default();
    RunJson {
        agent: agent_ref(r.agent),
        cas_run_extras: CasRunExtrasJson {
            attempt: extras.attempt,
            started_at: ts(extras.started_at.as_ref()),
            turn_id: extras.turn_id,
            runner_name: extras.runner_name,
        },
        completed_at: ts(r.completed_at.as_ref()),
        created_at: ts_or_empty(r.created_at.as_ref()),
        deployment_id: r.deployment_id,
        duration_ms: r.duration_ms,
        error: r.error.map(|e| RunErrorJson {
            kind: RunErrorType::from_name(&e.r#type).unwrap_or(RunErrorType::ALL[0]),
            message: e.message,
        }),
        id: r.id,
        session_id: r.session_id,
        status: member(r.status, RunStatus::from_proto, RunStatus::ALL),
        trigger_context: TriggerContextJson {
            retry_of: context.retry_of,
            kind: member(context.r#type, TriggerType::from_proto, TriggerType::ALL),
        },
        triggered_at: ts_or_empty(r.triggered_at.as_ref()),
        kind: DeploymentRunTag,
    }
}

/// The session a started run executes in.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionJson {
    /// The agent version the session runs.
    pub agent: AgentJson,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(pattern = "^drun_[0-9a-f]{32}$")]
    pub deployment_run_id: String,
    #[schema(pattern = "^env_[0-9a-f]{32}$")]
    pub environment_id: String,
    #[schema(pattern = "^sess_[0-9a-f]{32}$")]
    pub id: String,
    pub status: SessionStatus,
    #[serde(rename = "type")]
    pub kind: SessionTag,
}

pub fn session(s: &v1::Session) -> SessionJson {
    let status = member(s.status, SessionStatus::from_proto, SessionStatus::ALL);
    SessionJson {
        agent: agent(&s.agent.clone().unwrap_or_default()),
        created_at: ts_or_empty(s.created_at.as_ref()),
        deployment_run_id: s.deployment_run_id.clone(),
        environment_id: s.environment_id.clone(),
        id: s.id.clone(),
        status,
        kind: SessionTag,
    }
}

/// A page of deployments.
pub type DeploymentList = List<DeploymentJson>;
/// A page of runs.
pub type RunList = List<RunJson>;
/// A page of agents.
pub type AgentList = List<AgentJson>;
/// A page of environments.
pub type EnvironmentList = List<EnvironmentJson>;
/// A page of tokens.
pub type TokenList = List<TokenJson>;
/// A page of webhook endpoints.
pub type WebhookEndpointList = List<WebhookEndpointJson>;
/// A page of webhook deliveries.
pub type WebhookDeliveryList = List<WebhookDeliveryJson>;
