//! An endpoint's failing streak: kept going by failures no further apart
//! than its retries leave, disabling it once it lasts long enough; over
//! after a quiet spell, when nothing called the endpoint.

use std::sync::Arc;

use runway_api::enums::WebhookDisabledReason;
use runway_store::Store;
use runway_store::repo::webhooks::{self, deliveries};

use super::{EventIdOnly, answer, claim_ids, endpoint, queue_test};

/// Streaks of 50 ns disable; failures over 100 ns apart start a new one.
const DISABLING: deliveries::Disabling = deliveries::Disabling {
    after: 50,
    streak_gap: 100,
};

/// A test event to `endpoint_id`, attempted at `at` and answered 500 (its
/// last attempt: nothing is left pending); the endpoint after it.
async fn fail_once(
    store: &Store,
    org: &str,
    endpoint_id: &str,
    at: i64,
) -> runway_store::entity::webhook_endpoint::Model {
    let delivery = queue_test(store, org, endpoint_id, at).await;
    assert_eq!(claim_ids(store, at).await, std::slice::from_ref(&delivery));
    let outcome = vec![answer(&delivery, endpoint_id, org, 500, at)];
    deliveries::record_attempts(store, outcome, at, |_| None, DISABLING)
        .await
        .unwrap();
    webhooks::get_endpoint(store, org, endpoint_id)
        .await
        .unwrap()
        .unwrap()
}

pub async fn a_failure_after_a_quiet_spell_starts_a_new_streak(store: &Store) {
    store.webhooks().set_renderer(Arc::new(EventIdOnly));
    let org = crate::org(store).await;
    let now = 1_000_000_000_000;
    let hook = endpoint(store, &org, now).await;

    let first = fail_once(store, &org, &hook.id, now).await;
    assert_eq!(
        (first.failing_since, first.last_failed_at, first.enabled),
        (Some(now), Some(now), true)
    );
    // 200 ns later, nothing having been attempted since: a new streak, not
    // one 200 ns long (which would disable it).
    let later = fail_once(store, &org, &hook.id, now + 200).await;
    assert_eq!(
        (later.failing_since, later.last_failed_at, later.enabled),
        (Some(now + 200), Some(now + 200), true)
    );
    // 60 ns after that: the same streak, now past 50 ns.
    let worn = fail_once(store, &org, &hook.id, now + 260).await;
    assert_eq!(
        (worn.failing_since, worn.enabled, worn.disabled_reason),
        (Some(now + 200), false, Some(WebhookDisabledReason::Failing))
    );
}
