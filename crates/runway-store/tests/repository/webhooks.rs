//! Deliveries in the store: the hand-off lease, claims, and recording that
//! takes one answer per attempt and ignores a stale worker's.

use std::sync::Arc;

use runway_api::enums::{WebhookDeliveryStatus, WebhookEventType};
use runway_store::Store;
use runway_store::entity::webhook_endpoint;
use runway_store::json_text::JsonText;
use runway_store::page::{Cursor, PageQuery};
use runway_store::repo::webhooks::{
    self, Subject, TestEvent, WebhookRenderer,
    deliveries::{self, AttemptOutcome},
};

/// Bodies name the event only: what these tests look at is the delivery.
struct EventIdOnly;

impl WebhookRenderer for EventIdOnly {
    fn body(&self, event_id: &str, _: WebhookEventType, _: i64, _: Subject<'_>) -> String {
        format!("{{\"id\":\"{event_id}\"}}")
    }
}

const LEASE: i64 = 60_000_000_000;

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
    let recorded = deliveries::record_attempts(store, outcomes, now + 3, retry, i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        (recorded.attempts, recorded.succeeded, recorded.failed),
        (1, 1, 0)
    );
    // A stale worker's answer for the same attempt changes nothing.
    let stale = vec![answer(&first, &hook.id, &org, 500, now + 4)];
    let recorded = deliveries::record_attempts(store, stale, now + 4, retry, i64::MAX)
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
