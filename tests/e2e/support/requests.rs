//! Calls to a `TestApp` over REST and gRPC, and the data tests seed.

use runway_api::v1::deployment_service_client::DeploymentServiceClient;
use serde_json::{Value, json};
use tonic::transport::Channel;

use super::{Resp, Seed, TestApp};

impl TestApp {
    /// A gRPC client on the server's real port.
    pub async fn grpc(&self) -> DeploymentServiceClient<Channel> {
        DeploymentServiceClient::connect(format!("http://{}", self.running().grpc_addr))
            .await
            .expect("gRPC connects")
    }

    /// Any request: `path` is under the base path unless it starts with `http`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method.parse().unwrap(), url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("non-JSON body {text:?}: {e}"))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        let auth = self.auth();
        self.call(
            "POST",
            path,
            Some(body.to_string()),
            &[("authorization", &auth)],
        )
        .await
    }

    /// A POST without a body, as the documented curl of `/run` sends it.
    pub async fn post_empty(&self, path: &str) -> Resp {
        let auth = self.auth();
        self.call("POST", path, None, &[("authorization", &auth)])
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        let auth = self.auth();
        self.call("GET", path, None, &[("authorization", &auth)])
            .await
    }

    /// An agent, an environment and a deployment with `max_concurrent`.
    pub async fn seed(&self, max_concurrent: u32) -> Seed {
        self.seed_with(max_concurrent, Value::Null).await
    }

    /// Like [`TestApp::seed`], with a `schedule` (or `null`).
    pub async fn seed_with(&self, max_concurrent: u32, schedule: Value) -> Seed {
        let agent = self
            .post(
                "/agents",
                json!({"name": "reporter", "model": "claude-sonnet-4-5"}),
            )
            .await;
        assert_eq!(agent.status, 201, "{:?}", agent.body);
        let env = self.post("/environments", json!({"name": "default"})).await;
        assert_eq!(env.status, 200, "{:?}", env.body);
        let agent_id = agent.body["id"].as_str().unwrap().to_string();
        let environment_id = env.body["id"].as_str().unwrap().to_string();
        let deployment_id = self
            .deployment_with(&agent_id, &environment_id, max_concurrent, schedule)
            .await;
        Seed {
            agent_id,
            environment_id,
            deployment_id,
        }
    }

    /// One more deployment of an existing agent and environment.
    pub async fn deployment(
        &self,
        agent_id: &str,
        environment_id: &str,
        max_concurrent: u32,
    ) -> String {
        self.deployment_with(agent_id, environment_id, max_concurrent, Value::Null)
            .await
    }

    /// One more deployment, with a `schedule` (or `null`).
    pub async fn deployment_with(
        &self,
        agent_id: &str,
        environment_id: &str,
        max_concurrent: u32,
        schedule: Value,
    ) -> String {
        let dep = self
            .post(
                "/deployments",
                json!({
                    "name": "daily-report",
                    "agent": agent_id,
                    "environment_id": environment_id,
                    "initial_events": [{"type": "user.message", "content": "Generate today's status report"}],
                    "schedule": schedule,
                    "metadata": {"cas_config": {"config": {"max_concurrent": max_concurrent}}},
                }),
            )
            .await;
        assert_eq!(dep.status, 200, "{:?}", dep.body);
        dep.body["id"].as_str().unwrap().to_string()
    }
}

/// A runner's event of type `kind` holding `text` as its content, numbered
/// `sequence`.
pub fn runner_event(
    sequence: i64,
    kind: runway_api::enums::EventType,
    text: &str,
) -> runway_api::v1::RunnerEvent {
    runway_api::v1::RunnerEvent {
        sequence,
        r#type: kind.to_proto(),
        created_at: None,
        fields: Some(runway_api::json_value::object_to_struct(
            json!({"content": [{"type": "text", "text": text}]})
                .as_object()
                .unwrap()
                .clone(),
        )),
    }
}
