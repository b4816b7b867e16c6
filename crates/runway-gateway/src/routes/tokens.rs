//! `/tokens`: issue, list, get, revoke (admin tokens only), and the
//! calling token itself (any token).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use runway_api::enums::TokenScope;
use runway_api::v1::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::shared::ok;
use crate::Gateway;
use crate::body::{self, present};
use crate::context::CallContext;
use crate::error::ApiError;
use crate::path::Path;
use crate::query::Query;
use crate::request_body::RequestBody;
use runway_json as render;

/// The body of `POST /tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateTokenBody)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = crate::schemas::Name, required = true)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = TokenScope, required = true)]
    scope: Option<TokenScope>,
    /// For `runner` tokens (required there): the environments whose turns
    /// it may claim, or `["*"]` for every environment; absent or empty for
    /// the other scopes.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::TokenEnvironments>, nullable = false)]
    environment_ids: Option<Vec<String>>,
    /// When it stops working (RFC 3339, in the future, before 2262-04-11);
    /// absent: never.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime, nullable = false)]
    expires_at: Option<String>,
}

fn path_error(status: tonic::Status) -> ApiError {
    ApiError::from(status).rename_param("token_id", "id")
}

fn token(token: Option<AccessToken>) -> Response {
    ok(render::token(&token.unwrap_or_default()))
}

#[utoipa::path(
    operation_id = "CreateToken",
    post,
    path = "/api/v1/cloud/tokens",
    tag = "tokens",
    request_body = CreateBody,
    responses(
        (status = 200, description = "The token, with its `secret` (shown only here).", body = runway_json::TokenJson),
        crate::error::ErrorResponses
    )
)]
pub async fn create(
    State(gw): State<Gateway>,
    ctx: CallContext,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let b: CreateBody = body::required(&headers, &body)?;
    let request = CreateTokenRequest {
        name: b.name.unwrap_or_default(),
        scope: b.scope.map(TokenScope::to_proto).unwrap_or_default(),
        environment_ids: b.environment_ids.unwrap_or_default(),
        expires_at: b
            .expires_at
            .map(|v| crate::query::rfc3339("expires_at", &v))
            .transpose()?,
    };
    let response = gw
        .tokens()
        .create_token(ctx.request(request))
        .await?
        .into_inner();
    Ok(ok(render::issued_token(
        &response.token.unwrap_or_default(),
        &response.secret,
    )))
}

#[utoipa::path(
    operation_id = "ListTokens",
    get,
    path = "/api/v1/cloud/tokens",
    tag = "tokens",
    params(crate::params::PageParams, crate::params::RevokedFilter),
    responses((status = 200, description = "OK", body = runway_json::TokenList), crate::error::ErrorResponses)
)]
pub async fn list(
    State(gw): State<Gateway>,
    ctx: CallContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["include_revoked"])?;
    let request = ListTokensRequest {
        page: Some(q.page()?),
        include_revoked: q.bool("include_revoked")?.unwrap_or(false),
    };
    let response = gw
        .tokens()
        .list_tokens(ctx.request(request))
        .await?
        .into_inner();
    let data = response.tokens.iter().map(render::token).collect();
    Ok(ok(render::list(data, response.page_info.as_ref())))
}

#[utoipa::path(
    operation_id = "GetCurrentToken",
    get,
    path = "/api/v1/cloud/tokens/current",
    tag = "tokens",
    responses((status = 200, description = "The token this call is made with (any scope may read itself).", body = runway_json::TokenJson), crate::error::ErrorResponses)
)]
pub async fn current(State(gw): State<Gateway>, ctx: CallContext) -> Result<Response, ApiError> {
    let response = gw
        .tokens()
        .get_current_token(ctx.request(GetCurrentTokenRequest {}))
        .await?;
    Ok(token(response.into_inner().token))
}

#[utoipa::path(
    operation_id = "GetToken",
    get,
    path = "/api/v1/cloud/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token id (`tok_` + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::TokenJson), crate::error::ErrorResponses)
)]
pub async fn get(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let response = gw
        .tokens()
        .get_token(ctx.request(GetTokenRequest { token_id: id }))
        .await
        .map_err(path_error)?;
    Ok(token(response.into_inner().token))
}

#[utoipa::path(
    operation_id = "RevokeToken",
    post,
    path = "/api/v1/cloud/tokens/{id}/revoke",
    tag = "tokens",
    params(("id" = String, Path, description = "The token id (`tok_` + 32 lowercase hex).")),
    responses((status = 200, description = "The token, with `revoked_at` set.", body = runway_json::TokenJson), crate::error::ErrorResponses)
)]
pub async fn revoke(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let response = gw
        .tokens()
        .revoke_token(ctx.request(RevokeTokenRequest { token_id: id }))
        .await
        .map_err(path_error)?;
    Ok(token(response.into_inner().token))
}
