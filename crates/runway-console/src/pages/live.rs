//! The live parts of pages, as server-sent events of rendered HTML: a
//! run's transcript as it is written, and the runs list as it changes
//! (pushed by the API's WatchRuns stream, not polled). The browser's
//! `EventSource` sends the session cookie (same origin), so the token never
//! reaches the script.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use maud::{Markup, html};
use runway_api::enums::EventType;
use runway_api::v1::{SessionEvent, StreamSessionEventsRequest, WatchRunsRequest};
use serde_json::Value;

use crate::api::Api;
use crate::failure::PageError;
use crate::format;

/// How often an open stream proves it is alive (proxies close idle ones).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Default, serde::Deserialize)]
pub struct TranscriptQuery {
    after: Option<String>,
}

/// `GET /runs/{id}/transcript`: the run's session events after `after`
/// (or the `Last-Event-ID` a reconnecting browser sends), each as an
/// `event` of rendered HTML, for as long as the browser listens.
pub async fn transcript(
    api: Api,
    Path(id): Path<String>,
    Query(q): Query<TranscriptQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let run = super::run::load(&api, &id).await?;
    let Some(session_id) = run.session_id else {
        return Err(PageError::NotFound);
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let stream = api
        .sessions()
        .stream_session_events(api.request(StreamSessionEventsRequest {
            session_id,
            after_id: resume.or(q.after).filter(|a| !a.is_empty()),
            types: Vec::new(),
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    // A failed stream (a revoked token, a closing server) just ends: the
    // browser reconnects, and a signed-out one is sent to sign in.
    let events = stream
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| async move {
            let event = message.ok()?.event?;
            let html = transcript_event(&event).into_string();
            Some(Ok::<_, Infallible>(
                Event::default()
                    .id(event.id.clone())
                    .event("transcript")
                    .data(html),
            ))
        });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// `GET /runs/live`: the runs page's table (same filters), sent again
/// whenever the API says the list changed.
pub async fn runs(
    api: Api,
    Query(filters): Query<super::runs::RunFilters>,
) -> Result<Response, PageError> {
    let list = filters.request(&super::Cursor::default(), super::runs::PAGE)?;
    let request = WatchRunsRequest {
        limit: Some(super::runs::PAGE),
        deployment_id: list.deployment_id,
        status: list.status,
        trigger_type: list.trigger_type,
        has_error: list.has_error,
    };
    let stream = api
        .deployments()
        .watch_runs(api.request(request))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    let pages = stream
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| async move {
            let page = message.ok()?;
            let html = super::runs::runs_table(&page.runs, true).into_string();
            Some(Ok::<_, Infallible>(
                Event::default().event("runs").data(html),
            ))
        });
    Ok(Sse::new(pages)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// One transcript entry: text as text, tool calls and thinking folded.
pub fn transcript_event(event: &SessionEvent) -> Markup {
    let kind = EventType::from_proto(event.r#type);
    let fields = event
        .fields
        .as_ref()
        .map(runway_api::json_value::struct_to_object)
        .unwrap_or_default();
    let name = kind.map_or("unknown", EventType::name);
    let when = format::time(event.created_at.as_ref());
    let body = match kind {
        Some(EventType::UserMessage | EventType::SystemMessage | EventType::AgentMessage) => {
            html! { div.text { (text_of(fields.get("content"))) } }
        }
        Some(EventType::AgentThinking) => folded(
            "Thinking",
            &text_of(fields.get("content").or(fields.get("thinking"))),
        ),
        Some(EventType::AgentToolUse | EventType::AgentCustomToolUse) => {
            let tool = fields
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("a tool");
            folded(&format!("Tool call: {tool}"), &pretty(fields.get("input")))
        }
        Some(EventType::AgentToolResult) => folded("Tool result", &text_of(fields.get("content"))),
        Some(EventType::SessionStatusRunning) => html! { p.status-line { "Working…" } },
        Some(EventType::SessionStatusIdle) => {
            let reason = fields
                .get("stop_reason")
                .and_then(|r| r.get("type").or(Some(r)))
                .and_then(Value::as_str)
                .unwrap_or("idle");
            html! { p.status-line { "Stopped: " (reason.replace('_', " ")) } }
        }
        _ => folded(name, &pretty(Some(&Value::Object(fields.clone())))),
    };
    html! {
        li class=(format!("event e-{}", name.replace('.', "-"))) id=(format!("evt-{}", event.id)) data-type=(name) {
            div.event-head { span.event-type { (name) } " " (when) }
            (body)
        }
    }
}

fn folded(summary: &str, content: &str) -> Markup {
    html! { details { summary { (summary) } pre { (content) } } }
}

/// The text of a message's `content`: a string, or text blocks joined.
fn text_of(content: Option<&Value>) -> String {
    match content {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| match b.get("text").and_then(Value::as_str) {
                Some(text) => text.to_string(),
                None => b.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
    }
}

fn pretty(value: Option<&Value>) -> String {
    value
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventType, fields: Value) -> SessionEvent {
        SessionEvent {
            id: "evt_1".into(),
            r#type: kind.to_proto(),
            fields: Some(runway_api::json_value::object_to_struct(
                fields.as_object().unwrap().clone(),
            )),
            ..SessionEvent::default()
        }
    }

    #[test]
    fn messages_are_text_and_tool_calls_fold() {
        let message = transcript_event(&event(
            EventType::AgentMessage,
            serde_json::json!({"content": [{"type": "text", "text": "<b>hi</b>"}]}),
        ))
        .into_string();
        assert!(
            message.contains(r#"<div class="text">&lt;b&gt;hi&lt;/b&gt;</div>"#),
            "{message}"
        );
        let tool = transcript_event(&event(
            EventType::AgentToolUse,
            serde_json::json!({"name": "search", "input": {"q": "x"}}),
        ))
        .into_string();
        assert!(tool.contains("<details><summary>Tool call: search</summary><pre>{\n  &quot;q&quot;: &quot;x&quot;\n}</pre></details>"), "{tool}");
    }
}
