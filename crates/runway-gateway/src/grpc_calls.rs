//! gRPC calls that reached the REST port — a runner or a gRPC client given
//! the REST address (`--http-addr`) instead of the gRPC one. Answered in
//! gRPC, UNIMPLEMENTED with the reason `GRPC_ON_REST_PORT`, so the client
//! says what is wrong: otherwise it reads the console's or the API's answer
//! as gRPC frames and reports "invalid compression flag", retrying forever.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;
use runway_api::ERROR_DOMAIN;
use runway_api::enums::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// What such a call is told, given where gRPC is: `grpc` completes "gRPC
/// clients and runners connect to …", e.g. "its gRPC port (0.0.0.0:50051,
/// `runway serve --grpc-addr`)".
#[derive(Clone)]
pub struct GrpcElsewhere(Arc<str>);

impl GrpcElsewhere {
    pub fn new(grpc: impl std::fmt::Display) -> Self {
        Self(
            format!(
                "This is runway's REST port (HTTP/JSON under /api/v1/cloud). \
                 gRPC clients and runners connect to {grpc}."
            )
            .into(),
        )
    }
}

/// Whether `request` is a gRPC call (any `application/grpc…` content type).
fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// Answers a gRPC call with its status; passes everything else on.
pub async fn answer_grpc_calls(
    State(told): State<GrpcElsewhere>,
    request: Request,
    next: Next,
) -> Response {
    if !is_grpc(&request) {
        return next.run(request).await;
    }
    Status::with_error_details(
        Code::Unimplemented,
        told.0.as_ref(),
        ErrorDetails::with_error_info(
            ErrorReason::GrpcOnRestPort.name(),
            ERROR_DOMAIN,
            HashMap::new(),
        ),
    )
    .into_http()
}
