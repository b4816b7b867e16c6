//! Retention with a manual clock: the organization's policy and a
//! deployment's own rules over REST and gRPC, and the pruner deleting
//! exactly what they no longer keep (runs with their sessions and
//! transcripts, idempotency keys past 24 h), never an active run or a
//! retry chain still going; its dry run counts the same.

use std::sync::Arc;

use runway_api::enums::{EventType, TokenScope};
use runway_api::v1::*;
use runway_server::ManualClock;
use runway_store::repo::prune::Removed;
use serde_json::{Value, json};

use crate::on_every_backend_with_clock;
use crate::support::{TestApp, assert_envelope, runner_event};

const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 24 * 60 * 60 * SECOND;

on_every_backend_with_clock!(
    the_pruner_deletes_what_the_policy_no_longer_keeps,
    a_deployment_s_own_rules_replace_the_organization_s,
    a_policy_relaxed_during_a_pass_stops_it,
    a_pass_deletes_the_oldest_runs_first,
);

async fn deployment(app: &TestApp, cas_config: Value) -> String {
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

async fn trigger(app: &TestApp, dep: &str) -> Value {
    let run = app.post_empty(&format!("/deployments/{dep}/run")).await;
    assert_eq!(run.status, 200, "{}", run.body);
    run.body
}

/// Claims the run `run_id` (the only one waiting in its environment:
/// each deployment here has its own).
async fn claim(app: &TestApp, run_id: &str) -> Turn {
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

async fn complete(app: &TestApp, turn: &Turn) {
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

async fn fail(app: &TestApp, turn: &Turn) -> Option<DeploymentRun> {
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

fn id(run: &Value) -> String {
    run["id"].as_str().unwrap().to_string()
}

async fn status_of(app: &TestApp, path: &str) -> u16 {
    app.get(path).await.status
}

/// The runs of `ids` that still exist.
async fn present(app: &TestApp, ids: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for run in ids {
        if status_of(app, &format!("/deployment_runs/{run}")).await == 200 {
            found.push(run.to_string());
        }
    }
    found
}

/// A pass in the background that deletes `max_batch` runs a transaction
/// and rests 200 times what each held, so a test sees it midway.
fn slow_pass(app: &TestApp, max_batch: u64) -> tokio::task::JoinHandle<Removed> {
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
async fn until_some_gone(app: &TestApp, ids: &[&str]) -> Vec<String> {
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
async fn prune(app: &TestApp) -> Removed {
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

async fn the_pruner_deletes_what_the_policy_no_longer_keeps(
    app: &TestApp,
    clock: Arc<ManualClock>,
) {
    let policy = app.get("/retention").await;
    assert_eq!(
        policy.body,
        json!({"type": "retention_policy", "keep_days": null, "keep_failed_days": null,
               "max_runs": null, "updated_at": null})
    );
    let refused = app
        .post(
            "/retention",
            json!({"keep_days": 30, "keep_failed_days": 7}),
        )
        .await;
    assert_envelope(
        &refused,
        400,
        "invalid_request_error",
        Some("keep_failed_days"),
    );
    let set = app
        .post(
            "/retention",
            json!({"keep_days": 30, "keep_failed_days": 60}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        (
            &set.body["keep_days"],
            &set.body["keep_failed_days"],
            &set.body["max_runs"]
        ),
        (&json!(30), &json!(60), &json!(null))
    );
    crate::support::assert_timestamp(&set.body["updated_at"]);
    // A field left out keeps its value.
    let again = app.post("/retention", json!({"max_runs": null})).await;
    assert_eq!(again.body["keep_days"], 30);
    assert_eq!(app.get("/retention").await.body, again.body);

    // A deployment of two slots, no retries: a completed run (with its
    // session and transcript), a failed one, two pending, one skipped.
    let dep = deployment(app, json!({"config": {"max_concurrent": 2}})).await;
    let completed = trigger(app, &dep).await;
    let turn = claim(app, &id(&completed)).await;
    complete(app, &turn).await;
    let completed = app
        .get(&format!("/deployment_runs/{}", id(&completed)))
        .await
        .body;
    let session = completed["session_id"].as_str().unwrap().to_string();
    let events = app.get(&format!("/sessions/{session}/events")).await.body;
    assert!(events["data"].as_array().unwrap().len() >= 4, "{events}");
    let failed = trigger(app, &dep).await;
    let turn = claim(app, &id(&failed)).await;
    assert!(fail(app, &turn).await.is_none());
    let pending = [id(&trigger(app, &dep).await), id(&trigger(app, &dep).await)];
    let skipped = trigger(app, &dep).await;
    assert_eq!(skipped["status"], "skipped");
    // Another deployment, one retry: its failed run's retry waits.
    let retrying = deployment(app, json!({"config": {"max_retries": 1}})).await;
    let first = trigger(app, &retrying).await;
    let turn = claim(app, &id(&first)).await;
    let retry = fail(app, &turn).await.expect("a retry");
    // A key claimed now (the first run of a third deployment).
    let keyed = deployment(app, json!({})).await;
    let auth = format!("Bearer {}", app.token);
    let with_key = app
        .call(
            "POST",
            &format!("/deployments/{keyed}/run"),
            Some("{}".into()),
            &[("idempotency-key", "nightly-1"), ("authorization", &auth)],
        )
        .await;
    assert_eq!(with_key.status, 200);
    let keyed_run = id(&with_key.body);
    let turn = claim(app, &keyed_run).await;
    complete(app, &turn).await;

    let all = [
        id(&completed),
        id(&failed),
        pending[0].clone(),
        pending[1].clone(),
        id(&skipped),
        id(&first),
        retry.id.clone(),
        keyed_run.clone(),
    ];
    let all: Vec<&str> = all.iter().map(String::as_str).collect();

    // No run is old enough yet; the key, past 24 h, is.
    clock.advance(29 * DAY);
    assert_eq!(
        prune(app).await,
        Removed {
            idempotency_keys: 1,
            ..Removed::default()
        }
    );
    assert_eq!(present(app, &all).await.len(), all.len());

    // Past 30 days: the completed and skipped runs go, with the session
    // and its transcript; the failed ones, the pending ones and the chain
    // stay.
    clock.advance(2 * DAY);
    let removed = prune(app).await;
    assert_eq!(removed.runs, 3, "{removed:?}");
    assert_eq!(removed.sessions, 2);
    assert!(removed.events >= 8, "{removed:?}");
    assert_eq!(
        present(app, &all).await,
        vec![
            id(&failed),
            pending[0].clone(),
            pending[1].clone(),
            id(&first),
            retry.id.clone()
        ]
    );
    assert_eq!(status_of(app, &format!("/sessions/{session}")).await, 404);
    assert_eq!(
        status_of(app, &format!("/sessions/{session}/events")).await,
        404
    );
    let runs = app.get(&format!("/deployments/{dep}/runs")).await.body;
    assert_eq!(runs["data"].as_array().unwrap().len(), 3);
    // The deployment's counters are history: they keep counting.
    let counted = app.get(&format!("/deployments/{dep}")).await.body;
    assert_eq!(counted["metadata"]["cas_config"]["stats"]["total_runs"], 5);
    // The key is free again: a new run, not a replay.
    let reused = app
        .call(
            "POST",
            &format!("/deployments/{keyed}/run"),
            Some("{}".into()),
            &[("idempotency-key", "nightly-1"), ("authorization", &auth)],
        )
        .await;
    assert_eq!(reused.status, 200);
    assert_ne!(id(&reused.body), keyed_run);

    // Past 60 days: the failed run goes; the chain whose retry is pending
    // stays, and so do the pending runs.
    clock.advance(30 * DAY);
    let removed = prune(app).await;
    assert_eq!(removed.runs, 1, "{removed:?}");
    assert_eq!(
        present(app, &all).await,
        vec![
            pending[0].clone(),
            pending[1].clone(),
            id(&first),
            retry.id.clone()
        ]
    );
    // Once they end (the pending runs time out, the retry completes),
    // they go on the next pass: every one was triggered 61 days ago. (The
    // run of the reused key times out too; a failure of day 31, it stays.)
    let reaped = app.reaper().run_once().await.unwrap();
    assert_eq!(
        (reaped.timed_out, reaped.retries_started),
        (3, 1),
        "{reaped:?}"
    );
    assert_eq!(prune(app).await.runs, 2, "the timed-out runs");
    let turn = claim(app, &retry.id).await;
    complete(app, &turn).await;
    assert_eq!(prune(app).await.runs, 2, "the chain, whole");
    assert!(present(app, &all).await.is_empty());
}

async fn a_deployment_s_own_rules_replace_the_organization_s(
    app: &TestApp,
    clock: Arc<ManualClock>,
) {
    let set = app.post("/retention", json!({"keep_days": 30})).await;
    assert_eq!(set.status, 200, "{}", set.body);
    let refused = app
        .post(
            "/deployments",
            json!({"name": "d", "agent": "agent_00000000000000000000000000000000",
                   "environment_id": "env_00000000000000000000000000000000",
                   "initial_events": [{"type": "user.message", "content": "go"}],
                   "metadata": {"cas_config": {"retention": {"keep_days": 0}}}}),
        )
        .await;
    assert_envelope(
        &refused,
        400,
        "invalid_request_error",
        Some("metadata.cas_config.retention.keep_days"),
    );
    // Rules that delete history are an admin's: a write token may not set
    // a deployment's own, on create or update.
    let writer = app.scoped_token(TokenScope::Write, &[]).await;
    let auth = format!("Bearer {writer}");
    let seed = app.seed(1).await;
    let create = json!({"name": "d", "agent": seed.agent_id, "environment_id": seed.environment_id,
                        "initial_events": [{"type": "user.message", "content": "go"}],
                        "metadata": {"cas_config": {"retention": {"max_runs": 1}}}});
    let refused = app
        .call(
            "POST",
            "/deployments",
            Some(create.to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&refused, 403, "permission_error", None);
    let refused = app
        .call(
            "POST",
            &format!("/deployments/{}", seed.deployment_id),
            Some(json!({"metadata": {"cas_config": {"retention": null}}}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&refused, 403, "permission_error", None);
    let allowed = app
        .call(
            "POST",
            &format!("/deployments/{}", seed.deployment_id),
            Some(json!({"metadata": {"cas_config": {"config": {"max_retries": 1}}}}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let refused = app
        .call(
            "POST",
            "/retention",
            Some(json!({"keep_days": 1}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&refused, 403, "permission_error", None);
    assert_eq!(
        refused.body["error"]["message"],
        "A write token may not change retention rules."
    );

    let own = deployment(app, json!({"retention": {"max_runs": 2}})).await;
    let shown = app.get(&format!("/deployments/{own}")).await.body;
    assert_eq!(
        shown["metadata"]["cas_config"]["retention"],
        json!({"keep_days": null, "keep_failed_days": null, "max_runs": 2})
    );
    let org = deployment(app, json!({})).await;
    assert_eq!(
        app.get(&format!("/deployments/{org}")).await.body["metadata"]["cas_config"]["retention"],
        json!(null)
    );
    // Four runs each, canceled one by one (failed, never retried).
    let mut runs = Vec::new();
    for dep in [&own, &org] {
        let mut ids = Vec::new();
        for _ in 0..4 {
            let run = trigger(app, dep).await;
            let canceled = app
                .post_empty(&format!("/deployment_runs/{}/cancel", id(&run)))
                .await;
            assert_eq!(canceled.body["status"], "failed");
            ids.push(id(&run));
            clock.advance(SECOND);
        }
        runs.push(ids);
    }
    // Only the newest two of its own are kept, at once.
    assert_eq!(prune(app).await.runs, 2);
    let kept: Vec<&str> = runs[0][2..].iter().map(String::as_str).collect();
    assert_eq!(present(app, &kept).await.len(), 2);
    let all_own: Vec<&str> = runs[0].iter().map(String::as_str).collect();
    assert_eq!(present(app, &all_own).await.len(), 2);

    // Past 30 days its own rules still keep them (no time limit of its
    // own); the organization's policy takes the others. Failed runs: the
    // organization keeps them without limit, so set one.
    clock.advance(31 * DAY);
    assert_eq!(prune(app).await.runs, 0);
    let set = app
        .post("/retention", json!({"keep_failed_days": 30}))
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(prune(app).await.runs, 4);
    assert_eq!(present(app, &all_own).await.len(), 2);

    // Over gRPC: the override is read, then cleared with the mask: the
    // organization's policy applies and the last two go.
    let mut grpc = app.grpc().await;
    let got = grpc
        .get_deployment(app.authed(GetDeploymentRequest {
            deployment_id: own.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    assert_eq!(
        got.cas_config.unwrap().retention,
        Some(RetentionRules {
            keep_days: None,
            keep_failed_days: None,
            max_runs: Some(2)
        })
    );
    let cleared = grpc
        .update_deployment(app.authed(UpdateDeploymentRequest {
            deployment_id: own.clone(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["retention".into()],
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    assert_eq!(cleared.cas_config.unwrap().retention, None);
    assert_eq!(prune(app).await.runs, 2);
    assert!(present(app, &all_own).await.is_empty());
}

/// An administrator who set too short a policy and takes it back while
/// the pruner is deleting stops the pass at its next batch, not after it
/// has deleted everything the mistaken policy expired.
async fn a_policy_relaxed_during_a_pass_stops_it(app: &TestApp, clock: Arc<ManualClock>) {
    const RUNS: usize = 30;
    let dep = deployment(app, json!({"config": {"max_concurrent": 1}})).await;
    // One pending run, then skipped ones: terminal, each its own batch.
    let runs: Vec<String> = futures::future::join_all((0..RUNS).map(|_| trigger(app, &dep)))
        .await
        .iter()
        .map(id)
        .collect();
    let ids: Vec<&str> = runs.iter().map(String::as_str).collect();
    clock.advance(2 * DAY);
    let set = app.post("/retention", json!({"keep_days": 1})).await;
    assert_eq!(set.status, 200, "{}", set.body);
    // One run a transaction, then a rest of 200 times what it held.
    let pass = slow_pass(app, 1);
    until_some_gone(app, &ids).await;
    let set = app.post("/retention", json!({"keep_days": null})).await;
    assert_eq!(set.status, 200, "{}", set.body);
    let removed = pass.await.unwrap();
    let left = present(app, &ids).await.len();
    assert_eq!(removed.runs as usize, RUNS - left, "{removed:?}");
    // Without the re-read the pass deletes all but the pending run; with
    // it, the batches that went while the change was on its way (each a
    // delete and a rest of 200 times it) are a few.
    assert!(
        left > RUNS / 2,
        "the pass went on after the policy was relaxed: {left} of {RUNS} runs left"
    );
}

/// A pass deletes the oldest expired runs first, whichever deployment
/// they belong to (the walk in time order: its batches are neighbours in
/// storage), not one deployment's runs after another's.
async fn a_pass_deletes_the_oldest_runs_first(app: &TestApp, clock: Arc<ManualClock>) {
    let deps = [
        deployment(app, json!({"config": {"max_concurrent": 1}})).await,
        deployment(app, json!({"config": {"max_concurrent": 1}})).await,
    ];
    // One pending run each, then skipped ones (terminal), taking turns a
    // second apart.
    let pending = [
        id(&trigger(app, &deps[0]).await),
        id(&trigger(app, &deps[1]).await),
    ];
    let mut oldest_first = Vec::new();
    for i in 0..12 {
        clock.advance(SECOND);
        let run = trigger(app, &deps[i % 2]).await;
        assert_eq!(run["status"], "skipped");
        oldest_first.push(id(&run));
    }
    let ids: Vec<&str> = oldest_first.iter().map(String::as_str).collect();
    clock.advance(2 * DAY);
    let set = app.post("/retention", json!({"keep_days": 1})).await;
    assert_eq!(set.status, 200, "{}", set.body);
    // Two runs a transaction, then a rest of 200 times what it held.
    let pass = slow_pass(app, 2);
    let left = until_some_gone(app, &ids).await;
    // The runs left are the newest: what went is the oldest, of both
    // deployments.
    let gone = ids.len() - left.len();
    assert_eq!(left, oldest_first[gone..], "{gone} gone");
    assert!(gone >= 2, "{gone} gone");
    let removed = pass.await.unwrap();
    assert_eq!(removed.runs, 12, "{removed:?}");
    assert!(present(app, &ids).await.is_empty());
    let pending: Vec<&str> = pending.iter().map(String::as_str).collect();
    assert_eq!(present(app, &pending).await.len(), 2, "active runs stay");
}
