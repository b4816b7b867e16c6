//! `/retention`: the organization's retention policy (read with any
//! reading token; change with an admin token).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use prost_types::FieldMask;
use runway_api::v1::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::shared::ok;
use crate::Gateway;
use crate::body::{self, nullable_whole};
use crate::context::CallContext;
use crate::error::ApiError;
use crate::query::Query;
use crate::request_body::RequestBody;
use runway_json as render;

/// The body of `POST /retention`: each field given replaces that rule
/// (`null`: no such limit); absent ones keep theirs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateRetentionPolicyBody)]
pub struct UpdateBody {
    /// Completed and skipped runs are deleted this many days after they
    /// were triggered.
    #[serde(default, deserialize_with = "nullable_whole")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 36500)]
    keep_days: Option<Option<i32>>,
    /// Failed runs are deleted this many days after they were triggered;
    /// at least `keep_days` (`null` keeps them without limit).
    #[serde(default, deserialize_with = "nullable_whole")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 36500)]
    keep_failed_days: Option<Option<i32>>,
    /// Only each deployment's newest this many runs are kept.
    #[serde(default, deserialize_with = "nullable_whole")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 100000000)]
    max_runs: Option<Option<i64>>,
}

fn policy(policy: Option<RetentionPolicy>) -> Response {
    ok(render::retention_policy(&policy.unwrap_or_default()))
}

#[utoipa::path(
    operation_id = "GetRetentionPolicy",
    get,
    path = "/api/v1/cloud/retention",
    tag = "retention",
    responses((status = 200, description = "OK", body = runway_json::RetentionPolicyJson), crate::error::ErrorResponses)
)]
pub async fn get(
    State(gw): State<Gateway>,
    ctx: CallContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse_only(raw.as_deref(), &[])?;
    let response = gw
        .retention()
        .get_retention_policy(ctx.request(GetRetentionPolicyRequest {}))
        .await?;
    Ok(policy(response.into_inner().policy))
}

#[utoipa::path(
    operation_id = "UpdateRetentionPolicy",
    post,
    path = "/api/v1/cloud/retention",
    tag = "retention",
    request_body = UpdateBody,
    responses((status = 200, description = "The policy after the change.", body = runway_json::RetentionPolicyJson), crate::error::ErrorResponses)
)]
pub async fn update(
    State(gw): State<Gateway>,
    ctx: CallContext,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let b: UpdateBody = body::required(&headers, &body)?;
    let mut rules = RetentionRules::default();
    let mut paths: Vec<String> = Vec::new();
    if let Some(v) = b.keep_days {
        rules.keep_days = v;
        paths.push("keep_days".into());
    }
    if let Some(v) = b.keep_failed_days {
        rules.keep_failed_days = v;
        paths.push("keep_failed_days".into());
    }
    if let Some(v) = b.max_runs {
        rules.max_runs = v;
        paths.push("max_runs".into());
    }
    let request = UpdateRetentionPolicyRequest {
        rules: Some(rules),
        update_mask: Some(FieldMask { paths }),
    };
    let response = gw
        .retention()
        .update_retention_policy(ctx.request(request))
        .await?;
    Ok(policy(response.into_inner().policy))
}
