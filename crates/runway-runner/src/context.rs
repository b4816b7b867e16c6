//! The run context an agent reads on stdin: the run, its initial events,
//! the deployment, the agent and the session, in the documented JSON shapes.

use runway_api::v1::Turn;
use runway_json as render;
use serde_json::json;

/// The run context the agent reads on stdin: the documented JSON shapes.
/// Its `initial_events` are those the run's session opened with (the
/// deployment's may have changed since; a server older than the field
/// sends none, and then they are the deployment's).
pub fn document(turn: &Turn) -> serde_json::Value {
    let deployment = render::deployment(&turn.deployment.clone().unwrap_or_default());
    let initial_events = if turn.initial_events.is_empty() {
        deployment.initial_events.clone()
    } else {
        turn.initial_events
            .iter()
            .map(render::initial_event)
            .collect()
    };
    json!({
        "run": turn.run.clone().map(render::run),
        "initial_events": initial_events,
        "deployment": deployment,
        "agent": turn.agent.as_ref().map(render::agent),
        "session_id": turn.session_id,
    })
}

#[cfg(test)]
mod tests {
    use runway_api::enums::InitialEventType;
    use runway_api::v1::{Deployment, InitialEvent};

    use super::*;

    fn said(text: &str) -> InitialEvent {
        InitialEvent {
            r#type: InitialEventType::UserMessage.to_proto(),
            content: Some(runway_api::json_value::to_proto(json!(text))),
        }
    }

    #[test]
    fn the_initial_events_are_those_the_session_opened_with() {
        let mut turn = Turn {
            deployment: Some(Deployment {
                initial_events: vec![said("changed since")],
                ..Default::default()
            }),
            initial_events: vec![said("as triggered")],
            ..Default::default()
        };
        let context = document(&turn);
        assert_eq!(
            context["initial_events"],
            json!([{"type": "user.message", "content": "as triggered"}])
        );
        assert_eq!(
            context["deployment"]["initial_events"],
            json!([{"type": "user.message", "content": "changed since"}])
        );
        // A server older than the field sends none: the deployment's.
        turn.initial_events.clear();
        assert_eq!(
            document(&turn)["initial_events"],
            json!([{"type": "user.message", "content": "changed since"}])
        );
    }
}
