//! `/sessions/{id}`: the session a run executes in, and its events.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use runway_api::enums::{EventType, SortOrder};
use runway_api::v1::{GetSessionRequest, ListSessionEventsRequest};

use super::shared::ok;
use crate::Gateway;
use crate::context::CallContext;
use crate::error::ApiError;
use crate::path::Path;
use crate::query::Query;
use runway_json as render;

#[utoipa::path(
    operation_id = "GetSession",
    get,
    path = "/api/v1/cloud/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "The resource id (prefix + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::SessionJson), crate::error::ErrorResponses)
)]
pub async fn get(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let response = gw
        .sessions()
        .get_session(ctx.request(GetSessionRequest { session_id: id }))
        .await
        .map_err(|s| ApiError::from(s).rename_param("session_id", "id"))?;
    Ok(ok(render::session(
        &response.into_inner().session.unwrap_or_default(),
    )))
}

#[utoipa::path(
    operation_id = "ListSessionEvents",
    get,
    path = "/api/v1/cloud/sessions/{id}/events",
    tag = "sessions",
    params(("id" = String, Path, description = "The session id (sess_ + 32 lowercase hex)."), crate::params::EventFilters),
    responses((status = 200, description = "OK", body = runway_json::SessionEventListJson), crate::error::ErrorResponses)
)]
pub async fn list_events(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    const PARAMS: [&str; 8] = [
        "limit",
        "after_id",
        "before_id",
        "order",
        "types[]",
        "type",
        "created_at[gte]",
        "created_at[lte]",
    ];
    let q = Query::parse_only(raw.as_deref(), &PARAMS)?;
    let mut types: Vec<EventType> = q.members("types[]")?;
    types.extend(q.member::<EventType>("type")?);
    let request = ListSessionEventsRequest {
        session_id: id,
        limit: q.integer("limit")?,
        after_id: q.string("after_id"),
        before_id: q.string("before_id"),
        order: q
            .member::<SortOrder>("order")?
            .map_or(0, SortOrder::to_proto),
        types: types.into_iter().map(EventType::to_proto).collect(),
        created_at_gte: q.timestamp("created_at[gte]")?,
        created_at_lte: q.timestamp("created_at[lte]")?,
    };
    let response = gw
        .sessions()
        .list_session_events(ctx.request(request))
        .await
        .map_err(|s| ApiError::from(s).rename_param("session_id", "id"))?;
    Ok(ok(render::event_list(&response.into_inner())))
}
