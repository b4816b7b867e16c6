//! `/sessions/{id}`: the session a run executes in.

use axum::extract::State;
use axum::response::Response;
use runway_api::v1::GetSessionRequest;

use super::shared::ok;
use crate::Gateway;
use crate::context::CallContext;
use crate::error::ApiError;
use crate::path::Path;
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
