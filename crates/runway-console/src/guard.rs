//! What every console answer carries, and what every console POST must
//! show: the headers that keep pages out of frames and caches, and proof
//! that a form was sent from this console (the browser's `Origin` or
//! `Sec-Fetch-Site`). Forms carry a per-session CSRF token as well, checked
//! by [`crate::api::Api::check_csrf`]; the SameSite=Strict cookie is a third
//! guard.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::layout;

/// Refuses a POST that a browser says came from another site.
pub async fn same_origin_posts(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !same_origin(&request) {
        let message = "This form was sent from another site; the console only takes forms from its own pages.";
        return (
            StatusCode::FORBIDDEN,
            layout::error_page(StatusCode::FORBIDDEN, message),
        )
            .into_response();
    }
    next.run(request).await
}

fn same_origin(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // Neither header: not a browser that could be tricked (curl, a test);
        // the CSRF token still applies.
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin_host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            host.is_some() && origin_host == host
        }
    }
}

/// The policy every page is served under: scripts and styles from this
/// origin only, no frames, no referrer across sites, never cached (pages
/// show a signed-in user's data); assets set their own caching.
pub async fn page_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
