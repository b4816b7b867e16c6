//! Typed calls to a test server's REST API, and the CLI's JSON output.

use std::time::Duration;

use serde_json::{Value, json};

use super::eventually;

/// Typed calls to the REST API.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    pub token: String,
}

impl Api {
    /// Calls to the REST API under `http` (`http://host:port`) with `token`.
    pub fn new(http: &str, token: &str) -> Api {
        Api {
            http: http_client(),
            base: format!("{http}/api/v1/cloud"),
            token: token.to_string(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// An agent and an environment; returns their ids.
    pub async fn agent_and_environment(&self) -> (String, String) {
        let (_, agent) = self
            .post("/agents", json!({"name": "a", "model": "m"}))
            .await;
        let (_, env) = self.post("/environments", json!({"name": "e"})).await;
        (
            agent["id"].as_str().unwrap().to_string(),
            env["id"].as_str().unwrap().to_string(),
        )
    }

    /// A deployment whose runs execute `script`, with config overrides.
    pub async fn deployment(&self, agent: &str, env: &str, script: &str, config: Value) -> String {
        let (status, dep) = self
            .post(
                "/deployments",
                json!({"name": "d", "agent": agent, "environment_id": env,
                       "initial_events": [{"type": "user.message", "content": script}],
                       "metadata": {"cas_config": {"config": config}}}),
            )
            .await;
        assert_eq!(status, 200, "{dep}");
        dep["id"].as_str().unwrap().to_string()
    }

    pub async fn trigger(&self, deployment: &str) -> Value {
        let (status, run) = self
            .post(&format!("/deployments/{deployment}/run"), json!({}))
            .await;
        assert_eq!(status, 200, "{run}");
        run
    }

    pub async fn run(&self, id: &str) -> Value {
        self.get(&format!("/deployment_runs/{id}")).await
    }

    /// Waits until run `id` is completed or failed, and returns it.
    pub async fn terminal(&self, id: &str, limit: Duration) -> Value {
        eventually(limit, &format!("run {id} to end"), || async {
            let run = self.run(id).await;
            matches!(run["status"].as_str(), Some("completed" | "failed")).then_some(run)
        })
        .await
    }

    /// Every run of the organization.
    pub async fn all_runs(&self) -> Vec<Value> {
        let mut runs = Vec::new();
        let mut path = "/deployment_runs?limit=1000".to_string();
        loop {
            let page = self.get(&path).await;
            runs.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["next_page"].as_str() {
                Some(next) => path = format!("/deployment_runs?limit=1000&page={next}"),
                None => return runs,
            }
        }
    }
}

/// An HTTP client (reqwest takes its TLS provider from the process, as the
/// CLI does).
pub fn http_client() -> reqwest::Client {
    runway::tls::install_crypto_provider();
    reqwest::Client::new()
}

/// The JSON a successful CLI command printed (`--output json`).
pub fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--output json prints JSON")
}
