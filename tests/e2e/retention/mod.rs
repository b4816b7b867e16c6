//! Retention with a manual clock: the organization's policy and a
//! deployment's own rules over REST and gRPC, and the pruner deleting
//! exactly what they no longer keep (runs with their sessions and
//! transcripts, idempotency keys past 24 h), never an active run or a
//! retry chain still going; its dry run counts the same.

mod passes;
mod policies;

use runway_api::enums::EventType;
use runway_api::v1::*;
use runway_store::repo::prune::Removed;
use serde_json::{Value, json};

use crate::support::{TestApp, runner_event};

pub(super) const SECOND: i64 = 1_000_000_000;
pub(super) const DAY: i64 = 24 * 60 * 60 * SECOND;

pub(super) async fn deployment(app: &TestApp, cas_config: Value) -> String {
    let seed = app.seed(1).await;
    let dep = app
        .post(
            "/deployments",
            json!({"name": "d", "agent": seed.agent_id, "environment_id": seed.environment_id,
                   "initial_events": [{"type": "user.message", "content": "go"}],
                   "metadata": {"cas_config": cas_config}}),
        )
        .await;
    assert_eq!(dep.status, 200, "{}", dep.body);
    dep.body["id"].as_str().unwrap().to_string()
}

pub(super) async fn trigger(app: &TestApp, dep: &str) -> Value {
    let run = app.post_empty(&format!("/deployments/{dep}/run")).await;
    assert_eq!(run.status, 200, "{}", run.body);
    run.body
}

/// Claims the run `run_id` (the only one waiting in its environment:
/// each deployment here has its own).
pub(super) async fn claim(app: &TestApp, run_id: &str) -> Turn {
    let run = app.get(&format!("/deployment_runs/{run_id}")).await.body;
    let dep = run["deployment_id"].as_str().unwrap();
    let dep = app.get(&format!("/deployments/{dep}")).await.body;
    let mut runner = app.runner_client().await;
    let turn = runner
        .claim_turn(app.authed(ClaimTurnRequest {
            environment_id: dep["environment_id"].as_str().unwrap().to_string(),
            runner_name: "test".into(),
            wait_ms: 0,
        }))
        .await
        .unwrap()
        .into_inner()
        .turn
        .expect("a turn to claim");
    assert_eq!(turn.run.as_ref().unwrap().id, run_id);
    turn
}

pub(super) async fn complete(app: &TestApp, turn: &Turn) {
    let mut runner = app.runner_client().await;
    let run_id = turn.run.as_ref().unwrap().id.clone();
    runner
        .append_events(app.authed(AppendEventsRequest {
            run_id: run_id.clone(),
            lease_id: turn.lease_id.clone(),
            events: vec![runner_event(1, EventType::AgentMessage, "done")],
        }))
        .await
        .unwrap();
    runner
        .complete_turn(app.authed(CompleteTurnRequest {
            run_id,
            lease_id: turn.lease_id.clone(),
        }))
        .await
        .unwrap();
}

pub(super) async fn fail(app: &TestApp, turn: &Turn) -> Option<DeploymentRun> {
    let mut runner = app.runner_client().await;
    runner
        .fail_turn(app.authed(FailTurnRequest {
            run_id: turn.run.as_ref().unwrap().id.clone(),
            lease_id: turn.lease_id.clone(),
            error: Some(RunError {
                r#type: "agent_error".into(),
                message: "exit 1".into(),
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .retry
}

pub(super) fn id(run: &Value) -> String {
    run["id"].as_str().unwrap().to_string()
}

pub(super) async fn status_of(app: &TestApp, path: &str) -> u16 {
    app.get(path).await.status
}

/// The runs of `ids` that still exist, as one snapshot.
pub(super) async fn present(app: &TestApp, ids: &[&str]) -> Vec<String> {
    // One list, one snapshot: runs read one by one while a pass deletes
    // could see a later run gone and an earlier one still there, though
    // one transaction deleted both.
    let page = app.get("/deployment_runs?limit=1000").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body["next_page"],
        Value::Null,
        "more runs than one page"
    );
    let listed: std::collections::HashSet<&str> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["id"].as_str().unwrap())
        .collect();
    ids.iter()
        .filter(|id| listed.contains(**id))
        .map(|id| id.to_string())
        .collect()
}

/// A pass in the background that deletes `max_batch` runs a transaction
/// and rests 200 times what each held, so a test sees it midway.
pub(super) fn slow_pass(app: &TestApp, max_batch: u64) -> tokio::task::JoinHandle<Removed> {
    let pruner = app
        .pruner()
        .clone()
        .with_limits(runway_server::PruneLimits {
            max_batch,
            rest_factor: 200,
            ..Default::default()
        });
    tokio::spawn(async move { pruner.run_once().await.unwrap() })
}

/// Waits until some of `ids` are gone; the ones still there.
pub(super) async fn until_some_gone(app: &TestApp, ids: &[&str]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = present(app, ids).await;
        if left.len() < ids.len() {
            return left;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pass deleted nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A pass's dry run, then the pass: both say the same.
pub(super) async fn prune(app: &TestApp) -> Removed {
    let would = app.pruner().dry_run().await.unwrap();
    let did = app.pruner().run_once().await.unwrap();
    assert_eq!(
        (did.runs, did.sessions, did.events, did.idempotency_keys),
        (
            would.runs,
            would.sessions,
            would.events,
            would.idempotency_keys
        ),
        "the dry run counts what the pass deletes"
    );
    assert_eq!(
        app.pruner().dry_run().await.unwrap(),
        Removed::default(),
        "a pass leaves nothing expired"
    );
    did
}
