//! One transcript entry rendered as HTML: the run page's first render and
//! the live transcript's pushed events are the same markup.

use maud::{Markup, html};
use runway_api::enums::EventType;
use runway_api::v1::SessionEvent;
use serde_json::Value;

use crate::format;

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
pub(super) fn text_of(content: Option<&Value>) -> String {
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
