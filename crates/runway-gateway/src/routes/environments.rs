//! `/environments`: create, list, get, update, archive.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use prost_types::FieldMask;
use runway_api::v1::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::shared::ok;
use crate::Gateway;
use crate::body::{self, nullable, present};
use crate::context::CallContext;
use crate::error::ApiError;
use crate::path::Path;
use crate::query::Query;
use crate::request_body::RequestBody;
use runway_json as render;

/// The body of `POST /environments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateEnvironmentBody)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = crate::schemas::Name, required = true)]
    name: Option<String>,
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    description: Option<String>,
}

/// The body of `POST /environments/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateEnvironmentBody)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::Name>, nullable = false)]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    description: Option<Option<String>>,
}

fn path_error(status: tonic::Status) -> ApiError {
    ApiError::from(status).rename_param("environment_id", "id")
}

#[utoipa::path(
    operation_id = "CreateEnvironment",
    post,
    path = "/api/v1/cloud/environments",
    tag = "environments",
    params(crate::params::IdempotencyKey),
    request_body = CreateBody,
    responses((status = 200, description = "OK", body = runway_json::EnvironmentJson), crate::error::ErrorResponses)
)]
pub async fn create(
    State(gw): State<Gateway>,
    ctx: CallContext,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let b: CreateBody = body::required(&headers, &body)?;
    let request = CreateEnvironmentRequest {
        name: b.name.unwrap_or_default(),
        description: b.description,
    };
    let response = gw
        .environments()
        .create_environment(ctx.request(request))
        .await?;
    Ok(ok(render::environment(
        &response.into_inner().environment.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ListEnvironments",
    get,
    path = "/api/v1/cloud/environments",
    tag = "environments",
    params(crate::params::PageParams, crate::params::ArchiveFilter),
    responses((status = 200, description = "OK", body = runway_json::EnvironmentList), crate::error::ErrorResponses)
)]
pub async fn list(
    State(gw): State<Gateway>,
    ctx: CallContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["include_archived"])?;
    let request = ListEnvironmentsRequest {
        page: Some(q.page()?),
        include_archived: q.bool("include_archived")?.unwrap_or(false),
    };
    let response = gw
        .environments()
        .list_environments(ctx.request(request))
        .await?
        .into_inner();
    let data = response
        .environments
        .iter()
        .map(render::environment)
        .collect();
    Ok(ok(render::list(data, response.page_info.as_ref())))
}

#[utoipa::path(
    operation_id = "GetEnvironment",
    get,
    path = "/api/v1/cloud/environments/{id}",
    tag = "environments",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::EnvironmentJson), crate::error::ErrorResponses)
)]
pub async fn get(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let response = gw
        .environments()
        .get_environment(ctx.request(GetEnvironmentRequest { environment_id: id }))
        .await
        .map_err(path_error)?;
    Ok(ok(render::environment(
        &response.into_inner().environment.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "UpdateEnvironment",
    post,
    path = "/api/v1/cloud/environments/{id}",
    tag = "environments",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    request_body = UpdateBody,
    responses((status = 200, description = "OK", body = runway_json::EnvironmentJson), crate::error::ErrorResponses)
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
    let mut request = UpdateEnvironmentRequest {
        environment_id: id,
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
    request.update_mask = Some(FieldMask { paths });
    let response = gw
        .environments()
        .update_environment(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::environment(
        &response.into_inner().environment.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ArchiveEnvironment",
    post,
    path = "/api/v1/cloud/environments/{id}/archive",
    tag = "environments",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::EnvironmentJson), crate::error::ErrorResponses)
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
        .environments()
        .archive_environment(ctx.request(ArchiveEnvironmentRequest { environment_id: id }))
        .await
        .map_err(path_error)?;
    Ok(ok(render::environment(
        &response.into_inner().environment.unwrap_or_default(),
    )))
}
