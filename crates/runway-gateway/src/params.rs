//! The query and header parameters of the REST operations, as the OpenAPI
//! document describes them (the handlers parse them with `query::Query`,
//! which refuses anything else). An id or a cursor holds no NUL: its
//! `pattern` is `schemas::NO_NUL_PATTERN`, spelled out (the attribute takes a
//! literal; a test checks the document against it).

use runway_api::enums::{
    DeploymentStatus, EventType, RunStatus, SortOrder, TriggerType, WebhookDeliveryStatus,
};
use utoipa::IntoParams;

/// Paging, on every list: at most one of `page`, `after_id`, `before_id`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Items per page, 1–1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i32>,
    /// The `next_page` of a previous page.
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    page: Option<String>,
    /// The page of items that come right after (older than) this id.
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    after_id: Option<String>,
    /// The page of items that come right before (newer than) this id.
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    before_id: Option<String>,
}

/// `GET /deployments` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DeploymentFilters {
    status: Option<DeploymentStatus>,
    /// Archived deployments are hidden unless this is `true`.
    include_archived: Option<bool>,
    /// Deployments of this agent only.
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    agent_id: Option<String>,
}

/// `GET /deployments/{id}/runs` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DeploymentRunFilters {
    status: Option<RunStatus>,
    /// Runs triggered at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    triggered_after: Option<String>,
    /// Runs triggered before this instant (RFC 3339).
    #[param(format = DateTime)]
    triggered_before: Option<String>,
}

/// `GET /deployment_runs` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RunFilters {
    /// Runs of this deployment only.
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    deployment_id: Option<String>,
    status: Option<RunStatus>,
    trigger_type: Option<TriggerType>,
    /// Only runs with (`true`) or without (`false`) an error.
    has_error: Option<bool>,
    /// Runs triggered at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    triggered_after: Option<String>,
    /// Runs triggered before this instant (RFC 3339).
    #[param(format = DateTime)]
    triggered_before: Option<String>,
}

/// `GET /webhooks/endpoints/{id}/deliveries` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DeliveryFilters {
    /// Only deliveries in this status.
    status: Option<WebhookDeliveryStatus>,
}

/// `GET /agents` and `GET /environments` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ArchiveFilter {
    /// Archived resources are hidden unless this is `true`.
    include_archived: Option<bool>,
}

/// `GET /tokens` filter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RevokedFilter {
    /// Revoked tokens are hidden unless this is `true`.
    include_revoked: Option<bool>,
}

/// The optional `Idempotency-Key` of a POST that creates something.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKey {
    /// The same key with the same request within 24 h answers with the
    /// first request's resource; with another request, 400; while the
    /// first is in flight, 409. 1–255 printable ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    idempotency_key: Option<String>,
}

/// `GET /sessions/{id}/events`: paging by event, and filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventFilters {
    /// Events per page, 1–1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i32>,
    /// Only events after this one (in the session's order).
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    after_id: Option<String>,
    /// Only events before this one (in the session's order).
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    before_id: Option<String>,
    /// `asc` (oldest first, the default) or `desc`.
    order: Option<SortOrder>,
    /// Only events of these types (repeat the parameter for more).
    #[param(rename = "types[]", style = Form, explode)]
    types: Option<Vec<EventType>>,
    /// Only events of this type (added to `types[]`).
    #[param(rename = "type")]
    kind: Option<EventType>,
    /// Only events created at or after this instant (RFC 3339).
    #[param(rename = "created_at[gte]", format = DateTime)]
    created_at_gte: Option<String>,
    /// Only events created at or before this instant (RFC 3339).
    #[param(rename = "created_at[lte]", format = DateTime)]
    created_at_lte: Option<String>,
}

/// `GET /sessions/{id}/events/stream`: where to start and which events.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StreamFilters {
    /// Only events of these types (repeat the parameter for more).
    #[param(rename = "types[]", style = Form, explode)]
    types: Option<Vec<EventType>>,
    /// Only events of this type (added to `types[]`).
    #[param(rename = "type")]
    kind: Option<EventType>,
    /// Start after this event; `Last-Event-ID` wins when both are given.
    #[param(min_length = 1, pattern = "^[^\\u0000]*$")]
    after_id: Option<String>,
}

/// The resume position of a reconnecting SSE client.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct LastEventId {
    /// The last event id the client saw: the stream resumes right after it.
    #[param(rename = "Last-Event-ID", min_length = 1, nullable = false)]
    last_event_id: Option<String>,
}

#[cfg(test)]
mod tests {
    /// In the document generated, every id filter and paging anchor carries
    /// the schemas' no-NUL pattern (the server refuses a NUL with a 400).
    #[test]
    fn id_and_cursor_parameters_refuse_nul_as_the_schemas_do() {
        let document: serde_json::Value =
            serde_json::from_str(&crate::openapi::document()).unwrap();
        let mut seen = 0;
        for operation in document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|path| path.as_object().unwrap().values())
        {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if parameter["in"] == "query"
                    && ["page", "after_id", "before_id", "agent_id", "deployment_id"]
                        .contains(&name)
                {
                    seen += 1;
                    assert_eq!(
                        parameter["schema"]["pattern"],
                        crate::schemas::NO_NUL_PATTERN,
                        "{name}"
                    );
                }
            }
        }
        assert!(seen >= 10, "{seen} parameters");
    }
}
