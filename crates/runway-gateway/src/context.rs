//! What a handler forwards from the HTTP request to the RPC: the caller's
//! token, its `Idempotency-Key` and the request id.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tonic::metadata::{MetadataMap, MetadataValue};

/// The header (and gRPC metadata key) that carries the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The request id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Echoes a sane client `x-request-id` (or makes one) on the request and
/// on the response.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::now_v7().simple()));
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    response.extensions_mut().insert(RequestId(id.clone()));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The headers a call forwards as gRPC metadata.
#[derive(Debug, Clone)]
pub struct CallContext {
    metadata: MetadataMap,
    request_id: String,
}

const FORWARDED: [&str; 3] = ["authorization", "idempotency-key", REQUEST_ID];

impl CallContext {
    fn from_headers(headers: &HeaderMap, request_id: Option<&RequestId>) -> Self {
        let mut metadata = MetadataMap::new();
        // Every value, so the service sees (and refuses) a header sent twice.
        for name in FORWARDED {
            for value in headers.get_all(name) {
                if let Ok(value) = MetadataValue::try_from(value.as_bytes()) {
                    metadata.append(name, value);
                }
            }
        }
        if let Some(RequestId(id)) = request_id
            && let Ok(value) = MetadataValue::try_from(id.as_str())
        {
            metadata.insert(REQUEST_ID, value);
        }
        Self {
            metadata,
            request_id: request_id.map(|r| r.0.clone()).unwrap_or_default(),
        }
    }

    /// The request's id, as its answer's `x-request-id` says.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// A gRPC request carrying `message` and the forwarded metadata.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        request
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CallContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CallContext::from_headers(
            &parts.headers,
            parts.extensions.get::<RequestId>(),
        ))
    }
}
