//! Webhook deliveries across process deaths and replicas: a server killed
//! with 500 events undelivered loses none, and two servers on one
//! PostgreSQL send each event once.

use std::collections::BTreeSet;
use std::time::Duration;

use runway_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{Api, Server, eventually};
use crate::receiver::Receiver;

const LIMIT: Duration = Duration::from_secs(120);

/// A deployment that takes one run at a time, and an endpoint told of
/// skipped runs; returns (deployment id, endpoint id).
async fn skipping_deployment(api: &Api, receiver: &Receiver) -> (String, String) {
    let (agent, env) = api.agent_and_environment().await;
    let dep = api
        .deployment(&agent, &env, "true", json!({"max_concurrent": 1}))
        .await;
    let (status, hook) = api
        .post(
            "/webhooks/endpoints",
            json!({"url": receiver.url, "event_types": ["deployment_run.skipped"]}),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    (dep, hook["id"].as_str().unwrap().to_string())
}

/// Triggers `dep` `count` times, eight at a time, spread over `apis`;
/// returns how many runs were recorded skipped.
async fn trigger_many(apis: &[Api], dep: &str, count: usize) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let apis = apis.to_vec();
        let dep = dep.to_string();
        tasks.spawn(async move {
            let mut skipped = 0;
            for i in (worker..count).step_by(8) {
                let run = apis[i % apis.len()].trigger(&dep).await;
                skipped += usize::from(run["status"] == "skipped");
            }
            skipped
        });
    }
    tasks.join_all().await.into_iter().sum()
}

/// The endpoint's deliveries once `count` of them succeeded.
async fn all_succeeded(api: &Api, hook: &str, count: usize) -> Vec<Value> {
    let path = format!("/webhooks/endpoints/{hook}/deliveries?status=succeeded&limit=1000");
    eventually(LIMIT, "every delivery to succeed", || async {
        let page = api.get(&path).await;
        let data = page["data"].as_array().unwrap().clone();
        (data.len() == count).then_some(data)
    })
    .await
}

fn event_ids(deliveries: &[Value]) -> BTreeSet<String> {
    deliveries
        .iter()
        .map(|d| d["event_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_webhook_and_resends_only_those_in_flight() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    // Nothing is answered before the kill.
    let receiver = Receiver::start(true).await;
    // The restarted server reclaims the killed one's deliveries when their
    // lease ends. Shorter than the attempt's 15 s so the test is quick, but
    // long enough that no lease ends between the first arrival and the kill
    // on a loaded machine (1 s did, and a held delivery was sent again).
    let flags = [
        "--webhooks-allow-private",
        "--webhooks-claim-lease-ms",
        "5000",
    ];
    let mut server = Server::start_with(db.url(), data.path(), &flags).await;
    let api = server.api();
    let (dep, hook) = skipping_deployment(&api, &receiver).await;
    // One run holds the only slot (no runner takes it): 500 are skipped,
    // 500 events whose deliveries commit with them.
    assert_eq!(trigger_many(&[api], &dep, 501).await, 500);
    eventually(LIMIT, "deliveries in flight", || async {
        (!receiver.arrivals().is_empty()).then_some(())
    })
    .await;

    server.kill9().await;
    let in_flight: BTreeSet<String> = receiver.arrivals().into_keys().collect();
    receiver.answer();
    server.restart().await;

    let api = server.api();
    let deliveries = all_succeeded(&api, &hook, 500).await;
    let pending = api
        .get(&format!(
            "/webhooks/endpoints/{hook}/deliveries?status=pending"
        ))
        .await;
    assert_eq!(pending["data"], json!([]));
    let events = event_ids(&deliveries);
    assert_eq!(events.len(), 500, "one event per skipped run");
    let arrivals = receiver.arrivals();
    assert_eq!(
        arrivals.keys().cloned().collect::<BTreeSet<_>>(),
        events,
        "every event reached the receiver"
    );
    // Each event was answered once; those in flight at the kill had reached
    // the receiver once before (unanswered), and only they.
    let mut duplicates = BTreeSet::new();
    for (id, got) in &arrivals {
        assert_eq!(got.answered, 1, "{id}: {got:?}");
        assert!(got.held <= 1, "{id}: {got:?}");
        if got.held + got.answered > 1 {
            duplicates.insert(id.clone());
        }
    }
    assert_eq!(duplicates, in_flight);
    assert!(
        (1..=256).contains(&duplicates.len()),
        "{}",
        duplicates.len()
    );
    eprintln!(
        "kill -9 with 500 undelivered events: {} were in flight and arrived twice, {} once",
        duplicates.len(),
        500 - duplicates.len()
    );
}

/// `runway_webhook_attempts_total{outcome="delivered"}` of a server.
async fn delivered_by(server: &Server) -> u64 {
    let text = crate::harness::http_client()
        .get(format!("{}/metrics", server.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("runway_webhook_attempts_total{outcome=\"delivered\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_deliver_each_event_once() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let receiver = Receiver::start(false).await;
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = ["--webhooks-allow-private"];
    let a = Server::start_with(db.url(), data_a.path(), &flags).await;
    std::fs::copy(
        data_a.path().join("admin-token"),
        data_b.path().join("admin-token"),
    )
    .unwrap();
    let b = Server::start_with(db.url(), data_b.path(), &flags).await;
    let (dep, hook) = skipping_deployment(&a.api(), &receiver).await;
    // Half the events are written through each server, which wakes its own
    // worker; both workers claim from the one table.
    assert_eq!(trigger_many(&[a.api(), b.api()], &dep, 1001).await, 1000);

    let deliveries = all_succeeded(&a.api(), &hook, 1000).await;
    let events = event_ids(&deliveries);
    assert_eq!(events.len(), 1000);
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.keys().cloned().collect::<BTreeSet<_>>(), events);
    for (id, got) in &arrivals {
        assert_eq!(got.answered, 1, "{id} was sent {} times", got.answered);
    }
    let (by_a, by_b) = (delivered_by(&a).await, delivered_by(&b).await);
    assert_eq!(by_a + by_b, 1000, "a: {by_a}, b: {by_b}");
    assert!(
        by_a > 0 && by_b > 0,
        "both replicas sent: a {by_a}, b {by_b}"
    );
    eprintln!("two replicas, 1,000 events: {by_a} sent by one, {by_b} by the other, none twice");
}
