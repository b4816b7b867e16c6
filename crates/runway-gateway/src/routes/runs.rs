//! Runs: trigger (`/deployments/{id}/run`), read and list.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use runway_api::enums::{RunStatus, TriggerType};
use runway_api::v1::*;

use super::shared::ok;
use crate::Gateway;
use crate::body;
use crate::context::CallContext;
use crate::error::ApiError;
use crate::path::Path;
use crate::query::Query;
use crate::request_body::RequestBody;
use runway_json as render;

fn path_error(status: tonic::Status) -> ApiError {
    ApiError::from(status).rename_param("deployment_id", "id")
}

/// `POST /deployments/{id}/run`: body omitted or `{}`.
#[utoipa::path(
    operation_id = "RunDeployment",
    post,
    path = "/api/v1/cloud/deployments/{id}/run",
    tag = "runs",
    params(("id" = String, Path, description = "The deployment id (dep_ + 32 lowercase hex)."), crate::params::IdempotencyKey),
    responses((status = 200, description = "OK", body = runway_json::RunJson), crate::error::ErrorResponses)
)]
pub async fn trigger(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let request = RunDeploymentRequest { deployment_id: id };
    let response = gw
        .deployments()
        .run_deployment(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::run(
        response.into_inner().run.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ListDeploymentRuns",
    get,
    path = "/api/v1/cloud/deployments/{id}/runs",
    tag = "runs",
    params(("id" = String, Path, description = "The deployment id (dep_ + 32 lowercase hex)."), crate::params::PageParams, crate::params::DeploymentRunFilters),
    responses((status = 200, description = "OK", body = runway_json::RunList), crate::error::ErrorResponses)
)]
pub async fn list_for_deployment(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(
        raw.as_deref(),
        &["status", "triggered_after", "triggered_before"],
    )?;
    let request = ListDeploymentRunsRequest {
        deployment_id: id,
        page: Some(q.page()?),
        status: q.member::<RunStatus>("status")?.map(RunStatus::to_proto),
        triggered_after: q.timestamp("triggered_after")?,
        triggered_before: q.timestamp("triggered_before")?,
    };
    let response = gw
        .deployments()
        .list_deployment_runs(ctx.request(request))
        .await
        .map_err(path_error)?;
    let response = response.into_inner();
    let data = response.runs.into_iter().map(render::run).collect();
    Ok(ok(render::list(data, response.page_info.as_ref())))
}

#[utoipa::path(
    operation_id = "GetDeploymentRunOfDeployment",
    get,
    path = "/api/v1/cloud/deployments/{id}/runs/{run_id}",
    tag = "runs",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex)."), ("run_id" = String, Path, description = "The run id (drun_…).")),
    responses((status = 200, description = "OK", body = runway_json::RunJson), crate::error::ErrorResponses)
)]
pub async fn get_for_deployment(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path((id, run_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let request = GetDeploymentRunRequest {
        run_id,
        deployment_id: Some(id),
    };
    let response = gw
        .deployments()
        .get_deployment_run(ctx.request(request))
        .await
        .map_err(path_error)?;
    Ok(ok(render::run(
        response.into_inner().run.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ListRuns",
    get,
    path = "/api/v1/cloud/deployment_runs",
    tag = "runs",
    params(crate::params::PageParams, crate::params::RunFilters),
    responses((status = 200, description = "OK", body = runway_json::RunList), crate::error::ErrorResponses)
)]
pub async fn list_all(
    State(gw): State<Gateway>,
    ctx: CallContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(
        raw.as_deref(),
        &[
            "deployment_id",
            "status",
            "trigger_type",
            "has_error",
            "triggered_after",
            "triggered_before",
        ],
    )?;
    let request = ListRunsRequest {
        page: Some(q.page()?),
        deployment_id: q.string("deployment_id"),
        status: q.member::<RunStatus>("status")?.map(RunStatus::to_proto),
        trigger_type: q
            .member::<TriggerType>("trigger_type")?
            .map(TriggerType::to_proto),
        has_error: q.bool("has_error")?,
        triggered_after: q.timestamp("triggered_after")?,
        triggered_before: q.timestamp("triggered_before")?,
    };
    let response = gw
        .deployments()
        .list_runs(ctx.request(request))
        .await?
        .into_inner();
    let data = response.runs.into_iter().map(render::run).collect();
    Ok(ok(render::list(data, response.page_info.as_ref())))
}

#[utoipa::path(
    operation_id = "GetDeploymentRun",
    get,
    path = "/api/v1/cloud/deployment_runs/{run_id}",
    tag = "runs",
    params(("run_id" = String, Path, description = "The run id (drun_…).")),
    responses((status = 200, description = "OK", body = runway_json::RunJson), crate::error::ErrorResponses)
)]
pub async fn get(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(run_id): Path<String>,
) -> Result<Response, ApiError> {
    let request = GetDeploymentRunRequest {
        run_id,
        deployment_id: None,
    };
    let response = gw
        .deployments()
        .get_deployment_run(ctx.request(request))
        .await?;
    Ok(ok(render::run(
        response.into_inner().run.unwrap_or_default(),
    )))
}

/// `POST /deployment_runs/{run_id}/cancel`: body omitted or `{}`.
#[utoipa::path(
    operation_id = "CancelDeploymentRun",
    post,
    path = "/api/v1/cloud/deployment_runs/{run_id}/cancel",
    tag = "runs",
    params(("run_id" = String, Path, description = "The run id (drun_…).")),
    responses((status = 200, description = "OK", body = runway_json::RunJson), crate::error::ErrorResponses)
)]
pub async fn cancel(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(run_id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let request = CancelDeploymentRunRequest { run_id };
    let response = gw
        .deployments()
        .cancel_deployment_run(ctx.request(request))
        .await?;
    Ok(ok(render::run(
        response.into_inner().run.unwrap_or_default(),
    )))
}

/// `GET /deployment_runs/watch` filters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct WatchFilters {
    /// Runs per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i32>,
    /// Runs of this deployment only.
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    deployment_id: Option<String>,
    status: Option<RunStatus>,
    trigger_type: Option<TriggerType>,
    /// Only runs with (`true`) or without (`false`) an error.
    has_error: Option<bool>,
}

#[utoipa::path(
    operation_id = "WatchRuns",
    get,
    path = "/api/v1/cloud/deployment_runs/watch",
    tag = "runs",
    params(WatchFilters),
    responses(
        (status = 200, description = "Server-Sent Events: each message is `event: runs`, `data: {\"data\":[…runs, newest first…]}`: the first page of the filtered list at once, then again whenever it changes (at most four times a second); a `heartbeat` message (`data: {}`) about every 15 s; a stream that fails once begun (its token revoked or expired) ends with an `error` message whose data is the error envelope, and so does one the server ends as it stops (503 `overloaded_error`: reconnect).", content_type = "text/event-stream", body = crate::schemas::RunsStreamMessage),
        crate::error::ErrorResponses
    )
)]
pub async fn watch(
    State(gw): State<Gateway>,
    ctx: CallContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    use axum::response::sse::Event as SseEvent;

    let q = Query::parse_only(
        raw.as_deref(),
        &[
            "limit",
            "deployment_id",
            "status",
            "trigger_type",
            "has_error",
        ],
    )?;
    let request = WatchRunsRequest {
        limit: q.integer("limit")?,
        deployment_id: q.string("deployment_id"),
        status: q.member::<RunStatus>("status")?.map(RunStatus::to_proto),
        trigger_type: q
            .member::<TriggerType>("trigger_type")?
            .map(TriggerType::to_proto),
        has_error: q.bool("has_error")?,
    };
    let stream = gw
        .deployments()
        .watch_runs(ctx.request(request))
        .await?
        .into_inner();
    Ok(crate::sse::respond(&gw, &ctx, stream, |message| {
        let runs: Vec<_> = message.runs.into_iter().map(render::run).collect();
        SseEvent::default()
            .event("runs")
            .json_data(serde_json::json!({ "data": runs }))
    }))
}
