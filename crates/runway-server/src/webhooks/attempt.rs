//! One webhook attempt: the HTTP client every delivery worker sends with
//! (public addresses only, redirects not followed), and the signed POST
//! whose answer's start it keeps.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use runway_store::repo::webhooks::deliveries::{AttemptOutcome, Claimed};

use super::address::PublicOnly;
use super::{WebhookConfig, signing};
use crate::domain::deliveries::delivered;

/// The most of an answer's body an attempt keeps.
const BODY_KEPT: usize = 1024;

pub(super) type HttpsClient =
    Client<hyper_rustls::HttpsConnector<HttpConnector<PublicOnly>>, Full<Bytes>>;

/// The client attempts go through: names resolve through the public-only
/// resolver (unless `config` allows private targets); redirects are never
/// followed (hyper's client does not follow them).
pub(super) fn client(config: &WebhookConfig) -> HttpsClient {
    let mut http = HttpConnector::new_with_resolver(config.url_policy().resolver());
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.attempt_timeout));
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
        .expect("ring supports the default TLS versions")
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(tls)
}

/// One attempt at `attempted_at`: POST the body, signed, and read the
/// start of the answer.
pub(super) async fn send(
    client: &HttpsClient,
    config: &WebhookConfig,
    attempted_at: i64,
    claimed: Claimed,
) -> AttemptOutcome {
    let Claimed { delivery, endpoint } = claimed;
    let mut outcome = AttemptOutcome {
        delivery_id: delivery.id.clone(),
        endpoint_id: endpoint.id.clone(),
        org_id: delivery.org_id.clone(),
        number: delivery.attempt_count + 1,
        attempted_at,
        status_code: None,
        latency_ms: 0,
        response_body: String::new(),
        error: None,
        succeeded: false,
    };
    let url = match url::Url::parse(&endpoint.url) {
        Ok(url) => url,
        Err(err) => {
            outcome.error = Some(format!("url does not parse: {err}"));
            return outcome;
        }
    };
    if let Some(refusal) = config.url_policy().refuses_now(&url) {
        outcome.error = Some(refusal.to_string());
        return outcome;
    }
    let timestamp = attempted_at.div_euclid(1_000_000_000);
    let secrets = endpoint.signing_secrets(attempted_at);
    let signature = signing::signature(
        &secrets,
        &delivery.event_id,
        timestamp,
        delivery.body.as_bytes(),
    );
    let request = http::Request::post(url.as_str())
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("runway-webhooks/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", &delivery.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Full::new(Bytes::from(delivery.body)));
    let request = match request {
        Ok(request) => request,
        Err(err) => {
            outcome.error = Some(format!("request cannot be built: {err}"));
            return outcome;
        }
    };
    let started = Instant::now();
    let timeout = config.attempt_timeout;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while kept.len() < BODY_KEPT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(chunk) = frame.data_ref() {
                        kept.extend_from_slice(&chunk[..chunk.len().min(BODY_KEPT - kept.len())]);
                    }
                }
                Some(Err(err)) => return Ok((status, kept, Some(describe(&err)))),
                None => break,
            }
        }
        Ok::<_, String>((status, kept, None))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok((status, kept, error))) => {
            outcome.status_code = Some(i32::from(status));
            outcome.response_body = String::from_utf8_lossy(&kept).into_owned();
            outcome.succeeded = delivered(status) && error.is_none();
            outcome.error = error;
        }
        Ok(Err(error)) => outcome.error = Some(error),
        Err(_) => outcome.error = Some(format!("no answer within {} s", timeout.as_secs_f64())),
    }
    outcome.latency_ms = started.elapsed().as_millis() as i64;
    outcome
}

/// An error and its causes, as one line.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
