//! Where a signed-out browser was going: a page asked for without a
//! sign-in (a shared link, a sign-in that ended) is sent to sign in with
//! `next=` naming it, and the sign-in goes there instead of the overview.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::pages::encode;

/// The longest destination kept (a page's path and query).
const MAX_NEXT: usize = 2048;

/// Adds `next=<the page asked for>` to a redirect to sign in that a page
/// (a GET, not a live stream) answered.
pub async fn remember(request: Request, next: Next) -> Response {
    let is_page = request.method() == Method::GET
        && !request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/event-stream"));
    let wanted = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut response = next.run(request).await;
    if !is_page || response.status() != StatusCode::SEE_OTHER || safe(&wanted).is_none() {
        return response;
    }
    let Some(to) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|to| to.starts_with("/sign-in") && !wanted.starts_with("/sign-in"))
    else {
        return response;
    };
    let joiner = if to.contains('?') { '&' } else { '?' };
    let with_next = format!("{to}{joiner}next={}", encode(&wanted));
    if let Ok(value) = HeaderValue::from_str(&with_next) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `next` when it is a page of this console: a local path (not `//host`
/// nor `/\host`, which browsers read as another site), no control
/// characters, not the overview's default, not too long.
pub fn safe(next: &str) -> Option<&str> {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\");
    let plain = !next.chars().any(char::is_control);
    (local && plain && next != "/" && next.len() <= MAX_NEXT).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn only_local_pages_are_destinations() {
        assert_eq!(safe("/runs?status=failed"), Some("/runs?status=failed"));
        assert_eq!(safe("/deployments/dep_1"), Some("/deployments/dep_1"));
        for bad in [
            "",
            "/",
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "runs",
            "/runs\r\nSet-Cookie: x",
        ] {
            assert_eq!(safe(bad), None, "{bad:?}");
        }
        assert_eq!(safe(&format!("/{}", "a".repeat(2048))), None);
    }
}
