//! One endpoint that answers nothing cannot hold all of a server's webhook
//! send slots: it borrows what others leave idle but a share's worth, and
//! with hundreds of its deliveries due ahead of another endpoint's, the
//! other's still goes out at once; what is handed over to the silent one
//! meanwhile waits for its slots.

use std::time::Duration;

use runway_server::domain::deliveries::MAX_IN_FLIGHT_PER_ENDPOINT;
use runway_server::webhooks::worker::MAX_IN_FLIGHT;
use runway_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::receiver::Receiver;
use crate::support::TestApp;
use crate::webhooks::fast_retries;

/// Attempts that may take two minutes: a held one stays in flight for the
/// whole test.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The silent endpoint's deliveries, more than a worker's 256 send slots.
const BACKLOG: usize = 300;

/// What the silent endpoint may hold with others idle: every slot but a
/// share's worth, left for the others.
const LENT: usize = MAX_IN_FLIGHT - MAX_IN_FLIGHT_PER_ENDPOINT;

fn slow_attempts() -> runway_server::ExecutionConfig {
    let mut execution = fast_retries();
    execution.webhooks.attempt_timeout = ATTEMPT_TIMEOUT;
    execution.webhooks.claim_lease = ATTEMPT_TIMEOUT * 4;
    execution
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_leaves_the_others_their_slots_sqlite() {
    let app = TestApp::start_with_execution(TestDatabase::sqlite().await, slow_attempts()).await;
    a_silent_endpoint_leaves_the_others_their_slots(&app).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_leaves_the_others_their_slots_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let app = TestApp::start_with_execution(db, slow_attempts()).await;
    a_silent_endpoint_leaves_the_others_their_slots(&app).await;
    app.shutdown().await;
}

async fn endpoint(app: &TestApp, url: &str) -> String {
    let created = app
        .post(
            "/webhooks/endpoints",
            json!({"url": url, "event_types": ["*"]}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    created.body["id"].as_str().unwrap().to_string()
}

async fn post_ok(app: &TestApp, path: &str) -> Value {
    let resp = app.post_empty(path).await;
    assert_eq!(resp.status, 200, "{path}: {}", resp.body);
    resp.body
}

async fn a_silent_endpoint_leaves_the_others_their_slots(app: &TestApp) {
    // Both endpoints answer at first: each gets test events delivered.
    let silent = Receiver::start(0).await;
    let other = Receiver::start(0).await;
    let silent_id = endpoint(app, &silent.url).await;
    let other_id = endpoint(app, &other.url).await;
    let mut delivered = Vec::new();
    for _ in 0..BACKLOG {
        let test = post_ok(app, &format!("/webhooks/endpoints/{silent_id}/test")).await;
        delivered.push(test["id"].as_str().unwrap().to_string());
    }
    let other_test = post_ok(app, &format!("/webhooks/endpoints/{other_id}/test")).await;
    silent
        .until("every test event", |got| got.len() == BACKLOG)
        .await;
    other.until("its test event", |got| got.len() == 1).await;
    none_pending(app, &silent_id, "every answer recorded").await;

    // Now the silent endpoint answers nothing, and all its events are
    // redelivered (written due: claimed from the table, oldest first),
    // then the other endpoint's: it comes last in the due order.
    silent.hold(true);
    for id in &delivered {
        post_ok(app, &format!("/webhooks/deliveries/{id}/redeliver")).await;
    }
    let other_redelivery = post_ok(
        app,
        &format!(
            "/webhooks/deliveries/{}/redeliver",
            other_test["id"].as_str().unwrap()
        ),
    )
    .await;

    // The silent endpoint borrows the slots beyond its share but a share's
    // worth, which the other endpoint's redelivery gets: it is sought past
    // the silent endpoint's backlog.
    let got = other
        .until("the redelivered event, past the silent backlog", |got| {
            got.len() == 2
        })
        .await;
    assert_eq!(got[1].id, got[0].id, "a redelivery keeps the webhook-id");
    silent.until_in_flight(LENT).await;
    none_pending(app, &other_id, "the other's redelivery recorded").await;
    assert_eq!(other_redelivery["status"], "pending");

    // The silent endpoint's backlog: what it holds is leased to the
    // worker; the rest is due as it was, untouched; nothing attempted.
    let page = app.get(&pending(&silent_id)).await;
    let data = page.body["data"].as_array().unwrap();
    assert_eq!(data.len(), BACKLOG);
    assert!(data.iter().all(|d| d["attempts"] == json!([])), "{data:?}");
    let now = runway_store::time::now_nanos();
    let lease = (ATTEMPT_TIMEOUT * 4).as_nanos() as i64;
    let (leased, due): (Vec<i64>, Vec<i64>) = data
        .iter()
        .map(|d| nanos(d["next_attempt_at"].as_str().unwrap()))
        .partition(|&at| at > now + lease / 2);
    assert_eq!(leased.len(), LENT);
    assert!(due.iter().all(|&at| at <= now), "{due:?}");
    assert_eq!(silent.in_flight(), LENT);

    // Events written now are handed over in memory: the silent endpoint's
    // wait for its slots, the other's go out at once.
    let mut waiting = Vec::new();
    for _ in 0..10 {
        let test = post_ok(app, &format!("/webhooks/endpoints/{silent_id}/test")).await;
        waiting.push(test["event_id"].as_str().unwrap().to_string());
    }
    post_ok(app, &format!("/webhooks/endpoints/{other_id}/test")).await;
    other
        .until("a test event handed over", |got| got.len() == 3)
        .await;
    assert_eq!(silent.in_flight(), LENT);
    assert_eq!(silent.most_in_flight(), LENT);

    // Let go: the held attempts are answered and recorded, and the
    // hand-overs that waited are sent as slots free.
    silent.hold(false);
    silent
        .until("the hand-overs that waited, sent", |got| {
            waiting.iter().all(|id| got.iter().any(|r| &r.id == id))
        })
        .await;
    // Then the rest of the backlog, left due as it was, goes out too: every
    // redelivery once, and nothing stays pending.
    let got = silent
        .until("every redelivery and hand-over", |got| {
            got.len() == 2 * BACKLOG + waiting.len()
        })
        .await;
    let mut ids: Vec<&str> = got[BACKLOG..].iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), BACKLOG + waiting.len(), "each event once");
    none_pending(app, &silent_id, "every answer recorded").await;
}

/// The path of an endpoint's pending deliveries (all on one page).
fn pending(endpoint_id: &str) -> String {
    format!("/webhooks/endpoints/{endpoint_id}/deliveries?status=pending&limit=1000")
}

/// Waits until no delivery of the endpoint is pending: every answer recorded.
async fn none_pending(app: &TestApp, endpoint_id: &str, what: &str) {
    crate::support::eventually(what, async || {
        let page = app.get(&pending(endpoint_id)).await;
        page.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
}

/// An RFC 3339 instant, in nanoseconds since the epoch.
fn nanos(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .unwrap_or_else(|e| panic!("{at}: {e}"))
        .timestamp_nanos_opt()
        .unwrap()
}
