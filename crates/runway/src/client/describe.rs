//! A transcript's events as a person reads them (`runway runs logs`).

use runway_api::enums::EventType;
use serde_json::Value;

use super::terminal::{inert, inert_keeping_colours};

/// One event, readably: an agent's text as it printed it, the rest as one
/// summarized line.
pub fn describe(event: &Value) -> String {
    let kind = event["type"].as_str().unwrap_or_default();
    let text_of = |content: &Value| -> String {
        match content {
            Value::String(text) => text.clone(),
            Value::Array(blocks) => blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        }
    };
    let short = |value: &Value| -> String {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut chars = text.chars();
        let head: String = chars.by_ref().take(80).collect();
        if chars.next().is_some() {
            format!("{head}…")
        } else {
            head
        }
    };
    // Every line is the agent's or a runner's words: shown, never obeyed by
    // the terminal (an agent's colours alone pass).
    let line = match EventType::from_name(kind) {
        // Text as printed; a message that does not end a line (one the agent
        // sent as a JSON event, or its last line) ends one here, so the
        // next does not run on after it. (The runner cuts text at a line's
        // end; only a line longer than 256 KiB shows breaks at its cuts:
        // `--output json` is exact.)
        Some(EventType::AgentMessage) => {
            let mut text = text_of(&event["content"]);
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            return inert_keeping_colours(&text);
        }
        Some(EventType::AgentThinking) => format!("· thinking: {}\n", short(&event["thinking"])),
        Some(EventType::UserMessage | EventType::SystemMessage | EventType::UserDefineOutcome) => {
            format!("> {}\n", text_of(&event["content"]))
        }
        Some(EventType::UserInterrupt) => "> interrupt\n".to_string(),
        Some(EventType::AgentToolUse | EventType::AgentCustomToolUse) => format!(
            "→ {}({})\n",
            event["name"].as_str().unwrap_or("tool"),
            short(&event["input"])
        ),
        Some(EventType::AgentToolResult) => format!(
            "← {}{}\n",
            event["tool_use_id"].as_str().unwrap_or("tool"),
            if event["is_error"] == true {
                " failed"
            } else {
                ""
            }
        ),
        Some(EventType::SpanModelRequestStart) => "· model request\n".to_string(),
        Some(EventType::SpanModelRequestEnd) => {
            format!("· model request done {}\n", short(&event["usage"]))
        }
        Some(EventType::SessionStatusRunning) => "· running\n".to_string(),
        Some(EventType::SessionStatusIdle) => {
            let reason = &event["stop_reason"];
            match reason["error"]["message"].as_str() {
                Some(message) => format!(
                    "· idle ({}): {}\n",
                    reason["type"].as_str().unwrap_or_default(),
                    message
                ),
                None => format!("· idle ({})\n", reason["type"].as_str().unwrap_or_default()),
            }
        }
        Some(EventType::AgentArtifactDelivered) | None => format!("· {kind}\n"),
    };
    inert(&line, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::describe;

    #[test]
    fn an_agents_escape_sequences_are_shown_not_obeyed() {
        let hostile = "\u{1b}[31mred\u{1b}[0m\u{1b}]0;OWNED\u{7}\n";
        assert_eq!(
            describe(&json!({"type": "agent.message", "content": hostile})),
            "\u{1b}[31mred\u{1b}[0m\\u{1b}]0;OWNED\\u{7}\n"
        );
        assert_eq!(
            describe(&json!({"type": "agent.tool_use", "name": "x\u{1b}[2J", "input": {}})),
            "→ x\\u{1b}[2J({})\n"
        );
    }

    #[test]
    fn text_is_text_and_the_rest_is_one_line() {
        assert_eq!(
            describe(
                &json!({"type": "agent.message", "content": [{"type": "text", "text": "hi\n"}]})
            ),
            "hi\n"
        );
        assert_eq!(
            describe(
                &json!({"type": "agent.message", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
            ),
            "ab\n"
        );
        assert_eq!(
            describe(&json!({"type": "agent.message", "content": "plain"})),
            "plain\n"
        );
        assert_eq!(
            describe(&json!({"type": "agent.message", "content": []})),
            ""
        );
        assert_eq!(
            describe(&json!({"type": "agent.tool_use", "name": "grep", "input": {"q": "x"}})),
            "→ grep({\"q\":\"x\"})\n"
        );
        assert_eq!(
            describe(&json!({"type": "session.status_idle", "stop_reason": {"type": "end_turn"}})),
            "· idle (end_turn)\n"
        );
        assert_eq!(
            describe(&json!({"type": "user.message", "content": "go"})),
            "> go\n"
        );
    }
}
