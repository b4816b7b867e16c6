//! The concurrency slot under parallel triggers: never exceeded.

use futures::future::join_all;

use crate::on_every_backend;
use crate::support::TestApp;

on_every_backend!(parallel_triggers_fill_exactly_max_concurrent_slots);

const PARALLEL: usize = 64;
const MAX_CONCURRENT: u32 = 3;
const REPETITIONS: usize = 20;

async fn parallel_triggers_fill_exactly_max_concurrent_slots(app: &TestApp) {
    let seed = app.seed(MAX_CONCURRENT).await;
    for repetition in 0..REPETITIONS {
        // A fresh deployment each time: its slots start empty.
        let deployment = app
            .deployment(&seed.agent_id, &seed.environment_id, MAX_CONCURRENT)
            .await;
        let path = format!("/deployments/{deployment}/run");
        let results = join_all((0..PARALLEL).map(|_| app.post_empty(&path))).await;
        let mut running = 0;
        let mut skipped = 0;
        for r in &results {
            assert_eq!(r.status, 200, "repetition {repetition}: {}", r.body);
            match r.body["status"].as_str().unwrap() {
                "running" => running += 1,
                "skipped" => {
                    assert_eq!(r.body["error"]["type"], "concurrency_limit_error");
                    skipped += 1;
                }
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!((running, skipped), (3, 61), "repetition {repetition}");
        let stored = app
            .get(&format!(
                "/deployments/{deployment}/runs?status=running&limit=100"
            ))
            .await;
        assert_eq!(
            stored.body["data"].as_array().unwrap().len(),
            3,
            "repetition {repetition}"
        );
        let dep = app.get(&format!("/deployments/{deployment}")).await;
        assert_eq!(
            dep.body["metadata"]["cas_config"]["stats"]["total_runs"],
            PARALLEL
        );
    }
}
