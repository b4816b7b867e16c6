//! `/healthz` (the process answers) and `/readyz` (the server behind the
//! gateway reports SERVING, i.e. its database answers). No auth.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use super::shared::ok;
use crate::Gateway;
use crate::error::ApiError;

pub async fn healthz() -> Response {
    ok(json!({"status": "ok"}))
}

pub async fn readyz(State(gw): State<Gateway>) -> Response {
    let check = gw
        .health()
        .check(tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        }))
        .await;
    match check.map(|r| r.into_inner().status()) {
        Ok(ServingStatus::Serving) => ok(json!({"status": "ready"})),
        Ok(_) => ApiError::unavailable("The database does not answer.").into_response(),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "readiness check failed");
            ApiError::unavailable("The gRPC server does not answer.").into_response()
        }
    }
}
