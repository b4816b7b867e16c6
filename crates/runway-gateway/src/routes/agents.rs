//! `/agents`: create (201), list, get, update (new version), archive.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use prost_types::FieldMask;
use runway_api::v1::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::shared::{created, metadata_patch, ok, string_metadata, structs};
use crate::Gateway;
use crate::body::{self, nullable, present};
use crate::context::CallContext;
use crate::error::ApiError;
use crate::path::Path;
use crate::query::Query;
use crate::request_body::RequestBody;
use runway_json as render;

/// The body of `POST /agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateAgentBody)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = crate::schemas::Name, required = true)]
    name: Option<String>,
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    description: Option<String>,
    /// The model the agent runs, e.g. `claude-sonnet-4-5`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = crate::schemas::Name, required = true)]
    model: Option<String>,
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    system: Option<String>,
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    instructions: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::TypedObjects>, nullable = false)]
    tools: Option<Vec<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::UserMetadata>, nullable = false)]
    metadata: Option<Map<String, Value>>,
}

/// The body of `POST /agents/{id}`: every field optional; an update that changes a field makes a new version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateAgentBody)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::Name>, nullable = false)]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::Name>, nullable = false)]
    model: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    system: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    instructions: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::TypedObjects>, nullable = false)]
    tools: Option<Vec<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::UserMetadataPatch>, nullable = false)]
    metadata: Option<Map<String, Value>>,
}

fn path_error(status: tonic::Status) -> ApiError {
    ApiError::from(status).rename_param("agent_id", "id")
}

#[utoipa::path(
    operation_id = "CreateAgent",
    post,
    path = "/api/v1/cloud/agents",
    tag = "agents",
    params(crate::params::IdempotencyKey),
    request_body = CreateBody,
    responses((status = 201, description = "OK", body = runway_json::AgentJson), crate::error::ErrorResponses)
)]
pub async fn create(
    State(gw): State<Gateway>,
    ctx: CallContext,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let b: CreateBody = body::required(&headers, &body)?;
    let request = CreateAgentRequest {
        name: b.name.unwrap_or_default(),
        description: b.description,
        model: b.model.unwrap_or_default(),
        system: b.system,
        instructions: b.instructions,
        tools: structs(b.tools.unwrap_or_default()),
        metadata: string_metadata(b.metadata.unwrap_or_default(), "metadata")?,
    };
    let response = gw.agents().create_agent(ctx.request(request)).await?;
    Ok(created(render::agent(
        &response.into_inner().agent.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ListAgents",
    get,
    path = "/api/v1/cloud/agents",
    tag = "agents",
    params(crate::params::PageParams, crate::params::ArchiveFilter),
    responses((status = 200, description = "OK", body = runway_json::AgentList), crate::error::ErrorResponses)
)]
pub async fn list(
    State(gw): State<Gateway>,
    ctx: CallContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["include_archived"])?;
    let request = ListAgentsRequest {
        page: Some(q.page()?),
        include_archived: q.bool("include_archived")?.unwrap_or(false),
    };
    let response = gw
        .agents()
        .list_agents(ctx.request(request))
        .await?
        .into_inner();
    let data = response.agents.iter().map(render::agent).collect();
    Ok(ok(render::list(data, response.page_info.as_ref())))
}

#[utoipa::path(
    operation_id = "GetAgent",
    get,
    path = "/api/v1/cloud/agents/{id}",
    tag = "agents",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::AgentJson), crate::error::ErrorResponses)
)]
pub async fn get(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let response = gw
        .agents()
        .get_agent(ctx.request(GetAgentRequest { agent_id: id }))
        .await
        .map_err(path_error)?;
    Ok(ok(render::agent(
        &response.into_inner().agent.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "UpdateAgent",
    post,
    path = "/api/v1/cloud/agents/{id}",
    tag = "agents",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    request_body = UpdateBody,
    responses((status = 200, description = "OK", body = runway_json::AgentJson), crate::error::ErrorResponses)
)]
pub async fn update(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let b: UpdateBody = body::required(&headers, &body)?;
    let mut paths: Vec<String> = Vec::new();
    let mut request = UpdateAgentRequest {
        agent_id: id,
        ..Default::default()
    };
    if let Some(v) = b.name {
        request.name = v;
        paths.push("name".into());
    }
    if let Some(v) = b.description {
        request.description = v;
        paths.push("description".into());
    }
    if let Some(v) = b.model {
        request.model = v;
        paths.push("model".into());
    }
    if let Some(v) = b.system {
        request.system = v;
        paths.push("system".into());
    }
    if let Some(v) = b.instructions {
        request.instructions = v;
        paths.push("instructions".into());
    }
    if let Some(v) = b.tools {
        request.tools = structs(v);
        paths.push("tools".into());
    }
    if let Some(metadata) = b.metadata {
        let (values, metadata_paths) = metadata_patch(metadata, "metadata")?;
        request.metadata = values;
        paths.extend(metadata_paths);
    }
    request.update_mask = Some(FieldMask { paths });
    let response = gw
        .agents()
        .update_agent(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::agent(
        &response.into_inner().agent.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ArchiveAgent",
    post,
    path = "/api/v1/cloud/agents/{id}/archive",
    tag = "agents",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::AgentJson), crate::error::ErrorResponses)
)]
pub async fn archive(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let response = gw
        .agents()
        .archive_agent(ctx.request(ArchiveAgentRequest { agent_id: id }))
        .await
        .map_err(path_error)?;
    Ok(ok(render::agent(
        &response.into_inner().agent.unwrap_or_default(),
    )))
}
