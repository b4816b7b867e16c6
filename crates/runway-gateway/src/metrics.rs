//! HTTP request latency per route, and `/metrics` in the Prometheus text
//! format (OpenMetrics) for the registry the process shares.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route template, e.g. `/api/v1/cloud/deployments/{id}/run`
    /// (`unmatched` for unknown paths: ids never become labels).
    pub route: String,
    pub status: u16,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The gateway's metrics and the registry `/metrics` renders.
#[derive(Clone)]
pub struct Observability {
    registry: Arc<Registry>,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
}

impl Observability {
    /// Registers the HTTP metrics in `registry`, then freezes it for
    /// rendering: register everything else first.
    pub fn new(mut registry: Registry) -> Self {
        let http: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "runway_http_request_duration_seconds",
            "REST request latency by method, route and status",
            http.clone(),
        );
        Self {
            registry: Arc::new(registry),
            http,
        }
    }
}

/// Times every request into `runway_http_request_duration_seconds`.
pub async fn record(State(obs): State<Observability>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method()).to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    obs.http
        .get_or_create(&HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: the standard ones by name, any other as `other`
/// (a client may send any token as a method, and each label value is a
/// series kept for the life of the process).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `GET /metrics`.
pub async fn render(State(obs): State<Observability>) -> Response {
    let mut text = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &obs.registry) {
        tracing::error!(error = %err, "encoding metrics failed");
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
