//! The documented flow: trigger a run over REST and read it back, exactly in
//! the seed example's shape; page through runs.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::on_every_backend;
use crate::support::{TestApp, assert_id, assert_timestamp, keys};

on_every_backend!(
    trigger_returns_the_documented_run,
    paging_visits_every_run_once
);

/// The seed example's keys, value types, id prefixes and timestamp format.
fn assert_seed_shape(run: &Value, deployment_id: &str, agent_id: &str) {
    assert_eq!(
        keys(run),
        BTreeSet::from([
            "agent",
            "cas_run_extras",
            "created_at",
            "deployment_id",
            "error",
            "id",
            "session_id",
            "status",
            "trigger_context",
            "triggered_at",
            "type",
        ]),
        "{run}"
    );
    assert_eq!(run["type"], "deployment_run");
    assert_id(&run["id"], "drun_");
    assert_eq!(run["deployment_id"], deployment_id);
    assert_eq!(
        keys(&run["agent"]),
        BTreeSet::from(["id", "type", "version"])
    );
    assert_eq!(run["agent"]["id"], agent_id);
    assert_eq!(run["agent"]["type"], "agent");
    assert_eq!(run["agent"]["version"], 1);
    assert_eq!(run["status"], "running");
    assert_eq!(run["error"], Value::Null);
    assert_eq!(
        run["trigger_context"],
        serde_json::json!({"type": "manual"})
    );
    assert_id(&run["session_id"], "sess_");
    let extras = &run["cas_run_extras"];
    assert_eq!(
        keys(extras),
        BTreeSet::from(["attempt", "started_at", "turn_id"])
    );
    assert_eq!(extras["attempt"], 1);
    assert_id(&extras["turn_id"], "turn_");
    assert_timestamp(&extras["started_at"]);
    assert_timestamp(&run["created_at"]);
    assert_timestamp(&run["triggered_at"]);
    assert_eq!(run["created_at"], run["triggered_at"]);
    assert!(extras["started_at"].as_str() >= run["created_at"].as_str());
}

async fn trigger_returns_the_documented_run(app: &TestApp) {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    assert_eq!(run.headers.get("content-type").unwrap(), "application/json");
    assert!(run.headers.get("x-request-id").is_some());
    assert_seed_shape(&run.body, &seed.deployment_id, &seed.agent_id);
    let run_id = run.body["id"].as_str().unwrap();

    for path in [
        format!("/deployment_runs/{run_id}"),
        format!("/deployments/{}/runs/{run_id}", seed.deployment_id),
    ] {
        let got = app.get(&path).await;
        assert_eq!(got.status, 200, "{path}: {}", got.body);
        assert_eq!(got.body, run.body, "{path}");
    }
    for path in [
        format!("/deployments/{}/runs", seed.deployment_id),
        "/deployment_runs".to_string(),
    ] {
        let list = app.get(&path).await;
        assert_eq!(list.status, 200, "{path}: {}", list.body);
        assert_eq!(
            keys(&list.body),
            BTreeSet::from(["data", "first_id", "last_id", "has_more", "next_page"])
        );
        assert_eq!(
            list.body["data"],
            Value::Array(vec![run.body.clone()]),
            "{path}"
        );
        assert_eq!(list.body["first_id"], run_id);
        assert_eq!(list.body["last_id"], run_id);
        assert_eq!(list.body["has_more"], false);
        assert_eq!(list.body["next_page"], Value::Null);
    }

    // The /v1 alias serves the same API.
    let alias = app
        .get(&format!(
            "{}/v1/deployment_runs/{run_id}",
            app.base.trim_end_matches("/api/v1/cloud")
        ))
        .await;
    assert_eq!(alias.status, 200);
    assert_eq!(alias.body, run.body);

    // The deployment's stats saw the trigger.
    let dep = app
        .get(&format!("/deployments/{}", seed.deployment_id))
        .await;
    let stats = &dep.body["metadata"]["cas_config"]["stats"];
    assert_eq!(stats["total_runs"], 1);
    assert_eq!(stats["last_triggered_at"], run.body["triggered_at"]);
}

async fn paging_visits_every_run_once(app: &TestApp) {
    let seed = app.seed(1).await;
    let mut made = Vec::new();
    for _ in 0..45 {
        let run = app
            .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
            .await;
        assert_eq!(run.status, 200, "{}", run.body);
        made.push(run.body["id"].as_str().unwrap().to_string());
    }
    made.reverse(); // lists are newest first

    for list_path in [
        format!("/deployments/{}/runs", seed.deployment_id),
        "/deployment_runs".to_string(),
    ] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut path = format!("{list_path}?limit=20");
        loop {
            let page = app.get(&path).await;
            assert_eq!(page.status, 200, "{}", page.body);
            pages += 1;
            let data = page.body["data"].as_array().unwrap();
            assert!(data.len() <= 20);
            assert_eq!(page.body["first_id"], data[0]["id"]);
            assert_eq!(page.body["last_id"], data[data.len() - 1]["id"]);
            seen.extend(data.iter().map(|r| r["id"].as_str().unwrap().to_string()));
            if page.body["has_more"] == true {
                let next = page.body["next_page"]
                    .as_str()
                    .expect("next_page when has_more");
                path = format!("{list_path}?limit=20&page={next}");
            } else {
                assert_eq!(page.body["next_page"], Value::Null);
                break;
            }
        }
        assert_eq!(pages, 3, "{list_path}");
        assert_eq!(seen, made, "{list_path}: every run once, newest first");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 45);
    }

    // after_id continues after an item; before_id gives the ones right before it.
    let after = app
        .get(&format!("/deployment_runs?limit=5&after_id={}", made[9]))
        .await;
    let ids: Vec<&str> = after.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        made[10..15].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let before = app
        .get(&format!("/deployment_runs?limit=5&before_id={}", made[9]))
        .await;
    let ids: Vec<&str> = before.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        made[4..9].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(before.body["has_more"], true);

    // Filters: one running run, 44 skipped ones.
    let running = app.get("/deployment_runs?status=running&limit=100").await;
    assert_eq!(running.body["data"].as_array().unwrap().len(), 1);
    let skipped = app
        .get(&format!(
            "/deployments/{}/runs?status=skipped&limit=100",
            seed.deployment_id
        ))
        .await;
    assert_eq!(skipped.body["data"].as_array().unwrap().len(), 44);
    let errored = app.get("/deployment_runs?has_error=true&limit=100").await;
    assert_eq!(errored.body["data"].as_array().unwrap().len(), 44);
}
