//! Deliveries in the store: the hand-off lease, claims, recording that
//! takes one answer per attempt and ignores a stale worker's, and parking
//! while an endpoint is disabled.

use std::sync::Arc;

use runway_api::enums::{WebhookDeliveryStatus, WebhookEventType};
use runway_store::entity::webhook_endpoint;
use runway_store::json_text::JsonText;
use runway_store::page::{Cursor, PageQuery};
use runway_store::repo::webhooks::{
    self, Subject, TestEvent, WebhookRenderer,
    deliveries::{self, AttemptOutcome},
};
use runway_store::{Store, StoreError};

mod parking;
mod streaks;

pub use parking::*;
pub use streaks::*;

/// Bodies name the event only: what these tests look at is the delivery.
struct EventIdOnly;

impl WebhookRenderer for EventIdOnly {
    fn body(&self, event_id: &str, _: WebhookEventType, _: i64, _: Subject<'_>) -> String {
        format!("{{\"id\":\"{event_id}\"}}")
    }
}

const LEASE: i64 = 60_000_000_000;
/// A claim's time past every due time and lease of these tests.
const FAR_FUTURE: i64 = 1 << 62;

async fn endpoint(store: &Store, org_id: &str, now: i64) -> webhook_endpoint::Model {
    let row = webhook_endpoint::Model {
        id: runway_store::ids::IdKind::WebhookEndpoint.generate(),
        org_id: org_id.to_string(),
        url: "https://hooks.example.com/runway".into(),
        description: None,
        event_types: JsonText(vec![WebhookEventType::All]),
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        last_failed_at: None,
        secret: "whsec_dGVzdA==".into(),
        previous_secret: None,
        previous_secret_expires_at: None,
        created_at: now,
        updated_at: now,
    };
    webhooks::create_endpoint(store, row, None).await.unwrap()
}

async fn queue_test(store: &Store, org_id: &str, endpoint_id: &str, now: i64) -> String {
    match webhooks::test_endpoint(store, org_id, endpoint_id, now)
        .await
        .unwrap()
    {
        TestEvent::Queued(delivery) => delivery.id,
        other => panic!("{other:?}"),
    }
}

fn answer(
    delivery_id: &str,
    endpoint_id: &str,
    org_id: &str,
    code: i32,
    at: i64,
) -> AttemptOutcome {
    AttemptOutcome {
        delivery_id: delivery_id.to_string(),
        endpoint_id: endpoint_id.to_string(),
        org_id: org_id.to_string(),
        number: 1,
        attempted_at: at,
        status_code: Some(code),
        latency_ms: 3,
        response_body: String::new(),
        error: None,
        succeeded: code == 200,
    }
}

pub async fn deliveries_are_claimed_leased_and_recorded_once(store: &Store) {
    store.webhooks().set_renderer(Arc::new(EventIdOnly));
    let org = super::org(store).await;
    let now = 1_000_000_000_000;
    let hook = endpoint(store, &org, now).await;

    // No worker in this process: a delivery is written due, and claimed
    // for a lease.
    let first = queue_test(store, &org, &hook.id, now).await;
    let claimed = deliveries::claim_due(store, now, 10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].delivery.id, first);
    assert_eq!(claimed[0].delivery.next_attempt_at, Some(now + LEASE));
    assert_eq!(claimed[0].endpoint.id, hook.id);
    assert!(
        deliveries::claim_due(store, now + LEASE - 1, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );

    // The same attempt answered twice (sent again after its lease): the
    // first answer counts, once; the batch still commits.
    let outcomes = vec![
        answer(&first, &hook.id, &org, 200, now + 1),
        answer(&first, &hook.id, &org, 500, now + 2),
    ];
    let retry = |_| Some(now + 5);
    let recorded = deliveries::record_attempts(
        store,
        outcomes,
        now + 3,
        retry,
        deliveries::Disabling::NEVER,
    )
    .await
    .unwrap();
    assert_eq!(
        (recorded.attempts, recorded.succeeded, recorded.failed),
        (1, 1, 0)
    );
    // A stale worker's answer for the same attempt changes nothing.
    let stale = vec![answer(&first, &hook.id, &org, 500, now + 4)];
    let recorded =
        deliveries::record_attempts(store, stale, now + 4, retry, deliveries::Disabling::NEVER)
            .await
            .unwrap();
    assert_eq!(recorded.attempts, 0);
    let page = deliveries::list_deliveries(
        store,
        &org,
        &hook.id,
        None,
        &PageQuery {
            limit: 20,
            cursor: Cursor::Start,
        },
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].delivery.status,
        WebhookDeliveryStatus::Succeeded
    );
    assert_eq!(page.items[0].delivery.next_attempt_at, None);
    let codes: Vec<_> = page.items[0]
        .attempts
        .iter()
        .map(|a| a.status_code)
        .collect();
    assert_eq!(codes, [Some(200)]);

    // With a worker attached, a delivery is written leased to it and
    // handed over: no claim takes it until the lease ends.
    let mut handed = store
        .webhooks()
        .attach_worker(LEASE)
        .expect("the first worker");
    let second = queue_test(store, &org, &hook.id, now + 10).await;
    let got = handed.try_recv().expect("handed over after the commit");
    assert_eq!(got.delivery.id, second);
    assert_eq!(got.delivery.next_attempt_at, Some(now + 10 + LEASE));
    assert!(
        deliveries::claim_due(store, now + 10 + LEASE - 1, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    // If that worker died, its lease ends and any worker claims it.
    let after = deliveries::claim_due(store, now + 10 + LEASE, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].delivery.id, second);
    // A worker that stopped is handed nothing: deliveries are written due.
    drop(handed);
    let third = queue_test(store, &org, &hook.id, now + 20).await;
    let due = deliveries::claim_due(store, now + 20, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(
        due.iter()
            .map(|c| c.delivery.id.as_str())
            .collect::<Vec<_>>(),
        [third.as_str()]
    );
}

/// Endpoint `endpoint_id`'s pending deliveries as listed by status, newest
/// first: id, due time, parked since.
async fn pending(
    store: &Store,
    org_id: &str,
    endpoint_id: &str,
) -> Vec<(String, Option<i64>, Option<i64>)> {
    let all = PageQuery {
        limit: 100,
        cursor: Cursor::Start,
    };
    let status = Some(WebhookDeliveryStatus::Pending);
    let page = deliveries::list_deliveries(store, org_id, endpoint_id, status, &all)
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|d| {
            (
                d.delivery.id,
                d.delivery.next_attempt_at,
                d.delivery.parked_at,
            )
        })
        .collect()
}

async fn modify(
    store: &Store,
    org_id: &str,
    endpoint_id: &str,
    now: i64,
    apply: impl FnOnce(&mut webhook_endpoint::Model),
) {
    webhooks::modify_endpoint(store, org_id, endpoint_id, now, |row| {
        apply(row);
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap()
    .unwrap();
}

async fn claim_ids(store: &Store, now: i64) -> Vec<String> {
    let claimed = deliveries::claim_due(store, now, 10, LEASE).await.unwrap();
    claimed.into_iter().map(|c| c.delivery.id).collect()
}

fn claimed_ids(round: &deliveries::ClaimRound) -> Vec<&str> {
    round
        .claimed
        .iter()
        .map(|c| c.delivery.id.as_str())
        .collect()
}

/// A claim puts an endpoint past its share last: with its limit met by
/// that endpoint's backlog, it still finds another endpoint's delivery due
/// behind it (seeking each other endpoint), and fills the room left with the
/// busy endpoint's oldest. What it leaves is untouched, due as it was.
pub async fn a_claim_puts_a_busy_endpoint_last(store: &Store) {
    store.webhooks().set_renderer(Arc::new(EventIdOnly));
    let org = super::org(store).await;
    let now = 1_000_000_000_000;
    let busy = endpoint(store, &org, now).await;
    let other = endpoint(store, &org, now).await;
    let mut backlog = Vec::new();
    for n in 0..5 {
        backlog.push(queue_test(store, &org, &busy.id, now + n).await);
    }
    let behind = queue_test(store, &org, &other.id, now + 5).await;

    // The busy endpoint has room for one.
    let mut busy_seen = 0;
    let place = |endpoint: &str| {
        if endpoint == busy.id {
            busy_seen += 1;
            if busy_seen > 1 {
                return deliveries::Place::Last;
            }
        }
        deliveries::Place::Claim
    };
    let sharing = deliveries::Sharing {
        per_endpoint: 10,
        keep_free: 1,
    };
    let round = deliveries::claim_due_placing(store, now + 10, 4, LEASE, sharing, place)
        .await
        .unwrap();
    let claimed = claimed_ids(&round);
    assert_eq!(claimed, [&backlog[0], &behind, &backlog[1]]);
    assert!(!round.full, "it kept one free");
    assert!(
        round.left_last,
        "it left the busy endpoint's backlog for want of room"
    );
    assert!(
        round
            .claimed
            .iter()
            .all(|c| c.delivery.next_attempt_at == Some(now + 10 + LEASE))
    );
    let mut left = pending(store, &org, &busy.id).await;
    left.sort();
    let mut expected: Vec<_> = (0..5)
        .map(|n| {
            let due = if n < 2 {
                now + 10 + LEASE
            } else {
                now + n as i64
            };
            (backlog[n].clone(), Some(due), None)
        })
        .collect();
    expected.sort();
    assert_eq!(left, expected);

    // What it left is claimed next, oldest first; the walk saw all of it.
    let round = deliveries::claim_due_placing(store, now + 10, 10, LEASE, sharing, |_| {
        deliveries::Place::Claim
    })
    .await
    .unwrap();
    let claimed = claimed_ids(&round);
    assert_eq!(claimed, [&backlog[2], &backlog[3], &backlog[4]]);
    assert!(!round.full && !round.left_last);
}

/// Failures recorded together retry at one jittered instant per endpoint
/// and attempt: an endpoint's own deliveries move together, and endpoints
/// that failed together are spread apart.
pub async fn endpoints_failing_together_retry_apart(store: &Store) {
    store.webhooks().set_renderer(Arc::new(EventIdOnly));
    let org = super::org(store).await;
    let now = 1_000_000_000_000;
    let (a, b) = (
        endpoint(store, &org, now).await,
        endpoint(store, &org, now).await,
    );
    let a1 = queue_test(store, &org, &a.id, now).await;
    let a2 = queue_test(store, &org, &a.id, now).await;
    let b1 = queue_test(store, &org, &b.id, now).await;
    assert_eq!(
        deliveries::claim_due(store, now, 10, LEASE)
            .await
            .unwrap()
            .len(),
        3
    );
    let outcomes = vec![
        answer(&a1, &a.id, &org, 500, now + 1),
        answer(&b1, &b.id, &org, 500, now + 1),
        answer(&a2, &a.id, &org, 500, now + 1),
    ];
    // Each draw of the jitter a different instant.
    let draws = std::sync::atomic::AtomicI64::new(0);
    let retry = |_| Some(now + 1_000 + draws.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let recorded = deliveries::record_attempts(
        store,
        outcomes,
        now + 2,
        retry,
        deliveries::Disabling::NEVER,
    )
    .await
    .unwrap();
    assert_eq!((recorded.attempts, recorded.failed), (3, 0));
    // Listed pending, each with its due time.
    let due = |d: &(String, Option<i64>, Option<i64>)| d.1;
    let (on_a, on_b) = (
        pending(store, &org, &a.id).await,
        pending(store, &org, &b.id).await,
    );
    assert_eq!(on_a.len(), 2);
    assert!(due(&on_a[0]).is_some());
    assert_eq!(
        due(&on_a[0]),
        due(&on_a[1]),
        "one endpoint's failures retry together"
    );
    assert_eq!(on_b.len(), 1);
    assert_ne!(due(&on_a[0]), due(&on_b[0]), "two endpoints retry apart");
    assert_eq!(draws.into_inner(), 2, "one draw per endpoint and attempt");
}

/// A delivery handed over with a copy of its endpoint that a change made
/// since (here: a new URL) is not sent from that copy: it stays leased in
/// the table and is claimed when the lease ends, with the endpoint as it
/// is then. Deliveries written after the change are handed over as usual.
pub async fn a_handed_delivery_of_a_changed_endpoint_is_left_to_a_claim(store: &Store) {
    store.webhooks().set_renderer(Arc::new(EventIdOnly));
    let org = super::org(store).await;
    let now = 1_000_000_000_000;
    let hook = endpoint(store, &org, now).await;
    let mut handed = store
        .webhooks()
        .attach_worker(LEASE)
        .expect("the first worker");
    let before = queue_test(store, &org, &hook.id, now).await;
    let moved = "https://hooks.example.com/moved";
    webhooks::modify_endpoint(store, &org, &hook.id, now + 1, |row| {
        row.url = moved.into();
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap()
    .expect("the endpoint");
    let after = queue_test(store, &org, &hook.id, now + 2).await;

    let got = handed.try_recv().expect("the delivery written after");
    assert_eq!(
        (got.delivery.id.as_str(), got.endpoint.url.as_str()),
        (after.as_str(), moved)
    );
    assert!(
        handed.try_recv().is_none(),
        "the one before is not handed over"
    );
    let claimed = deliveries::claim_due(store, now + LEASE, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (
            claimed[0].delivery.id.as_str(),
            claimed[0].endpoint.url.as_str()
        ),
        (before.as_str(), moved),
        "claimed at its lease's end, with the endpoint as it is"
    );
}
