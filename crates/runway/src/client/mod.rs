//! The client CLI: `runway deployments|runs|agents|environments …`, over the
//! documented REST API. `--output json` prints the API's JSON as it is;
//! the default is a readable table.

mod commands;
mod describe;
mod follow;
mod render;
mod send;
mod terminal;
pub mod tokens;

pub use commands::{
    AgentCommand, ClientArgs, ClientCommand, DeploymentCommand, EnvironmentCommand, ListArgs,
    RunCommand,
};
pub use render::print_line;
pub use send::run;

use anyhow::{Context, bail};
use serde_json::Value;

/// A REST client for one server and token.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// A request the API refused: its envelope's type and message.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub error_type: String,
    pub message: String,
    /// The field to blame, when one is (the API's name for it).
    pub param: Option<String>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = terminal::inert(&self.message, true);
        match &self.param {
            Some(param) => write!(
                f,
                "{} ({}, {}): {message}",
                self.status,
                self.error_type,
                terminal::inert(param, false)
            ),
            None => write!(f, "{} ({}): {message}", self.status, self.error_type),
        }
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    /// The failure a stream's closing `error` message describes (its
    /// status: the one its type is answered with).
    fn from_stream_error(envelope: &Value) -> ApiFailure {
        let status = envelope["error"]["type"]
            .as_str()
            .and_then(runway_api::enums::ApiErrorType::from_name)
            .map_or(500, runway_api::error_code::status_of);
        ApiFailure::from_envelope(status, envelope)
    }

    /// Whether the server is away for a while (stopping, restarting, behind
    /// a proxy that lost it): worth trying again.
    fn is_transient(&self) -> bool {
        matches!(self.status, 502..=504)
    }

    /// The failure an error envelope describes.
    fn from_envelope(status: u16, body: &Value) -> ApiFailure {
        ApiFailure {
            status,
            error_type: body["error"]["type"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            param: body["error"]["param"].as_str().map(str::to_string),
        }
    }
}

impl Api {
    /// A client of the server at `url` with `token`, trusting only `ca`
    /// (PEM) for `https://` when given.
    pub fn new(url: &str, token: &str, ca: Option<&std::path::Path>) -> anyhow::Result<Api> {
        if token.is_empty() {
            bail!("no token: pass --token or set RUNWAY_TOKEN");
        }
        Ok(Api {
            http: crate::tls::http_client(ca)?,
            base: format!("{}/api/v1/cloud", url.trim_end_matches('/')),
            token: token.to_string(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .context("the server's answer is not JSON")?;
        if status >= 400 {
            return Err(ApiFailure::from_envelope(status, &body).into());
        }
        Ok(body)
    }

    /// The Server-Sent Events of a session's transcript: the history (after
    /// `last_event_id`, when given), then each event as it is recorded.
    pub async fn events(
        &self,
        session_id: &str,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<
        impl futures::Stream<Item = anyhow::Result<eventsource_stream::Event>> + Unpin + use<>,
    > {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let mut request = self
            .http
            .get(format!("{}/sessions/{session_id}/events/stream", self.base))
            .bearer_auth(&self.token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or_default();
            return Err(ApiFailure::from_envelope(status, &body).into());
        }
        Ok(Box::pin(response.bytes_stream().eventsource().map(
            |event| event.map_err(|e| anyhow::anyhow!("the event stream broke: {e}")),
        )))
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    pub async fn post(
        &self,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }
}
