//! A request's body, read whole before it is parsed (`body.rs`). A body
//! that cannot be read is answered in the envelope with why: too large, or
//! stopped arriving (the idle timeout), rather than a bare "Bad Request".

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use bytes::Bytes;

use crate::error::ApiError;

/// The whole body of a request.
pub struct RequestBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(RequestBody)
            .map_err(|rejection| unreadable(&rejection))
    }
}

/// Why a body could not be read, for its sender.
fn unreadable(rejection: &axum::extract::rejection::BytesRejection) -> ApiError {
    if stopped_arriving(rejection) {
        return ApiError::invalid(
            None,
            "The request body stopped arriving: nothing came for longer than the server's idle timeout.",
        );
    }
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::body_too_large();
    }
    ApiError::invalid(
        None,
        format!(
            "The request body could not be read: {}",
            rejection.body_text()
        ),
    )
}

/// Whether the body timed out (tower-http's `RequestBodyTimeout`).
fn stopped_arriving(rejection: &axum::extract::rejection::BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = err.source();
    }
    false
}
