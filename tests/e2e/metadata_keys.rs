//! A metadata key is 1–64 characters, and an update says so as a create
//! does (an empty key once answered about a gRPC `update_mask`).

use serde_json::json;

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope};

on_every_backend!(an_empty_metadata_key_is_named_on_create_and_update);

async fn an_empty_metadata_key_is_named_on_create_and_update(app: &TestApp) {
    let seed = app.seed(1).await;
    let message = "metadata keys must be 1 to 64 characters";
    let created = app
        .post(
            "/agents",
            json!({"name": "a", "model": "m", "metadata": {"": "x"}}),
        )
        .await;
    assert_envelope(&created, 400, "invalid_request_error", Some("metadata."));
    assert_eq!(created.body["error"]["message"], message);
    for path in [
        format!("/agents/{}", seed.agent_id),
        format!("/deployments/{}", seed.deployment_id),
    ] {
        let updated = app.post(&path, json!({"metadata": {"": "x"}})).await;
        assert_envelope(&updated, 400, "invalid_request_error", Some("metadata."));
        assert_eq!(updated.body["error"]["message"], message, "{path}");
    }
}
