//! The JSON bodies that create and update a deployment, and how each part
//! becomes the proto the service takes.

use runway_api::enums::{InitialEventType, ScheduleType, SessionStrategy};
use runway_api::json_value;
use runway_api::v1::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::body::{
    from_value_at, nullable, nullable_whole, optional_whole, present, present_whole, whole_number,
};
use crate::error::ApiError;

// Nested objects are read as JSON maps first and typed in a second step
// (`from_value_at`): a map refuses an array, where a struct would take one
// positionally, and the second step still names the whole field path.

/// The body of `POST /deployments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateDeploymentBody)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = crate::schemas::Name, required = true)]
    pub(super) name: Option<String>,
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    pub(super) description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = AgentInputSchema, required = true)]
    pub(super) agent: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = true, pattern = "^env_[0-9a-f]{32}$")]
    pub(super) environment_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<InitialEventBody>, required = true, min_items = 1, max_items = 50)]
    pub(super) initial_events: Option<Vec<Map<String, Value>>>,
    /// A schedule, or `null` (or absent) for a manual-only deployment.
    #[schema(value_type = Option<ScheduleBody>)]
    pub(super) schedule: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::TypedObjects>, nullable = false)]
    pub(super) resources: Option<Vec<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::VaultIds>, nullable = false)]
    pub(super) vault_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::DeploymentMetadataInput>, nullable = false)]
    pub(super) metadata: Option<Map<String, Value>>,
}

/// `"agent_…"` (the agent's latest version, pinned now) or a version.
#[derive(ToSchema, serde::Serialize)]
#[serde(untagged)]
#[allow(dead_code)]
#[schema(as = AgentInput)]
enum AgentInputSchema {
    /// An agent id (`agent_` + 32 lowercase hex).
    Latest(String),
    Version(AgentVersionInput),
}

/// `{"id","type":"agent","version"}`; without `version`, the latest.
#[derive(ToSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AgentVersionInput {
    #[schema(pattern = "^agent_[0-9a-f]{32}$")]
    pub(super) id: String,
    #[serde(rename = "type")]
    #[schema(nullable = false)]
    pub(super) kind: Option<runway_json::AgentTag>,
    #[schema(nullable = false, minimum = 1, maximum = 2147483647)]
    pub(super) version: Option<i32>,
}

/// The body of `POST /deployments/{id}`: every field optional; `metadata` is a merge-patch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateDeploymentBody)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::Name>, nullable = false)]
    pub(super) name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    pub(super) description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<AgentInputSchema>, nullable = false)]
    pub(super) agent: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, pattern = "^env_[0-9a-f]{32}$")]
    pub(super) environment_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<InitialEventBody>>, nullable = false, min_items = 1, max_items = 50)]
    pub(super) initial_events: Option<Vec<Map<String, Value>>>,
    /// A whole schedule, or `null` to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ScheduleBody>)]
    pub(super) schedule: Option<Option<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::TypedObjects>, nullable = false)]
    pub(super) resources: Option<Vec<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::VaultIds>, nullable = false)]
    pub(super) vault_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::DeploymentMetadataPatch>, nullable = false)]
    pub(super) metadata: Option<Map<String, Value>>,
}

/// An event every run starts with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = InitialEventInput)]
pub struct InitialEventBody {
    #[serde(rename = "type")]
    pub(super) kind: InitialEventType,
    #[schema(value_type = crate::schemas::EventContentInput)]
    pub(super) content: Value,
}

/// A schedule: a 5-field cron expression in an IANA time zone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScheduleInput)]
pub struct ScheduleBody {
    /// `cron` (the default).
    #[serde(rename = "type", default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub(super) kind: Option<ScheduleType>,
    /// Minute, hour, day of month, month, day of week (e.g. `0 9 * * *`).
    #[schema(min_length = 1)]
    pub(super) expression: String,
    /// An IANA time zone; `UTC` by default.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub(super) timezone: Option<String>,
}

/// The reserved `metadata.cas_config` object; `stats` is read-only.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CasConfigInput)]
pub struct CasConfigBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ConfigBody>, nullable = false)]
    pub(super) config: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub(super) session_strategy: Option<SessionStrategy>,
    /// The deployment's own retention rules (all of them: an absent or
    /// `null` field is no limit), or `null` for its organization's policy.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RetentionRulesBody>)]
    pub(super) retention: Option<Option<Map<String, Value>>>,
}

/// A deployment's own retention rules; `null` or absent: no such limit.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RetentionRulesInput)]
pub struct RetentionRulesBody {
    #[serde(default, deserialize_with = "optional_whole")]
    #[schema(minimum = 1, maximum = 36500)]
    pub(super) keep_days: Option<i32>,
    #[serde(default, deserialize_with = "optional_whole")]
    #[schema(minimum = 1, maximum = 36500)]
    pub(super) keep_failed_days: Option<i32>,
    #[serde(default, deserialize_with = "optional_whole")]
    #[schema(minimum = 1, maximum = 100000000)]
    pub(super) max_runs: Option<i64>,
}

/// Run limits; each absent one keeps its value (its default on create).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeploymentConfigInput)]
pub struct ConfigBody {
    /// Default 1.
    #[serde(default, deserialize_with = "present_whole")]
    #[schema(nullable = false, minimum = 1, maximum = 100)]
    pub(super) max_concurrent: Option<i32>,
    /// Default 0.
    #[serde(default, deserialize_with = "present_whole")]
    #[schema(nullable = false, minimum = 0, maximum = 10)]
    pub(super) max_retries: Option<i32>,
    /// Default 300000.
    #[serde(default, deserialize_with = "present_whole")]
    #[schema(nullable = false, minimum = 1000, maximum = 86400000)]
    pub(super) timeout_ms: Option<i64>,
    /// Failed runs in a row after which the service pauses the deployment;
    /// `null` (the default): never.
    #[serde(default, deserialize_with = "nullable_whole")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 1000)]
    pub(super) max_consecutive_failures: Option<Option<i32>>,
}

impl CasConfigBody {
    pub(super) fn config(&self) -> Result<ConfigBody, ApiError> {
        match &self.config {
            None => Ok(ConfigBody::default()),
            Some(map) => from_value_at(Value::Object(map.clone()), "metadata.cas_config.config"),
        }
    }

    /// `None`: not given; `Some(None)`: the organization's policy.
    pub(super) fn retention(&self) -> Result<Option<Option<RetentionRules>>, ApiError> {
        let Some(given) = &self.retention else {
            return Ok(None);
        };
        let Some(map) = given else {
            return Ok(Some(None));
        };
        let body: RetentionRulesBody =
            from_value_at(Value::Object(map.clone()), "metadata.cas_config.retention")?;
        Ok(Some(Some(RetentionRules {
            keep_days: body.keep_days,
            keep_failed_days: body.keep_failed_days,
            max_runs: body.max_runs,
        })))
    }
}

/// `"agent_…"` (its latest version) or `{"id","type":"agent","version"}`.
pub(super) fn agent_ref(value: Value) -> Result<AgentRef, ApiError> {
    let bad = |param: &str, msg: &str| ApiError::invalid(Some(param.to_string()), msg);
    match value {
        Value::String(id) => Ok(AgentRef { id, version: 0 }),
        Value::Object(mut map) => {
            let id = match map.remove("id") {
                Some(Value::String(id)) => id,
                _ => return Err(bad("agent.id", "agent.id must be an agent id string")),
            };
            match map.remove("type") {
                None => {}
                Some(Value::String(t)) if t == "agent" => {}
                Some(_) => return Err(bad("agent.type", "agent.type must be \"agent\"")),
            }
            let version = match map.remove("version") {
                None => 0,
                Some(Value::Number(n)) => {
                    match whole_number(&n).and_then(|v| i32::try_from(v).ok()) {
                        Some(v) if v >= 1 => v,
                        _ => {
                            return Err(bad(
                                "agent.version",
                                "agent.version must be an integer from 1 to 2147483647",
                            ));
                        }
                    }
                }
                Some(_) => {
                    return Err(bad(
                        "agent.version",
                        "agent.version must be an integer from 1 to 2147483647",
                    ));
                }
            };
            if let Some(key) = map.keys().next() {
                return Err(bad(
                    &format!("agent.{key}"),
                    &format!("unknown field `{key}`"),
                ));
            }
            Ok(AgentRef { id, version })
        }
        _ => Err(bad(
            "agent",
            "agent must be an agent id or {\"id\": …, \"type\": \"agent\", \"version\": …}",
        )),
    }
}

pub(super) fn initial_events(
    events: Vec<Map<String, Value>>,
) -> Result<Vec<InitialEvent>, ApiError> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let e: InitialEventBody =
                from_value_at(Value::Object(e), &format!("initial_events[{i}]"))?;
            Ok(InitialEvent {
                r#type: e.kind.to_proto(),
                content: Some(json_value::to_proto(e.content)),
            })
        })
        .collect()
}

pub(super) fn schedule(s: Map<String, Value>) -> Result<Schedule, ApiError> {
    let s: ScheduleBody = from_value_at(Value::Object(s), "schedule")?;
    Ok(Schedule {
        r#type: s.kind.unwrap_or(ScheduleType::Cron).to_proto(),
        expression: s.expression,
        timezone: s
            .timezone
            .unwrap_or_else(|| runway_api::DEFAULT_TIMEZONE.to_string()),
        last_run_at: None,
        upcoming_runs_at: Vec::new(),
    })
}

/// Splits REST `metadata` into the user's keys and the reserved `cas_config`.
pub(super) fn split_metadata(
    mut metadata: Map<String, Value>,
) -> Result<(Map<String, Value>, Option<CasConfigBody>), ApiError> {
    let cas = match metadata.remove("cas_config") {
        None => None,
        Some(Value::Null) => {
            return Err(ApiError::invalid(
                Some("metadata.cas_config".into()),
                "cas_config cannot be removed",
            ));
        }
        Some(Value::Object(mut obj)) => {
            if obj.remove("stats").is_some() {
                return Err(ApiError::invalid(
                    Some("metadata.cas_config.stats".into()),
                    "stats is computed by the server and read-only",
                ));
            }
            Some(from_value_at(Value::Object(obj), "metadata.cas_config")?)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                Some("metadata.cas_config".into()),
                "cas_config must be an object",
            ));
        }
    };
    Ok((metadata, cas))
}
