//! A pass in progress: a policy relaxed meanwhile stops it, and it deletes
//! the oldest expired runs first.

use std::sync::Arc;

use runway_server::ManualClock;
use serde_json::json;

use super::{DAY, SECOND, deployment, id, present, slow_pass, trigger, until_some_gone};
use crate::on_every_backend_with_clock;
use crate::support::TestApp;

on_every_backend_with_clock!(
    a_policy_relaxed_during_a_pass_stops_it,
    a_pass_deletes_the_oldest_runs_first,
);

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
