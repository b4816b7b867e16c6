//! The error envelope: every non-2xx answer of the API, whether it comes
//! from an RPC status, a malformed request, or the router itself.
//!
//! Handlers and fallbacks return [`ApiError`]; one middleware renders it
//! with the request id, and turns any other error response (a rejection
//! axum produced on its own) into an envelope too.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runway_api::ERROR_DOMAIN;
use runway_api::enums::ApiErrorType;
use runway_api::error_code::http_error_for;
use runway_json::ErrorTag;
use tonic_types::StatusExt;
use utoipa::ToSchema;

use crate::context::RequestId;

/// The envelope of every non-2xx answer.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct ErrorEnvelope {
    #[serde(rename = "type")]
    pub kind: ErrorTag,
    pub error: ErrorBody,
    /// The request's `x-request-id`.
    pub request_id: String,
}

/// What went wrong.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: ApiErrorType,
    pub message: String,
    /// The one field to blame, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

/// The error answers every route may give, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ErrorResponses {
    /// Malformed JSON, a wrong type, an unknown field, a bad value.
    #[response(status = 400)]
    BadRequest(ErrorEnvelope),
    /// Missing, malformed or unknown token.
    #[response(status = 401)]
    Unauthenticated(ErrorEnvelope),
    /// The token's scope does not allow the call (e.g. a `read` token that
    /// writes), or a runner token names an environment not on it.
    #[response(status = 403)]
    Forbidden(ErrorEnvelope),
    /// No such resource in the caller's organization (malformed ids too).
    #[response(status = 404)]
    NotFound(ErrorEnvelope),
    /// A method the path does not serve (with an `Allow` header).
    #[response(status = 405)]
    MethodNotAllowed(ErrorEnvelope),
    /// The resource's state forbids the call (paused, archived, terminal…).
    #[response(status = 409)]
    Conflict(ErrorEnvelope),
    /// Request headers over 64 KiB in all.
    #[response(status = 431)]
    HeadersTooLarge(ErrorEnvelope),
    /// The token's rate limit is exceeded; retry after `Retry-After` seconds.
    #[response(
        status = 429,
        headers(("Retry-After" = u64, description = "Seconds to wait before the next request."))
    )]
    TooManyRequests(ErrorEnvelope),
    /// An internal error; details are logged, not returned.
    #[response(status = 500)]
    Internal(ErrorEnvelope),
    /// A call the gRPC server does not implement (a standalone gateway in
    /// front of an older server).
    #[response(status = 501)]
    NotImplemented(ErrorEnvelope),
    /// The service cannot answer now: it is stopping, or (a standalone
    /// gateway) its gRPC server does not answer. Retry, here or elsewhere.
    #[response(status = 503)]
    Unavailable(ErrorEnvelope),
    /// The call did not end within its deadline.
    #[response(status = 504)]
    DeadlineExceeded(ErrorEnvelope),
}
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    error_type: ApiErrorType,
    message: String,
    param: Option<String>,
    /// A rate limit's wait, sent as `Retry-After`.
    retry_after: Option<std::time::Duration>,
}

impl ApiError {
    /// A 400 `invalid_request_error`, naming the field to blame if one is.
    pub fn invalid(param: Option<String>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error_type: ApiErrorType::InvalidRequest,
            message: message.into(),
            param,
            retry_after: None,
        }
    }

    /// A 503 `overloaded_error`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error_type: ApiErrorType::Overloaded,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error_type: ApiErrorType::NotFound,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// Renames the blamed field: the RPC names path ids by their proto
    /// field (`deployment_id`), the REST route by its path segment (`id`).
    /// A body past [`crate::MAX_BODY_BYTES`] (docs/API.md: 400).
    pub(crate) fn body_too_large() -> Self {
        Self::invalid(None, "Request body exceeds 32 MiB.")
    }

    pub fn rename_param(mut self, from: &str, to: &str) -> Self {
        if self.param.as_deref() == Some(from) {
            self.param = Some(to.to_string());
        }
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message, in the API's words.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field to blame, as the envelope names it.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The envelope of this error in the answer to request `request_id`.
    pub fn envelope(&self, request_id: String) -> ErrorEnvelope {
        ErrorEnvelope {
            kind: ErrorTag,
            error: ErrorBody {
                kind: self.error_type,
                message: self.message.clone(),
                param: self.param.clone(),
            },
            request_id,
        }
    }
}

/// Proto field paths as the JSON body and query string spell them.
fn json_param(proto_path: &str) -> String {
    if let Some(rest) = proto_path.strip_prefix("page.") {
        return rest.to_string();
    }
    if let Some(rest) = proto_path.strip_prefix("config.") {
        return format!("metadata.cas_config.config.{rest}");
    }
    if let Some(rest) = proto_path.strip_prefix("retention.") {
        return format!("metadata.cas_config.retention.{rest}");
    }
    if proto_path == "types" {
        return "types[]".to_string();
    }
    if proto_path == "session_strategy" {
        return "metadata.cas_config.session_strategy".to_string();
    }
    proto_path.to_string()
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let mapped = http_error_for(status.code());
        let http = StatusCode::from_u16(mapped.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let details = status.get_error_details();
        let info = details.error_info().filter(|i| i.domain == ERROR_DOMAIN);
        let retry_after = details.retry_info().and_then(|r| r.retry_delay);
        let param = match details.bad_request() {
            Some(bad) if bad.field_violations.len() == 1 => {
                Some(bad.field_violations[0].field.clone())
            }
            _ => info.and_then(|i| i.metadata.get("param").cloned()),
        };
        // Only runway's own errors speak to the client; a transport failure
        // (connection refused, reset…) must not leak its internals.
        let message = if info.is_none() && http.is_server_error() {
            tracing::warn!(code = ?status.code(), message = status.message(), "gRPC call failed");
            match http {
                StatusCode::SERVICE_UNAVAILABLE => {
                    "The service is temporarily unavailable.".to_string()
                }
                StatusCode::GATEWAY_TIMEOUT => "The request timed out.".to_string(),
                _ => "An internal error occurred.".to_string(),
            }
        } else {
            status.message().to_string()
        };
        ApiError {
            status: http,
            error_type: mapped.error_type,
            message,
            param: param.map(|p| json_param(&p)),
            retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Fallback for paths no route serves.
pub async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No route for {method} {}", uri.path()))
}

/// Fallback for a known path with a method it does not serve; axum adds
/// the `Allow` header.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        error_type: ApiErrorType::InvalidRequest,
        message: format!("Method {method} is not allowed on {}", uri.path()),
        param: None,
        retry_after: None,
    }
}

/// Answers 401 at once when an API request carries no `Authorization`
/// header, before its body is read: a request without credentials learns
/// nothing about what else is wrong with it.
pub async fn require_credentials(request: Request, next: Next) -> Response {
    let public = request.uri().path().ends_with("/openapi.json");
    if !public && !request.headers().contains_key(header::AUTHORIZATION) {
        return ApiError {
            status: StatusCode::UNAUTHORIZED,
            error_type: ApiErrorType::Authentication,
            message: "Invalid API key or token.".to_string(),
            param: None,
            retry_after: None,
        }
        .into_response();
    }
    next.run(request).await
}

/// The most of a refused body the gateway reads, to throw it away.
const DRAIN_BYTES: u64 = 256 * 1024 * 1024;
/// How long it spends reading one.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Refuses a body its `Content-Length` puts over [`crate::MAX_BODY_BYTES`]
/// (the documented 400) after reading it to the end: a server that answers
/// and closes with the body still arriving makes the client's TCP reset
/// the connection, and the answer is lost with it. Bodies past 256 MiB, or
/// that take over 30 s, are not waited for.
pub async fn refuse_oversized(request: Request, next: Next) -> Response {
    use futures::StreamExt;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match declared {
        Some(length) if length > crate::MAX_BODY_BYTES as u64 => {
            if length <= DRAIN_BYTES {
                let mut body = request.into_body().into_data_stream();
                let _ = tokio::time::timeout(DRAIN_TIME, async {
                    while let Some(Ok(_)) = body.next().await {}
                })
                .await;
            }
            // Enveloped by `render_envelopes`, as axum's own 413 is.
            StatusCode::PAYLOAD_TOO_LARGE.into_response()
        }
        _ => next.run(request).await,
    }
}

/// Refuses a request whose headers add up to more than
/// [`crate::MAX_HEADER_BYTES`]: 431, in the envelope.
pub async fn limit_headers(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > crate::MAX_HEADER_BYTES {
        return ApiError {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            error_type: ApiErrorType::InvalidRequest,
            message: format!(
                "Request headers exceed {} KiB.",
                crate::MAX_HEADER_BYTES / 1024
            ),
            param: None,
            retry_after: None,
        }
        .into_response();
    }
    next.run(request).await
}

/// Renders every error response as the documented envelope.
pub async fn render_envelopes(request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let response = next.run(request).await;
    let error = match response.extensions().get::<ApiError>() {
        Some(error) => error.clone(),
        None if response.status().is_client_error() || response.status().is_server_error() => {
            from_bare_status(response.status())
        }
        None => return response,
    };
    let body = serde_json::to_string(&error.envelope(request_id)).unwrap_or_default();
    let (mut parts, _) = response.into_parts();
    if let Some(wait) = error.retry_after {
        parts
            .headers
            .insert(header::RETRY_AFTER, retry_after_seconds(wait));
    }
    parts.status = error.status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// `Retry-After` in whole seconds (the header has no fractions), rounded
/// up so a client that waits that long is let in.
fn retry_after_seconds(wait: std::time::Duration) -> HeaderValue {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(seconds.max(1))
}

/// An envelope for an error response that axum (not a handler) produced.
fn from_bare_status(status: StatusCode) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::body_too_large(),
        StatusCode::NOT_FOUND => ApiError::not_found("Not found."),
        StatusCode::METHOD_NOT_ALLOWED => ApiError {
            status,
            error_type: ApiErrorType::InvalidRequest,
            message: "Method not allowed.".to_string(),
            param: None,
            retry_after: None,
        },
        s if s.is_client_error() => ApiError {
            status: StatusCode::BAD_REQUEST,
            error_type: ApiErrorType::InvalidRequest,
            message: s.canonical_reason().unwrap_or("Bad request").to_string(),
            param: None,
            retry_after: None,
        },
        s => ApiError {
            status: s,
            error_type: ApiErrorType::Api,
            message: "An internal error occurred.".to_string(),
            param: None,
            retry_after: None,
        },
    }
}
