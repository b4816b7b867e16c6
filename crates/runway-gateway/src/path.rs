//! Path ids. A path segment that does not even decode (invalid UTF-8 after
//! percent-decoding) cannot name a resource: it answers 404 in the envelope,
//! as a malformed id does (docs/API.md), instead of axum's bare 400.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// axum's `Path`, with a 404 envelope for a segment that does not decode.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                tracing::debug!(%rejection, "undecodable path");
                Err(ApiError::not_found(format!(
                    "No resource at {}: its id is malformed.",
                    parts.uri.path()
                )))
            }
        }
    }
}
