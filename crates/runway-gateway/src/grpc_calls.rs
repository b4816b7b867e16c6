//! gRPC calls that reached the REST port — a runner or a gRPC client given
//! the REST address (`--http-addr`) instead of the gRPC one. Answered in
//! gRPC, UNIMPLEMENTED with the reason `GRPC_ON_REST_PORT`, so the client
//! says what is wrong: otherwise it reads the console's or the API's answer
//! as gRPC frames and reports "invalid compression flag", retrying forever.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;
use runway_api::ERROR_DOMAIN;
use runway_api::enums::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// What such a call is told.
const GRPC_ON_REST_PORT_MESSAGE: &str = "This is runway's REST port (HTTP/JSON under /api/v1/cloud). \
     gRPC clients and runners connect to its gRPC port (`runway serve --grpc-addr`, 127.0.0.1:50051 by default).";

/// Whether `request` is a gRPC call (any `application/grpc…` content type).
fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// Answers a gRPC call with its status; passes everything else on.
pub async fn answer_grpc_calls(request: Request, next: Next) -> Response {
    if !is_grpc(&request) {
        return next.run(request).await;
    }
    Status::with_error_details(
        Code::Unimplemented,
        GRPC_ON_REST_PORT_MESSAGE,
        ErrorDetails::with_error_info(
            ErrorReason::GrpcOnRestPort.name(),
            ERROR_DOMAIN,
            HashMap::new(),
        ),
    )
    .into_http()
}
