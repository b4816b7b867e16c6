//! `/sessions/{id}`: the session a run executes in, and its events.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use runway_api::enums::{EventType, SortOrder};
use runway_api::v1::{
    GetSessionRequest, ListSessionEventsRequest, SendSessionEventsRequest,
    StreamSessionEventsRequest, UserEvent,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

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

/// The header a reconnecting SSE client sends: the last event id it saw.
const LAST_EVENT_ID: &str = "last-event-id";

#[utoipa::path(
    operation_id = "StreamSessionEvents",
    get,
    path = "/api/v1/cloud/sessions/{id}/events/stream",
    tag = "sessions",
    params(("id" = String, Path, description = "The session id (sess_ + 32 lowercase hex)."), crate::params::StreamFilters, crate::params::LastEventId),
    responses(
        (status = 200, description = "Server-Sent Events: each message is `id: evt_…`, `event: <type>`, `data: <the event as one JSON line>`; the history after `Last-Event-ID` (or all of it) first, then each new event; a `heartbeat` message (`data: {}`) about every 15 s; a stream that fails once begun (its token revoked or expired) ends with an `error` message whose data is the error envelope, and so does one the server ends as it stops (503 `overloaded_error`: reconnect).", content_type = "text/event-stream", body = crate::schemas::SessionStreamMessage),
        crate::error::ErrorResponses
    )
)]
pub async fn stream_events(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse_only(raw.as_deref(), &["types[]", "type", "after_id"])?;
    let mut types: Vec<EventType> = q.members("types[]")?;
    types.extend(q.member::<EventType>("type")?);
    // A reconnecting client resumes where it stopped, whatever the query says.
    let resume = headers
        .get(LAST_EVENT_ID)
        .map(|v| {
            v.to_str().map(str::to_string).map_err(|_| {
                ApiError::invalid(
                    Some("Last-Event-ID".into()),
                    "Last-Event-ID must be an event id.",
                )
            })
        })
        .transpose()?
        .filter(|v| !v.is_empty());
    // A bad resume point is named as the client gave it.
    let after_param = if resume.is_some() {
        "Last-Event-ID"
    } else {
        "after_id"
    };
    let request = StreamSessionEventsRequest {
        session_id: id,
        after_id: resume.or_else(|| q.string("after_id")),
        types: types.into_iter().map(EventType::to_proto).collect(),
    };
    let stream = gw
        .sessions()
        .stream_session_events(ctx.request(request))
        .await
        .map_err(|s| {
            ApiError::from(s)
                .rename_param("session_id", "id")
                .rename_param("after_id", after_param)
        })?
        .into_inner();
    Ok(crate::sse::respond(&gw, &ctx, stream, |message| {
        let event = render::event(&message.event.unwrap_or_default());
        SseEvent::default()
            .id(event.id.clone())
            .event(event.kind.name())
            .json_data(&event)
    }))
}

/// The body of `POST /sessions/{id}/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SendSessionEventsBody)]
pub struct SendBody {
    /// The events to send, in order; a deployment session takes one `user.interrupt`.
    #[schema(value_type = Vec<UserEventInput>, min_items = 1, max_items = 50)]
    events: Vec<Map<String, Value>>,
}

/// An event a user sends: its `type` and its type-specific fields.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UserEventInput {
    #[schema(rename = "type")]
    kind: EventType,
    #[schema(inline)]
    #[serde(flatten)]
    fields: std::collections::BTreeMap<String, Value>,
}

#[utoipa::path(
    operation_id = "SendSessionEvents",
    post,
    path = "/api/v1/cloud/sessions/{id}/events",
    tag = "sessions",
    params(("id" = String, Path, description = "The session id (sess_ + 32 lowercase hex).")),
    request_body = SendBody,
    responses((status = 202, description = "Accepted: the events as recorded", body = runway_json::SentEventsJson), crate::error::ErrorResponses)
)]
pub async fn send_events(
    State(gw): State<Gateway>,
    ctx: CallContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    crate::request_body::RequestBody(body): crate::request_body::RequestBody,
) -> Result<Response, ApiError> {
    let b: SendBody = crate::body::required(&headers, &body)?;
    let events = b
        .events
        .into_iter()
        .enumerate()
        .map(|(i, mut fields)| {
            let kind = match fields.remove("type") {
                Some(Value::String(name)) => EventType::from_name(&name),
                _ => None,
            }
            .ok_or_else(|| {
                ApiError::invalid(
                    Some(format!("events[{i}].type")),
                    format!("type must be {}.", EventType::expected()),
                )
            })?;
            Ok(UserEvent {
                r#type: kind.to_proto(),
                fields: Some(runway_api::json_value::object_to_struct(fields)),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let response = gw
        .sessions()
        .send_session_events(ctx.request(SendSessionEventsRequest {
            session_id: id,
            events,
        }))
        .await
        .map_err(|s| ApiError::from(s).rename_param("session_id", "id"))?;
    let sent = render::sent_events(&response.into_inner());
    Ok((axum::http::StatusCode::ACCEPTED, axum::Json(sent)).into_response())
}
