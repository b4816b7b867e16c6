//! `/webhooks`: endpoints (create, list, get, update, delete, rotate the
//! secret, test) and their deliveries (list, redeliver).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use prost_types::FieldMask;
use runway_api::enums::{WebhookDeliveryStatus, WebhookEventType};
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

/// The body of `POST /webhooks/endpoints`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateWebhookEndpointBody)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = crate::schemas::WebhookUrl, required = true)]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = crate::schemas::WebhookEventTypes, required = true)]
    event_types: Option<Vec<WebhookEventType>>,
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    description: Option<String>,
    /// Whether events are sent to it (default `true`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>, nullable = false)]
    enabled: Option<bool>,
}

/// The body of `POST /webhooks/endpoints/{id}`: only the fields present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateWebhookEndpointBody)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::WebhookUrl>, nullable = false)]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::schemas::WebhookEventTypes>, nullable = false)]
    event_types: Option<Vec<WebhookEventType>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = crate::schemas::NullableLongText, required = false)]
    description: Option<Option<String>>,
    /// `false` stops sending (`disabled_reason` `manual`); `true` sends again,
    /// the deliveries that waited included.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>, nullable = false)]
    enabled: Option<bool>,
}

fn endpoint_path_error(status: tonic::Status) -> ApiError {
    ApiError::from(status).rename_param("endpoint_id", "id")
}

fn event_types(types: Vec<WebhookEventType>) -> Vec<i32> {
    types.into_iter().map(WebhookEventType::to_proto).collect()
}

fn endpoint(endpoint: Option<WebhookEndpoint>) -> Response {
    ok(render::webhook_endpoint(&endpoint.unwrap_or_default()))
}

fn delivery(delivery: Option<WebhookDelivery>) -> Response {
    ok(render::webhook_delivery(&delivery.unwrap_or_default()))
}

#[utoipa::path(
    operation_id = "CreateWebhookEndpoint",
    post,
    path = "/api/v1/cloud/webhooks/endpoints",
    tag = "webhooks",
    params(crate::params::IdempotencyKey),
    request_body = CreateBody,
    responses(
        (status = 200, description = "The endpoint, with its `signing_secret` (shown only here and by rotate_secret).", body = runway_json::WebhookEndpointJson),
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
    let request = CreateWebhookEndpointRequest {
        url: b.url.unwrap_or_default(),
        event_types: event_types(b.event_types.unwrap_or_default()),
        description: b.description,
        enabled: b.enabled,
    };
    let response = gw
        .webhooks()
        .create_webhook_endpoint(ctx.request(request))
        .await?;
    Ok(endpoint(response.into_inner().endpoint))
}

#[utoipa::path(
    operation_id = "ListWebhookEndpoints",
    get,
    path = "/api/v1/cloud/webhooks/endpoints",
    tag = "webhooks",
    params(crate::params::PageParams),
    responses((status = 200, description = "OK", body = runway_json::WebhookEndpointList), crate::error::ErrorResponses)
)]
pub async fn list(
    State(gw): State<Gateway>,
    ctx: CallContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &[])?;
    let request = ListWebhookEndpointsRequest {
        page: Some(q.page()?),
    };
    let response = gw
        .webhooks()
        .list_webhook_endpoints(ctx.request(request))
        .await?
        .into_inner();
    let data = response
        .endpoints
        .iter()
        .map(render::webhook_endpoint)
        .collect();
    Ok(ok(render::list(data, response.page_info.as_ref())))
}

#[utoipa::path(
    operation_id = "GetWebhookEndpoint",
    get,
    path = "/api/v1/cloud/webhooks/endpoints/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint id (`whep_` + 32 lowercase hex).")),
    responses((status = 200, description = "OK", body = runway_json::WebhookEndpointJson), crate::error::ErrorResponses)
)]
pub async fn get(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let response = gw
        .webhooks()
        .get_webhook_endpoint(ctx.request(GetWebhookEndpointRequest { endpoint_id: id }))
        .await
        .map_err(endpoint_path_error)?;
    Ok(endpoint(response.into_inner().endpoint))
}

#[utoipa::path(
    operation_id = "UpdateWebhookEndpoint",
    post,
    path = "/api/v1/cloud/webhooks/endpoints/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint id (`whep_` + 32 lowercase hex).")),
    request_body = UpdateBody,
    responses((status = 200, description = "OK", body = runway_json::WebhookEndpointJson), crate::error::ErrorResponses)
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
    let mut request = UpdateWebhookEndpointRequest {
        endpoint_id: id,
        ..Default::default()
    };
    if let Some(v) = b.url {
        request.url = v;
        paths.push("url".into());
    }
    if let Some(v) = b.event_types {
        request.event_types = event_types(v);
        paths.push("event_types".into());
    }
    if let Some(v) = b.description {
        request.description = v;
        paths.push("description".into());
    }
    if let Some(v) = b.enabled {
        request.enabled = v;
        paths.push("enabled".into());
    }
    request.update_mask = Some(FieldMask { paths });
    let response = gw
        .webhooks()
        .update_webhook_endpoint(ctx.request(request))
        .await
        .map_err(endpoint_path_error)?;
    Ok(endpoint(response.into_inner().endpoint))
}

#[utoipa::path(
    operation_id = "DeleteWebhookEndpoint",
    delete,
    path = "/api/v1/cloud/webhooks/endpoints/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint id (`whep_` + 32 lowercase hex).")),
    responses((status = 200, description = "Deleted, with its deliveries.", body = runway_json::WebhookEndpointDeletedJson), crate::error::ErrorResponses)
)]
pub async fn delete(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let response = gw
        .webhooks()
        .delete_webhook_endpoint(ctx.request(DeleteWebhookEndpointRequest { endpoint_id: id }))
        .await
        .map_err(endpoint_path_error)?;
    Ok(ok(render::webhook_endpoint_deleted(
        &response.into_inner().endpoint_id,
    )))
}

#[utoipa::path(
    operation_id = "RotateWebhookEndpointSecret",
    post,
    path = "/api/v1/cloud/webhooks/endpoints/{id}/rotate_secret",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint id (`whep_` + 32 lowercase hex).")),
    responses(
        (status = 200, description = "The endpoint with its new `signing_secret`; the old one signs too for 24 h.", body = runway_json::WebhookEndpointJson),
        crate::error::ErrorResponses
    )
)]
pub async fn rotate_secret(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let request = RotateWebhookEndpointSecretRequest { endpoint_id: id };
    let response = gw
        .webhooks()
        .rotate_webhook_endpoint_secret(ctx.request(request))
        .await
        .map_err(endpoint_path_error)?;
    Ok(endpoint(response.into_inner().endpoint))
}

#[utoipa::path(
    operation_id = "TestWebhookEndpoint",
    post,
    path = "/api/v1/cloud/webhooks/endpoints/{id}/test",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint id (`whep_` + 32 lowercase hex).")),
    responses(
        (status = 200, description = "The delivery of a `webhook.test` event, pending until sent.", body = runway_json::WebhookDeliveryJson),
        crate::error::ErrorResponses
    )
)]
pub async fn test(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let response = gw
        .webhooks()
        .test_webhook_endpoint(ctx.request(TestWebhookEndpointRequest { endpoint_id: id }))
        .await
        .map_err(endpoint_path_error)?;
    Ok(delivery(response.into_inner().delivery))
}

#[utoipa::path(
    operation_id = "ListWebhookDeliveries",
    get,
    path = "/api/v1/cloud/webhooks/endpoints/{id}/deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint id (`whep_` + 32 lowercase hex)."),
        crate::params::PageParams,
        crate::params::DeliveryFilters
    ),
    responses((status = 200, description = "OK", body = runway_json::WebhookDeliveryList), crate::error::ErrorResponses)
)]
pub async fn list_deliveries(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["status"])?;
    let request = ListWebhookDeliveriesRequest {
        endpoint_id: id,
        page: Some(q.page()?),
        status: q
            .member::<WebhookDeliveryStatus>("status")?
            .map(WebhookDeliveryStatus::to_proto),
    };
    let response = gw
        .webhooks()
        .list_webhook_deliveries(ctx.request(request))
        .await
        .map_err(endpoint_path_error)?
        .into_inner();
    let data = response
        .deliveries
        .iter()
        .map(render::webhook_delivery)
        .collect();
    Ok(ok(render::list(data, response.page_info.as_ref())))
}

#[utoipa::path(
    operation_id = "RedeliverWebhookDelivery",
    post,
    path = "/api/v1/cloud/webhooks/deliveries/{id}/redeliver",
    tag = "webhooks",
    params(("id" = String, Path, description = "The delivery id (`whdl_` + 32 lowercase hex).")),
    responses(
        (status = 200, description = "The new delivery of the same event (`redelivery_of` set), pending.", body = runway_json::WebhookDeliveryJson),
        crate::error::ErrorResponses
    )
)]
pub async fn redeliver(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    body::empty(&headers, &body)?;
    let response = gw
        .webhooks()
        .redeliver_webhook_delivery(
            ctx.request(RedeliverWebhookDeliveryRequest { delivery_id: id }),
        )
        .await
        .map_err(|status| ApiError::from(status).rename_param("delivery_id", "id"))?;
    Ok(delivery(response.into_inner().delivery))
}
