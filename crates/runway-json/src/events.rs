//! A session's transcript as the REST API renders it: events, their
//! lists, and what a user sent.

use std::collections::BTreeMap;

use runway_api::enums::EventType;
use runway_api::json_value;
use runway_api::v1;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{member, ts_or_empty};

/// One event of a session's transcript. The type-specific fields (e.g.
/// `content`, `stop_reason`) sit beside the common ones.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SessionEvent)]
pub struct SessionEventJson {
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(pattern = "^evt_[0-9a-f]{32}$")]
    pub id: String,
    #[schema(format = DateTime)]
    pub processed_at: String,
    /// Always `1.0`.
    pub schema_version: String,
    #[schema(pattern = "^sess_[0-9a-f]{32}$")]
    pub session_id: String,
    /// The turn the event belongs to; null outside a turn.
    #[schema(required = true)]
    pub turn_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(flatten)]
    #[schema(inline)]
    pub fields: BTreeMap<String, Value>,
}

pub fn event(e: &v1::SessionEvent) -> SessionEventJson {
    let mut fields: BTreeMap<String, Value> = e
        .fields
        .as_ref()
        .map(json_value::struct_to_object)
        .unwrap_or_default()
        .into_iter()
        .collect();
    // The common fields win over a type-specific field of the same name.
    for common in runway_api::STAMPED_EVENT_FIELDS {
        fields.remove(common);
    }
    SessionEventJson {
        created_at: ts_or_empty(e.created_at.as_ref()),
        id: e.id.clone(),
        processed_at: ts_or_empty(e.processed_at.as_ref()),
        schema_version: e.schema_version.clone(),
        session_id: e.session_id.clone(),
        turn_id: e.turn_id.clone(),
        kind: member(e.r#type, EventType::from_proto, EventType::ALL),
        fields,
    }
}

/// A page of a session's events.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SessionEventList)]
pub struct SessionEventListJson {
    pub data: Vec<SessionEventJson>,
    /// The id of the page's first event; null when the page is empty.
    #[schema(required = true)]
    pub first_id: Option<String>,
    pub has_more: bool,
    /// The id of the page's last event; null when the page is empty.
    #[schema(required = true)]
    pub last_id: Option<String>,
}

pub fn event_list(response: &v1::ListSessionEventsResponse) -> SessionEventListJson {
    SessionEventListJson {
        data: response.events.iter().map(event).collect(),
        first_id: response.first_id.clone(),
        has_more: response.has_more,
        last_id: response.last_id.clone(),
    }
}

/// The events a user sent, as recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SentEvents)]
pub struct SentEventsJson {
    pub data: Vec<SessionEventJson>,
}

pub fn sent_events(response: &v1::SendSessionEventsResponse) -> SentEventsJson {
    SentEventsJson {
        data: response.events.iter().map(event).collect(),
    }
}
