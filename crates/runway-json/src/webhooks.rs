//! Webhook endpoints and deliveries, and the body every webhook carries.

use runway_api::enums::{WebhookDeliveryStatus, WebhookDisabledReason, WebhookEventType};
use runway_api::v1;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    WebhookDeliveryTag, WebhookEndpointDeletedTag, WebhookEndpointTag, member, ts, ts_or_empty,
};

/// A URL the service POSTs signed events to.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct WebhookEndpointJson {
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// Why it is disabled; `null` while enabled.
    #[schema(required = true)]
    pub disabled_reason: Option<WebhookDisabledReason>,
    pub enabled: bool,
    /// The event types sent to it; `["*"]` means every type.
    pub event_types: Vec<WebhookEventType>,
    /// When its deliveries started failing with no success since; `null` while they succeed.
    #[schema(required = true, format = DateTime)]
    pub failing_since: Option<String>,
    #[schema(pattern = "^whep_[0-9a-f]{32}$")]
    pub id: String,
    /// Until when the secret before the last rotation still signs beside the new one.
    #[schema(required = true, format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
    /// Present only in the answers of create and rotate_secret: `whsec_` + base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^whsec_[A-Za-z0-9+/=]+$")]
    pub signing_secret: Option<String>,
    #[serde(rename = "type")]
    pub kind: WebhookEndpointTag,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub url: String,
}

pub fn webhook_endpoint(e: &v1::WebhookEndpoint) -> WebhookEndpointJson {
    WebhookEndpointJson {
        created_at: ts_or_empty(e.created_at.as_ref()),
        description: e.description.clone(),
        disabled_reason: e
            .disabled_reason
            .and_then(WebhookDisabledReason::from_proto),
        enabled: e.enabled,
        event_types: e
            .event_types
            .iter()
            .filter_map(|t| WebhookEventType::from_proto(*t))
            .collect(),
        failing_since: ts(e.failing_since.as_ref()),
        id: e.id.clone(),
        previous_secret_expires_at: ts(e.previous_secret_expires_at.as_ref()),
        signing_secret: e.signing_secret.clone(),
        kind: WebhookEndpointTag,
        updated_at: ts_or_empty(e.updated_at.as_ref()),
        url: e.url.clone(),
    }
}

/// The answer of a delete.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WebhookEndpointDeleted)]
pub struct WebhookEndpointDeletedJson {
    #[schema(pattern = "^whep_[0-9a-f]{32}$")]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: WebhookEndpointDeletedTag,
}

pub fn webhook_endpoint_deleted(id: &str) -> WebhookEndpointDeletedJson {
    WebhookEndpointDeletedJson {
        id: id.to_string(),
        kind: WebhookEndpointDeletedTag,
    }
}

/// One try at sending a delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WebhookAttempt)]
pub struct WebhookAttemptJson {
    #[schema(format = DateTime)]
    pub attempted_at: String,
    /// Why no answer counted when none came (timeout, refused connection…); `null` when one came.
    #[schema(required = true)]
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The first 1 KiB of the answer's body.
    pub response_body: String,
    /// The answer's HTTP status; `null` when no answer came.
    #[schema(required = true)]
    pub status_code: Option<i32>,
}

/// One event on its way to one endpoint, with the attempts so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct WebhookDeliveryJson {
    /// Oldest first.
    pub attempts: Vec<WebhookAttemptJson>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(pattern = "^whep_[0-9a-f]{32}$")]
    pub endpoint_id: String,
    /// The `webhook-id` header: the same on every attempt and redelivery.
    #[schema(pattern = "^evt_[0-9a-f]{32}$")]
    pub event_id: String,
    pub event_type: WebhookEventType,
    #[schema(pattern = "^whdl_[0-9a-f]{32}$")]
    pub id: String,
    /// When the next attempt is due; `null` once it succeeded or failed.
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// The delivery this one sends again; `null` for a first delivery.
    #[schema(required = true)]
    pub redelivery_of: Option<String>,
    pub status: WebhookDeliveryStatus,
    #[serde(rename = "type")]
    pub kind: WebhookDeliveryTag,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

pub fn webhook_delivery(d: &v1::WebhookDelivery) -> WebhookDeliveryJson {
    WebhookDeliveryJson {
        attempts: d
            .attempts
            .iter()
            .map(|a| WebhookAttemptJson {
                attempted_at: ts_or_empty(a.attempted_at.as_ref()),
                error: a.error.clone(),
                latency_ms: a.latency_ms,
                response_body: a.response_body.clone(),
                status_code: a.status_code,
            })
            .collect(),
        created_at: ts_or_empty(d.created_at.as_ref()),
        endpoint_id: d.endpoint_id.clone(),
        event_id: d.event_id.clone(),
        event_type: member(
            d.event_type,
            WebhookEventType::from_proto,
            WebhookEventType::ALL,
        ),
        id: d.id.clone(),
        next_attempt_at: ts(d.next_attempt_at.as_ref()),
        redelivery_of: d.redelivery_of.clone(),
        status: member(
            d.status,
            WebhookDeliveryStatus::from_proto,
            WebhookDeliveryStatus::ALL,
        ),
        kind: WebhookDeliveryTag,
        updated_at: ts_or_empty(d.updated_at.as_ref()),
    }
}

/// The body of every webhook: a thin envelope around the object the event
/// is about, as the REST API renders it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = WebhookEvent)]
pub struct WebhookEventJson<T: Serialize> {
    #[schema(format = DateTime)]
    pub created_at: String,
    /// A deployment run, a deployment or a webhook endpoint, by `type`.
    pub data: T,
    /// The `webhook-id` header.
    #[schema(pattern = "^evt_[0-9a-f]{32}$")]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: WebhookEventType,
}
