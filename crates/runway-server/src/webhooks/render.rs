//! Event bodies: `{"id","type","created_at","data"}`, `data` the object as
//! the REST API renders it, rendered once in the transaction that causes
//! the event (so every attempt sends and signs the same bytes).

use runway_api::enums::WebhookEventType;
use runway_store::repo::webhooks::{Subject, WebhookRenderer};
use serde::Serialize;

use crate::convert;

/// The server's renderer, installed on the store at start.
pub struct Renderer;

impl WebhookRenderer for Renderer {
    fn body(
        &self,
        event_id: &str,
        kind: WebhookEventType,
        at: i64,
        subject: Subject<'_>,
    ) -> String {
        match subject {
            Subject::Run(run) => envelope(
                event_id,
                kind,
                at,
                runway_json::run(convert::run(run.clone())),
            ),
            Subject::Deployment(dep) => match convert::deployment(dep, at) {
                Ok(proto) => envelope(event_id, kind, at, runway_json::deployment(&proto)),
                // A stored schedule that no longer parses cannot happen (it
                // was validated); should it, the event still goes out.
                Err(_) => envelope(
                    event_id,
                    kind,
                    at,
                    serde_json::json!({"type": runway_json::DeploymentTag::VALUE, "id": dep.id}),
                ),
            },
            Subject::Endpoint(endpoint) => envelope(
                event_id,
                kind,
                at,
                runway_json::webhook_endpoint(&convert::webhook_endpoint(endpoint, None, at)),
            ),
        }
    }
}

/// The body, serialized straight from the typed object (rendering runs
/// inside the causing transaction: no intermediate JSON tree).
fn envelope(event_id: &str, kind: WebhookEventType, at: i64, data: impl Serialize) -> String {
    let event = runway_json::WebhookEventJson {
        created_at: runway_json::timestamp(&convert::timestamp(at)),
        data,
        id: event_id.to_string(),
        kind,
    };
    serde_json::to_string(&event).expect("event bodies serialize")
}
