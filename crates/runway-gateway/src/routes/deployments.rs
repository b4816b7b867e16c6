//! `/deployments`: create, list, get, update, pause, unpause, archive.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use prost_types::FieldMask;
use runway_api::enums::{self, InitialEventType, ScheduleType, SessionStrategy};
use runway_api::json_value;
use runway_api::v1::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::shared::{metadata_patch, ok, string_metadata, structs};
use crate::Gateway;
use crate::body::{self, from_value_at, nullable, present};
use crate::context::CallContext;
use crate::error::ApiError;
use crate::path::Path;
use crate::query::Query;
use runway_json as render;

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
    name: Option<String>,
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = AgentInputSchema, required = true)]
    agent: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = true, pattern = "^env_[0-9a-f]{32}$")]
    environment_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<InitialEventBody>, required = true, min_items = 1, max_items = 50)]
    initial_events: Option<Vec<Map<String, Value>>>,
    /// A schedule, or `null` (or absent) for a manual-only deployment.
    #[schema(value_type = Option<ScheduleBody>)]
    schedule: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::TypedObjects>, nullable = false)]
    resources: Option<Vec<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::VaultIds>, nullable = false)]
    vault_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::DeploymentMetadataInput>, nullable = false)]
    metadata: Option<Map<String, Value>>,
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
#[allow(dead_code)]
struct AgentVersionInput {
    #[schema(pattern = "^agent_[0-9a-f]{32}$")]
    id: String,
    #[serde(rename = "type")]
    #[schema(nullable = false)]
    kind: Option<runway_json::AgentTag>,
    #[schema(nullable = false, minimum = 1, maximum = 2147483647)]
    version: Option<i32>,
}

/// The body of `POST /deployments/{id}`: every field optional; `metadata` is a merge-patch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateDeploymentBody)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::Name>, nullable = false)]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<AgentInputSchema>, nullable = false)]
    agent: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, pattern = "^env_[0-9a-f]{32}$")]
    environment_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<InitialEventBody>>, nullable = false, min_items = 1, max_items = 50)]
    initial_events: Option<Vec<Map<String, Value>>>,
    /// A whole schedule, or `null` to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ScheduleBody>)]
    schedule: Option<Option<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::TypedObjects>, nullable = false)]
    resources: Option<Vec<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::VaultIds>, nullable = false)]
    vault_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::DeploymentMetadataPatch>, nullable = false)]
    metadata: Option<Map<String, Value>>,
}

/// An event every run starts with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = InitialEventInput)]
pub struct InitialEventBody {
    #[serde(rename = "type")]
    kind: InitialEventType,
    #[schema(value_type = crate::schemas::EventContentInput)]
    content: Value,
}

/// A schedule: a 5-field cron expression in an IANA time zone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScheduleInput)]
pub struct ScheduleBody {
    /// `cron` (the default).
    #[serde(rename = "type", default, deserialize_with = "present")]
    #[schema(nullable = false)]
    kind: Option<ScheduleType>,
    /// Minute, hour, day of month, month, day of week (e.g. `0 9 * * *`).
    #[schema(min_length = 1)]
    expression: String,
    /// An IANA time zone; `UTC` by default.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    timezone: Option<String>,
}

/// The reserved `metadata.cas_config` object; `stats` is read-only.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CasConfigInput)]
pub struct CasConfigBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ConfigBody>, nullable = false)]
    config: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    session_strategy: Option<SessionStrategy>,
    /// The deployment's own retention rules (all of them: an absent or
    /// `null` field is no limit), or `null` for its organization's policy.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RetentionRulesBody>)]
    retention: Option<Option<Map<String, Value>>>,
}

/// A deployment's own retention rules; `null` or absent: no such limit.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RetentionRulesInput)]
pub struct RetentionRulesBody {
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    keep_days: Option<i32>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    keep_failed_days: Option<i32>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100000000)]
    max_runs: Option<i64>,
}

/// Run limits; each absent one keeps its value (its default on create).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeploymentConfigInput)]
pub struct ConfigBody {
    /// Default 1.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, minimum = 1, maximum = 100)]
    max_concurrent: Option<i32>,
    /// Default 0.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, minimum = 0, maximum = 10)]
    max_retries: Option<i32>,
    /// Default 300000.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, minimum = 1000, maximum = 86400000)]
    timeout_ms: Option<i64>,
    /// Failed runs in a row after which the service pauses the deployment;
    /// `null` (the default): never.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 1000)]
    max_consecutive_failures: Option<Option<i32>>,
}

impl CasConfigBody {
    fn config(&self) -> Result<ConfigBody, ApiError> {
        match &self.config {
            None => Ok(ConfigBody::default()),
            Some(map) => from_value_at(Value::Object(map.clone()), "metadata.cas_config.config"),
        }
    }

    /// `None`: not given; `Some(None)`: the organization's policy.
    fn retention(&self) -> Result<Option<Option<RetentionRules>>, ApiError> {
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
fn agent_ref(value: Value) -> Result<AgentRef, ApiError> {
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
                Some(Value::Number(n)) => match n.as_i64().and_then(|v| i32::try_from(v).ok()) {
                    Some(v) if v >= 1 => v,
                    _ => {
                        return Err(bad(
                            "agent.version",
                            "agent.version must be an integer from 1 to 2147483647",
                        ));
                    }
                },
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

fn initial_events(events: Vec<Map<String, Value>>) -> Result<Vec<InitialEvent>, ApiError> {
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

fn schedule(s: Map<String, Value>) -> Result<Schedule, ApiError> {
    let s: ScheduleBody = from_value_at(Value::Object(s), "schedule")?;
    Ok(Schedule {
        r#type: s.kind.unwrap_or(ScheduleType::Cron).to_proto(),
        expression: s.expression,
        timezone: s.timezone.unwrap_or_else(|| "UTC".to_string()),
        last_run_at: None,
        upcoming_runs_at: Vec::new(),
    })
}

/// Splits REST `metadata` into the user's keys and the reserved `cas_config`.
fn split_metadata(
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

#[utoipa::path(
    operation_id = "CreateDeployment",
    post,
    path = "/api/v1/cloud/deployments",
    tag = "deployments",
    params(crate::params::IdempotencyKey),
    request_body = CreateBody,
    responses((status = 200, description = "OK", body = runway_json::DeploymentJson), crate::error::ErrorResponses)
)]
pub async fn create(
    State(gw): State<Gateway>,
    ctx: CallContext,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: CreateBody = body::required(&headers, &body)?;
    let (metadata, cas) = split_metadata(b.metadata.unwrap_or_default())?;
    let cas = cas.unwrap_or_default();
    let config = cas.config()?;
    let request = CreateDeploymentRequest {
        name: b.name.unwrap_or_default(),
        description: b.description,
        agent: b.agent.map(agent_ref).transpose()?,
        environment_id: b.environment_id.unwrap_or_default(),
        initial_events: initial_events(b.initial_events.unwrap_or_default())?,
        schedule: b.schedule.map(schedule).transpose()?,
        resources: structs(b.resources.unwrap_or_default()),
        vault_ids: b.vault_ids.unwrap_or_default(),
        metadata: string_metadata(metadata, "metadata")?,
        config: Some(DeploymentConfigInput {
            max_concurrent: config.max_concurrent,
            max_retries: config.max_retries,
            timeout_ms: config.timeout_ms,
            max_consecutive_failures: config.max_consecutive_failures.flatten(),
        }),
        session_strategy: cas
            .session_strategy
            .unwrap_or(SessionStrategy::NewSession)
            .to_proto(),
        retention: cas.retention()?.flatten(),
    };
    let response = gw
        .deployments()
        .create_deployment(ctx.request(request))
        .await?;
    Ok(ok(render::deployment(
        &response.into_inner().deployment.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ListDeployments",
    get,
    path = "/api/v1/cloud/deployments",
    tag = "deployments",
    params(crate::params::PageParams, crate::params::DeploymentFilters),
    responses((status = 200, description = "OK", body = runway_json::DeploymentList), crate::error::ErrorResponses)
)]
pub async fn list(
    State(gw): State<Gateway>,
    ctx: CallContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["status", "include_archived", "agent_id"])?;
    let request = ListDeploymentsRequest {
        page: Some(q.page()?),
        status: q
            .member::<enums::DeploymentStatus>("status")?
            .map(enums::DeploymentStatus::to_proto),
        include_archived: q.bool("include_archived")?.unwrap_or(false),
        agent_id: q.string("agent_id"),
    };
    let response = gw
        .deployments()
        .list_deployments(ctx.request(request))
        .await?
        .into_inner();
    let data = response
        .deployments
        .iter()
        .map(render::deployment)
        .collect();
    Ok(ok(render::list(data, response.page_info.as_ref())))
}

fn path_error(status: tonic::Status) -> ApiError {
    ApiError::from(status).rename_param("deployment_id", "id")
}

#[utoipa::path(
    operation_id = "GetDeployment",
    get,
    path = "/api/v1/cloud/deployments/{id}",
    tag = "deployments",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::DeploymentJson), crate::error::ErrorResponses)
)]
pub async fn get(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let request = GetDeploymentRequest { deployment_id: id };
    let response = gw
        .deployments()
        .get_deployment(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::deployment(
        &response.into_inner().deployment.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "UpdateDeployment",
    post,
    path = "/api/v1/cloud/deployments/{id}",
    tag = "deployments",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    request_body = UpdateBody,
    responses((status = 200, description = "OK", body = runway_json::DeploymentJson), crate::error::ErrorResponses)
)]
pub async fn update(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: UpdateBody = body::required(&headers, &body)?;
    let mut paths: Vec<String> = Vec::new();
    let mut request = UpdateDeploymentRequest {
        deployment_id: id,
        ..Default::default()
    };
    if let Some(name) = b.name {
        request.name = name;
        paths.push("name".into());
    }
    if let Some(description) = b.description {
        request.description = description;
        paths.push("description".into());
    }
    if let Some(agent) = b.agent {
        request.agent = Some(agent_ref(agent)?);
        paths.push("agent".into());
    }
    if let Some(environment_id) = b.environment_id {
        request.environment_id = environment_id;
        paths.push("environment_id".into());
    }
    if let Some(events) = b.initial_events {
        request.initial_events = initial_events(events)?;
        paths.push("initial_events".into());
    }
    if let Some(s) = b.schedule {
        request.schedule = s.map(schedule).transpose()?;
        paths.push("schedule".into());
    }
    if let Some(resources) = b.resources {
        request.resources = structs(resources);
        paths.push("resources".into());
    }
    if let Some(vault_ids) = b.vault_ids {
        request.vault_ids = vault_ids;
        paths.push("vault_ids".into());
    }
    if let Some(metadata) = b.metadata {
        let (user, cas) = split_metadata(metadata)?;
        let (values, metadata_paths) = metadata_patch(user, "metadata")?;
        request.metadata = values;
        paths.extend(metadata_paths);
        if let Some(cas) = cas {
            let config = cas.config()?;
            let mut input = DeploymentConfigInput::default();
            if let Some(v) = config.max_concurrent {
                input.max_concurrent = Some(v);
                paths.push("config.max_concurrent".into());
            }
            if let Some(v) = config.max_retries {
                input.max_retries = Some(v);
                paths.push("config.max_retries".into());
            }
            if let Some(v) = config.timeout_ms {
                input.timeout_ms = Some(v);
                paths.push("config.timeout_ms".into());
            }
            if let Some(v) = config.max_consecutive_failures {
                input.max_consecutive_failures = v;
                paths.push("config.max_consecutive_failures".into());
            }
            request.config = Some(input);
            if let Some(s) = cas.session_strategy {
                request.session_strategy = s.to_proto();
                paths.push("session_strategy".into());
            }
            if let Some(rules) = cas.retention()? {
                request.retention = rules;
                paths.push("retention".into());
            }
        }
    }
    request.update_mask = Some(FieldMask { paths });
    let response = gw
        .deployments()
        .update_deployment(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::deployment(
        &response.into_inner().deployment.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "PauseDeployment",
    post,
    path = "/api/v1/cloud/deployments/{id}/pause",
    tag = "deployments",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::DeploymentJson), crate::error::ErrorResponses)
)]
pub async fn pause(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let request = PauseDeploymentRequest { deployment_id: id };
    let response = gw
        .deployments()
        .pause_deployment(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::deployment(
        &response.into_inner().deployment.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "UnpauseDeployment",
    post,
    path = "/api/v1/cloud/deployments/{id}/unpause",
    tag = "deployments",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::DeploymentJson), crate::error::ErrorResponses)
)]
pub async fn unpause(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let request = UnpauseDeploymentRequest { deployment_id: id };
    let response = gw
        .deployments()
        .unpause_deployment(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::deployment(
        &response.into_inner().deployment.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ArchiveDeployment",
    post,
    path = "/api/v1/cloud/deployments/{id}/archive",
    tag = "deployments",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::DeploymentJson), crate::error::ErrorResponses)
)]
pub async fn archive(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let request = ArchiveDeploymentRequest { deployment_id: id };
    let response = gw
        .deployments()
        .archive_deployment(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::deployment(
        &response.into_inner().deployment.unwrap_or_default(),
    )))
}
