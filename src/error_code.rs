//! The one table that ties a gRPC status code to the REST API's HTTP status
//! and envelope `error.type` (see docs/API.md, "Error envelope").

use tonic::Code;

use crate::enums::ApiErrorType;

/// How a gRPC status shows over REST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    /// The HTTP status code.
    pub status: u16,
    /// The envelope's `error.type`.
    pub error_type: ApiErrorType,
}

impl HttpError {
    const fn new(status: u16, error_type: ApiErrorType) -> Self {
        Self { status, error_type }
    }
}

/// The HTTP status and `error.type` for a non-OK gRPC code.
///
/// FAILED_PRECONDITION is 409 on purpose: the documented API answers 409 for a
/// paused or archived deployment (grpc-gateway would say 400).
pub const fn http_error_for(code: Code) -> HttpError {
    match code {
        Code::InvalidArgument | Code::OutOfRange => {
            HttpError::new(400, ApiErrorType::InvalidRequest)
        }
        Code::Unauthenticated => HttpError::new(401, ApiErrorType::Authentication),
        Code::PermissionDenied => HttpError::new(403, ApiErrorType::Permission),
        Code::NotFound => HttpError::new(404, ApiErrorType::NotFound),
        Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => {
            HttpError::new(409, ApiErrorType::Conflict)
        }
        Code::ResourceExhausted => HttpError::new(429, ApiErrorType::RateLimit),
        Code::Unimplemented => HttpError::new(501, ApiErrorType::FeatureNotAvailable),
        Code::Unavailable => HttpError::new(503, ApiErrorType::Overloaded),
        Code::DeadlineExceeded => HttpError::new(504, ApiErrorType::Api),
        // The client went away; nobody reads this answer, but it must not
        // look like the client's fault either.
        Code::Cancelled => HttpError::new(500, ApiErrorType::Api),
        Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => {
            HttpError::new(500, ApiErrorType::Api)
        }
    }
}

/// The HTTP status an answer of `error_type` has (its first row above): what
/// a client reports for an error that arrives inside a stream, without a
/// status line of its own.
pub const fn status_of(error_type: ApiErrorType) -> u16 {
    match error_type {
        ApiErrorType::InvalidRequest => 400,
        ApiErrorType::Authentication => 401,
        ApiErrorType::Permission => 403,
        ApiErrorType::NotFound => 404,
        ApiErrorType::Conflict => 409,
        ApiErrorType::RateLimit => 429,
        ApiErrorType::Api => 500,
        ApiErrorType::FeatureNotAvailable => 501,
        ApiErrorType::Overloaded => 503,
    }
}

/// What a stream the server ends as it stops says (gRPC UNAVAILABLE, REST
/// 503 `overloaded_error`), whichever of the server or a standalone
/// gateway stops.
pub const SHUTTING_DOWN_MESSAGE: &str = "The server is shutting down; reconnect.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_s_status_is_one_its_codes_map_to() {
        for code in (0..=16).map(Code::from_i32).filter(|c| *c != Code::Ok) {
            let mapped = http_error_for(code);
            let expected = if code == Code::DeadlineExceeded {
                504 // api_error's second status
            } else {
                status_of(mapped.error_type)
            };
            assert_eq!(mapped.status, expected, "{code:?}");
        }
    }

    #[test]
    fn every_documented_code_maps_as_api_md_says() {
        let table = [
            (Code::InvalidArgument, 400, "invalid_request_error"),
            (Code::OutOfRange, 400, "invalid_request_error"),
            (Code::Unauthenticated, 401, "authentication_error"),
            (Code::PermissionDenied, 403, "permission_error"),
            (Code::NotFound, 404, "not_found_error"),
            (Code::FailedPrecondition, 409, "conflict_error"),
            (Code::Aborted, 409, "conflict_error"),
            (Code::AlreadyExists, 409, "conflict_error"),
            (Code::ResourceExhausted, 429, "rate_limit_error"),
            (Code::Internal, 500, "api_error"),
            (Code::Unknown, 500, "api_error"),
            (Code::DataLoss, 500, "api_error"),
            (Code::Unimplemented, 501, "feature_not_available"),
            (Code::Unavailable, 503, "overloaded_error"),
            (Code::DeadlineExceeded, 504, "api_error"),
        ];
        for (code, status, error_type) in table {
            let mapped = http_error_for(code);
            assert_eq!(
                (mapped.status, mapped.error_type.name()),
                (status, error_type),
                "{code:?}"
            );
        }
    }
}
