//! Event bodies: `{"id","type","created_at","data"}`, `data` the object as
//! the REST API renders it, rendered once in the transaction that causes
//! the event (so every attempt sends and signs the same bytes).

use runway_api::enums::WebhookEventType;
use runway_store::repo::webhooks::{Subject, WebhookRenderer};
use serde_json::Value;

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
        let data = match subject {
            Subject::Run(run) => json(runway_json::run(&convert::run(run))),
            Subject::Deployment(dep) => match convert::deployment(dep, at) {
                Ok(proto) => json(runway_json::deployment(&proto)),
                // A stored schedule that no longer parses cannot happen (it
                // was validated); should it, the event still goes out.
                Err(_) => {
                    serde_json::json!({"type": runway_json::DeploymentTag::VALUE, "id": dep.id})
                }
            },
            Subject::Endpoint(endpoint) => json(runway_json::webhook_endpoint(
                &convert::webhook_endpoint(endpoint, None, at),
            )),
        };
        let event = runway_json::WebhookEventJson {
            created_at: runway_json::timestamp(&convert::timestamp(at)),
            data,
            id: event_id.to_string(),
            kind,
        };
        serde_json::to_string(&event).expect("event bodies serialize")
    }
}

fn json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("REST objects serialize")
}
