//! `/deployments`: create, list, get, update, pause, unpause, archive.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use prost_types::FieldMask;
use runway_api::enums::{self, SessionStrategy};
use runway_api::v1::*;

use super::deployment_body::{
    CreateBody, UpdateBody, agent_ref, initial_events, schedule, split_metadata,
};
use super::shared::{metadata_patch, ok, string_metadata, structs};
use crate::Gateway;
use crate::body;
use crate::context::CallContext;
use crate::error::ApiError;
use crate::path::Path;
use crate::query::Query;
use crate::request_body::RequestBody;
use runway_json as render;

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
    RequestBody(body): RequestBody,
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
    RequestBody(body): RequestBody,
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
    RequestBody(body): RequestBody,
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
    RequestBody(body): RequestBody,
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
    RequestBody(body): RequestBody,
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
