//! Agents, environments and deployments: shapes, versions, updates,
//! archive rules and list filters.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope, assert_id, assert_timestamp, keys};

on_every_backend!(
    agents_version_on_update_and_deployments_stay_pinned,
    deployment_shape_updates_and_filters,
    archived_agents_and_environments_refuse_new_deployments,
);

async fn agents_version_on_update_and_deployments_stay_pinned(app: &TestApp) {
    let created = app
        .post(
            "/agents",
            json!({"name": "writer", "model": "claude-sonnet-4-5", "tools": [{"type": "web_search"}], "metadata": {"team": "ops"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let agent = &created.body;
    assert_eq!(
        keys(agent),
        BTreeSet::from([
            "type",
            "id",
            "name",
            "description",
            "model",
            "system",
            "instructions",
            "tools",
            "metadata",
            "version",
            "archived_at",
            "created_at",
            "updated_at",
        ])
    );
    assert_eq!(agent["type"], "agent");
    assert_id(&agent["id"], "agent_");
    assert_eq!(agent["version"], 1);
    assert_eq!(agent["description"], Value::Null);
    assert_eq!(agent["tools"], json!([{"type": "web_search"}]));
    assert_eq!(agent["metadata"], json!({"team": "ops"}));
    assert_timestamp(&agent["created_at"]);
    let agent_id = agent["id"].as_str().unwrap();

    let env = app
        .post(
            "/environments",
            json!({"name": "pool", "description": "2 runners"}),
        )
        .await;
    assert_eq!(
        keys(&env.body),
        BTreeSet::from([
            "type",
            "id",
            "name",
            "description",
            "status",
            "created_at",
            "updated_at"
        ])
    );
    assert_eq!(env.body["status"], "ready");
    assert_id(&env.body["id"], "env_");
    let env_id = env.body["id"].as_str().unwrap();

    let dep = app.deployment(agent_id, env_id, 1).await;
    let updated = app
        .post(
            &format!("/agents/{agent_id}"),
            json!({"system": "be brief", "metadata": {"team": null, "tier": "1"}}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["version"], 2);
    assert_eq!(updated.body["system"], "be brief");
    assert_eq!(updated.body["metadata"], json!({"tier": "1"}));
    assert_eq!(updated.body["name"], "writer", "untouched fields stay");
    assert_eq!(
        app.get(&format!("/agents/{agent_id}")).await.body,
        updated.body
    );

    // The deployment keeps version 1; its runs use it; a new one can pin either.
    let run = app.post_empty(&format!("/deployments/{dep}/run")).await;
    assert_eq!(
        run.body["agent"],
        json!({"id": agent_id, "type": "agent", "version": 1})
    );
    // Its session shows version 1 as it was: created with the agent, last
    // updated when version 1 was made (not at the session's own time).
    let session = app
        .get(&format!(
            "/sessions/{}",
            run.body["session_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(session.status, 200, "{}", session.body);
    let version_1 = &session.body["agent"];
    assert_eq!(version_1["version"], 1);
    assert_eq!(version_1["system"], Value::Null, "{version_1}");
    assert_eq!(version_1["created_at"], updated.body["created_at"]);
    assert_eq!(version_1["updated_at"], updated.body["created_at"]);
    assert_ne!(version_1["updated_at"], session.body["created_at"]);
    let latest = app.deployment(agent_id, env_id, 1).await;
    let latest = app.get(&format!("/deployments/{latest}")).await;
    assert_eq!(latest.body["agent"]["version"], 2);
    let pinned = app
        .post(
            "/deployments",
            json!({"name": "p", "agent": {"id": agent_id, "type": "agent", "version": 1}, "environment_id": env_id,
                   "initial_events": [{"type": "system.message", "content": "x"}]}),
        )
        .await;
    assert_eq!(pinned.body["agent"]["version"], 1, "{}", pinned.body);
    let missing = app
        .post(
            "/deployments",
            json!({"name": "p", "agent": {"id": agent_id, "version": 9}, "environment_id": env_id,
                   "initial_events": [{"type": "system.message", "content": "x"}]}),
        )
        .await;
    assert_envelope(&missing, 404, "not_found_error", Some("agent.version"));

    let listed = app.get("/agents").await;
    assert_eq!(listed.body["data"], json!([updated.body]));
}

async fn deployment_shape_updates_and_filters(app: &TestApp) {
    let seed = app.seed(1).await;
    let created = app
        .post(
            "/deployments",
            json!({
                "name": "daily-report",
                "description": "every morning",
                "agent": seed.agent_id,
                "environment_id": seed.environment_id,
                "initial_events": [{"type": "user.message", "content": [{"type": "text", "text": "go"}]}],
                "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Asia/Shanghai"},
                "resources": [{"type": "file", "file_id": "f1"}],
                "vault_ids": ["vault_1"],
                "metadata": {"team": "ops", "cas_config": {"config": {"max_concurrent": 2, "max_retries": 1, "timeout_ms": 60000}}},
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let d = &created.body;
    assert_eq!(
        keys(d),
        BTreeSet::from([
            "type",
            "id",
            "name",
            "description",
            "agent",
            "environment_id",
            "initial_events",
            "schedule",
            "status",
            "paused_reason",
            "archived_at",
            "resources",
            "vault_ids",
            "metadata",
            "created_at",
            "updated_at",
        ])
    );
    assert_id(&d["id"], "dep_");
    assert_eq!(d["status"], "active");
    assert_eq!(d["paused_reason"], Value::Null);
    assert_eq!(d["archived_at"], Value::Null);
    assert_eq!(
        d["initial_events"][0]["content"],
        json!([{"type": "text", "text": "go"}])
    );
    assert_eq!(d["resources"], json!([{"type": "file", "file_id": "f1"}]));
    assert_eq!(d["vault_ids"], json!(["vault_1"]));
    assert_eq!(
        keys(&d["schedule"]),
        BTreeSet::from(["type", "expression", "timezone", "upcoming_runs_at"])
    );
    let upcoming = d["schedule"]["upcoming_runs_at"].as_array().unwrap();
    assert_eq!(upcoming.len(), 5);
    for t in upcoming {
        assert_timestamp(t);
        // 09:00 in Shanghai is 01:00 UTC.
        assert!(t.as_str().unwrap().contains("T01:00:00.000000000Z"), "{t}");
    }
    let cas = &d["metadata"]["cas_config"];
    assert_eq!(keys(&d["metadata"]), BTreeSet::from(["team", "cas_config"]));
    assert_eq!(
        cas["config"],
        json!({"max_concurrent": 2, "max_consecutive_failures": null, "max_retries": 1, "timeout_ms": 60000})
    );
    assert_eq!(cas["session_strategy"], "new_session");
    assert_eq!(
        keys(&cas["stats"]),
        BTreeSet::from([
            "consecutive_failures",
            "total_failures",
            "total_runs",
            "last_triggered_at",
            "missed_fires",
            "next_trigger_at"
        ])
    );
    assert_eq!(cas["stats"]["next_trigger_at"], upcoming[0]);
    assert_eq!(cas["stats"]["last_triggered_at"], Value::Null);
    let id = d["id"].as_str().unwrap();

    // Update: merge-patch metadata, partial config, schedule removal, description cleared.
    let updated = app
        .post(
            &format!("/deployments/{id}"),
            json!({"description": null, "schedule": null,
                   "metadata": {"team": null, "owner": "ana", "cas_config": {"config": {"max_concurrent": 5}}}}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let u = &updated.body;
    assert_eq!(u["description"], Value::Null);
    assert_eq!(u["schedule"], Value::Null);
    assert_eq!(u["metadata"]["owner"], "ana");
    assert!(u["metadata"].get("team").is_none());
    assert_eq!(
        u["metadata"]["cas_config"]["config"],
        json!({"max_concurrent": 5, "max_consecutive_failures": null, "max_retries": 1, "timeout_ms": 60000})
    );
    assert_eq!(
        u["metadata"]["cas_config"]["stats"]["next_trigger_at"],
        Value::Null
    );
    assert_eq!(u["name"], "daily-report");
    assert!(u["updated_at"].as_str() > d["updated_at"].as_str());
    // The same update again changes nothing: the deployment as it is,
    // `updated_at` included.
    let again = app
        .post(
            &format!("/deployments/{id}"),
            json!({"description": null, "schedule": null,
                   "metadata": {"team": null, "owner": "ana", "cas_config": {"config": {"max_concurrent": 5}}}}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(&again.body, u);
    assert_envelope(
        &app.post(
            &format!("/deployments/{id}"),
            json!({"metadata": {"cas_config": {"stats": {}}}}),
        )
        .await,
        400,
        "invalid_request_error",
        Some("metadata.cas_config.stats"),
    );

    // Pause empties the upcoming fire times; unpause recomputes them from now.
    let with_schedule = app
        .post(
            &format!("/deployments/{id}"),
            json!({"schedule": {"expression": "*/5 * * * *", "timezone": "UTC"}}),
        )
        .await;
    assert_eq!(
        with_schedule.body["schedule"]["upcoming_runs_at"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let paused = app.post_empty(&format!("/deployments/{id}/pause")).await;
    assert_eq!(paused.body["schedule"]["upcoming_runs_at"], json!([]));
    assert_eq!(
        paused.body["metadata"]["cas_config"]["stats"]["next_trigger_at"],
        Value::Null
    );

    // Filters: status and agent_id.
    let paused_list = app.get("/deployments?status=paused").await;
    let ids: Vec<&str> = paused_list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id]);
    let active_list = app.get("/deployments?status=active").await;
    let ids: Vec<&str> = active_list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![seed.deployment_id.as_str()]);
    let none = app
        .get("/deployments?agent_id=agent_019ebb21ef8e7df6a559052c94875160")
        .await;
    assert_eq!(none.body["data"], json!([]));
    let by_agent = app
        .get(&format!("/deployments?agent_id={}", seed.agent_id))
        .await;
    assert_eq!(by_agent.body["data"].as_array().unwrap().len(), 2);
}

async fn archived_agents_and_environments_refuse_new_deployments(app: &TestApp) {
    let seed = app.seed(1).await;
    // An environment's update that changes nothing answers it as it is;
    // one that changes something moves `updated_at`.
    let path = format!("/environments/{}", seed.environment_id);
    let before = app.get(&path).await.body;
    let same = app.post(&path, json!({"name": "default"})).await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.body, before);
    let renamed = app.post(&path, json!({"name": "primary"})).await;
    assert_eq!(renamed.body["name"], "primary", "{}", renamed.body);
    assert!(renamed.body["updated_at"].as_str() > before["updated_at"].as_str());
    let env = app
        .post_empty(&format!("/environments/{}/archive", seed.environment_id))
        .await;
    assert_eq!(env.status, 200, "{}", env.body);
    assert_eq!(env.body["status"], "archived");
    assert_envelope(
        &app.post_empty(&format!("/environments/{}/archive", seed.environment_id))
            .await,
        409,
        "conflict_error",
        None,
    );
    let body = |agent: &str, env: &str| {
        json!({"name": "x", "agent": agent, "environment_id": env,
               "initial_events": [{"type": "user.message", "content": "hi"}]})
    };
    let refused = app
        .post("/deployments", body(&seed.agent_id, &seed.environment_id))
        .await;
    assert_envelope(&refused, 409, "conflict_error", None);
    assert_eq!(app.get("/environments").await.body["data"], json!([]));
    assert_eq!(
        app.get("/environments?include_archived=true").await.body["data"][0]["id"],
        seed.environment_id
    );

    let fresh_env = app
        .post("/environments", json!({"name": "next"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = app
        .post_empty(&format!("/agents/{}/archive", seed.agent_id))
        .await;
    assert_eq!(agent.status, 200);
    assert!(agent.body["archived_at"].is_string());
    let refused = app
        .post("/deployments", body(&seed.agent_id, &fresh_env))
        .await;
    assert_envelope(&refused, 409, "conflict_error", None);
    assert_envelope(
        &app.post(&format!("/agents/{}", seed.agent_id), json!({"name": "n"}))
            .await,
        409,
        "conflict_error",
        None,
    );
    let unknown = app
        .post(
            "/deployments",
            body("agent_019ebb21ef8e7df6a559052c94875160", &fresh_env),
        )
        .await;
    assert_envelope(&unknown, 404, "not_found_error", Some("agent"));
    let live_agent = app
        .post("/agents", json!({"name": "live", "model": "m"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let unknown = app
        .post(
            "/deployments",
            body(&live_agent, "env_019ebb21ef8e7df6a559052c94875160"),
        )
        .await;
    assert_envelope(&unknown, 404, "not_found_error", Some("environment_id"));

    // The existing deployment still runs: its pinned agent version is immutable.
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(run.body["status"], "running", "{}", run.body);
}
