//! A disabled endpoint's deliveries are parked until it is enabled, and a
//! switch's lock order against the recorders, redeliveries and tests.

use std::sync::Arc;

use runway_api::enums::WebhookDeliveryStatus;
use runway_store::Store;
use runway_store::page::{Cursor, PageQuery};
use runway_store::repo::webhooks::{
    self, TestEvent,
    deliveries::{self},
};
use sea_orm::ConnectionTrait;

use super::{
    EventIdOnly, FAR_FUTURE, LEASE, answer, claim_ids, endpoint, modify, pending, queue_test,
};

/// A disabled endpoint's pending deliveries are parked (the claim never
/// meets them) with their due times and leases kept, until it is enabled:
/// disabled by hand or for failing, redelivered to while disabled, in
/// flight when it was disabled, and parked by the migration for endpoints
/// disabled before it.
pub async fn disabled_endpoints_park_their_deliveries(store: &Store) {
    use sea_orm_migration::MigratorTrait;
    store.webhooks().set_renderer(Arc::new(EventIdOnly));
    let org = crate::org(store).await;
    let now = 1_000_000_000_000;
    let hook = endpoint(store, &org, now).await;
    let retry = |_| Some(now + 5);

    // One delivered, one in flight, one due.
    let delivered = queue_test(store, &org, &hook.id, now).await;
    deliveries::claim_due(store, now, 1, LEASE).await.unwrap();
    let outcome = vec![answer(&delivered, &hook.id, &org, 200, now)];
    deliveries::record_attempts(store, outcome, now, retry, deliveries::Disabling::NEVER)
        .await
        .unwrap();
    let in_flight = queue_test(store, &org, &hook.id, now + 1).await;
    let due = queue_test(store, &org, &hook.id, now + 2).await;
    let claimed = deliveries::claim_due(store, now + 2, 1, LEASE)
        .await
        .unwrap();
    assert_eq!(claimed[0].delivery.id, in_flight);
    let lease_end = now + 2 + LEASE;

    // Disabled by hand: both pending deliveries are parked, due times and
    // the lease kept; redelivered to meanwhile, the event is parked too.
    modify(store, &org, &hook.id, now + 3, |e| e.enabled = false).await;
    let redelivery = match deliveries::redeliver(store, &org, &delivered, now + 6)
        .await
        .unwrap()
    {
        deliveries::Redelivery::Queued(d) => d.id,
        other => panic!("{other:?}"),
    };
    let parked = vec![
        (redelivery.clone(), Some(now + 6), Some(now + 6)),
        (due.clone(), Some(now + 2), Some(now + 3)),
        (in_flight.clone(), Some(lease_end), Some(now + 3)),
    ];
    assert_eq!(pending(store, &org, &hook.id).await, parked);
    assert_eq!(claim_ids(store, FAR_FUTURE).await, Vec::<String>::new());

    // The migration: going down forgets parking, coming up parks the
    // pending deliveries of disabled endpoints (since the migration).
    // (Parking is migration 12; 13, the endpoints' due index, comes after.)
    let since_parking = runway_store::migration::Migrator::migrations().len() as u32 - 11;
    runway_store::migration::Migrator::down(store.writer(), Some(since_parking))
        .await
        .unwrap();
    let before_up = runway_store::time::now_nanos();
    runway_store::migration::Migrator::up(store.writer(), None)
        .await
        .unwrap();
    let after_migration = pending(store, &org, &hook.id).await;
    assert_eq!(after_migration.len(), 3);
    for ((id, due_at, since), (was_id, was_due, _)) in after_migration.iter().zip(&parked) {
        assert_eq!((id, due_at), (was_id, was_due));
        assert!(since.is_some_and(|t| t >= before_up), "{id}: {since:?}");
    }
    // Run again over parking left as a replica of an earlier version
    // leaves it (it enables without unparking), it converges: the enabled
    // endpoint's deliveries are unparked, the disabled one's stay parked
    // since the first run.
    let stale = endpoint(store, &org, now).await;
    let stale_delivery = queue_test(store, &org, &stale.id, now + 7).await;
    let park_stale = deliveries::pending_switch(&stale.id, false, now + 7);
    park_stale.clone().exec(store.writer()).await.unwrap();
    store
        .writer()
        .execute_unprepared(
            "DELETE FROM seaql_migrations WHERE version = 'm20261204_000012_parked_deliveries'",
        )
        .await
        .unwrap();
    runway_store::migration::Migrator::up(store.writer(), None)
        .await
        .unwrap();
    assert_eq!(pending(store, &org, &hook.id).await, after_migration);
    assert_eq!(
        pending(store, &org, &stale.id).await,
        [(stale_delivery.clone(), Some(now + 7), None)]
    );
    // The workers' repair finds nothing left to unpark; it unparks what a
    // replica of an earlier version would leave parked on enabling.
    assert_eq!(deliveries::repair_parked(store, now + 7).await.unwrap(), 0);
    park_stale.exec(store.writer()).await.unwrap();
    // A change to the endpoint other than enabling it switches nothing.
    modify(store, &org, &stale.id, now + 7, |e| {
        e.description = Some("renamed".into())
    })
    .await;
    assert_eq!(
        pending(store, &org, &stale.id).await,
        [(stale_delivery.clone(), Some(now + 7), Some(now + 7))]
    );
    assert_eq!(deliveries::repair_parked(store, now + 7).await.unwrap(), 1);
    assert_eq!(
        claim_ids(store, now + 7).await,
        std::slice::from_ref(&stale_delivery)
    );

    // Enabled: the deliveries whose time has come are due, in their order;
    // the one in flight is not taken again before its lease ends.
    modify(store, &org, &hook.id, now + 8, |e| e.enabled = true).await;
    assert_eq!(
        claim_ids(store, now + 8).await,
        [due.clone(), redelivery.clone()]
    );
    assert_eq!(
        claim_ids(store, lease_end).await,
        std::slice::from_ref(&in_flight)
    );

    // Disabled for failing, together with another endpoint: the failures
    // that disable them and their other claimed deliveries are parked in
    // the same transaction; the organization's enabled endpoint is told of
    // both, the two disabled ones of neither.
    let watcher = endpoint(store, &org, now + 9).await;
    let failing = queue_test(store, &org, &stale.id, now + 9).await;
    assert_eq!(
        claim_ids(store, now + 9).await,
        std::slice::from_ref(&failing)
    );
    let outcome = vec![
        answer(&due, &hook.id, &org, 500, now + 10),
        answer(&failing, &stale.id, &org, 500, now + 10),
    ];
    let recorded = deliveries::record_attempts(
        store,
        outcome,
        now + 10,
        retry,
        deliveries::Disabling {
            after: 0,
            streak_gap: i64::MAX,
        },
    )
    .await
    .unwrap();
    let mut disabled = recorded.disabled.clone();
    disabled.sort();
    let mut expected = vec![hook.id.clone(), stale.id.clone()];
    expected.sort();
    assert_eq!(disabled, expected);
    assert_eq!(
        pending(store, &org, &hook.id).await,
        [
            (redelivery, Some(now + 8 + LEASE), Some(now + 10)),
            (due, Some(now + 5), Some(now + 10)),
            (in_flight.clone(), Some(lease_end + LEASE), Some(now + 10)),
        ]
    );
    assert_eq!(
        pending(store, &org, &stale.id).await,
        [
            (failing, Some(now + 5), Some(now + 10)),
            (stale_delivery, Some(now + 7 + LEASE), Some(now + 10))
        ]
    );
    // An attempt under way at the switch ends and is recorded: finished,
    // it is no longer parked.
    let outcome = vec![answer(&in_flight, &hook.id, &org, 200, now + 11)];
    deliveries::record_attempts(
        store,
        outcome,
        now + 11,
        retry,
        deliveries::Disabling {
            after: 0,
            streak_gap: i64::MAX,
        },
    )
    .await
    .unwrap();
    let all = PageQuery {
        limit: 100,
        cursor: Cursor::Start,
    };
    let succeeded = Some(WebhookDeliveryStatus::Succeeded);
    let page = deliveries::list_deliveries(store, &org, &hook.id, succeeded, &all)
        .await
        .unwrap();
    let finished: Vec<_> = page
        .items
        .iter()
        .map(|d| {
            (
                d.delivery.id.as_str(),
                d.delivery.next_attempt_at,
                d.delivery.parked_at,
            )
        })
        .collect();
    assert_eq!(
        finished,
        [
            (in_flight.as_str(), None, None),
            (delivered.as_str(), None, None)
        ]
    );
    let told = pending(store, &org, &watcher.id).await;
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told.iter()
            .all(|(_, due, since)| (*due, *since) == (Some(now + 10), None))
    );
    let mut told: Vec<String> = told.into_iter().map(|(id, _, _)| id).collect();
    told.sort();
    let mut claimed = claim_ids(store, FAR_FUTURE).await;
    claimed.sort();
    assert_eq!(claimed, told);
}

/// A transaction holding endpoint `endpoint_id`'s row lock, as a switch
/// of it does (PostgreSQL).
async fn holding(store: &Store, endpoint_id: &str) -> sea_orm::DatabaseTransaction {
    use sea_orm::TransactionTrait;
    let switch = store.writer().begin().await.unwrap();
    switch
        .execute_unprepared(&format!(
            "SELECT id FROM webhook_endpoints WHERE id = '{endpoint_id}' FOR UPDATE"
        ))
        .await
        .unwrap();
    switch
}

/// A recording of answers, waiting for an endpoint that a switch holds,
/// must not already hold the endpoint's deliveries: the switch locks the
/// endpoint and then its deliveries, and the other order deadlocks (two
/// replicas recording, or a recorder and a user's switch).
pub async fn a_recording_takes_the_endpoint_lock_before_the_deliveries(store: &Store) {
    store.webhooks().set_renderer(Arc::new(EventIdOnly));
    let org = crate::org(store).await;
    let now = runway_store::time::now_nanos();
    let hook = endpoint(store, &org, now).await;
    let delivery = queue_test(store, &org, &hook.id, now).await;
    assert_eq!(claim_ids(store, now).await, std::slice::from_ref(&delivery));

    let switch = holding(store, &hook.id).await;
    let recording = tokio::spawn({
        let (store, outcome) = (store.clone(), answer(&delivery, &hook.id, &org, 500, now));
        async move {
            let retry = |_| Some(now + 5);
            deliveries::record_attempts(
                &store,
                vec![outcome],
                now,
                retry,
                deliveries::Disabling::NEVER,
            )
            .await
        }
    });
    crate::until_a_lock_wait(store, "the recording").await;
    switch
        .execute_unprepared(&format!(
            "SELECT id FROM webhook_deliveries WHERE id = '{delivery}' FOR UPDATE NOWAIT"
        ))
        .await
        .expect("the waiting recording must not hold the delivery");
    switch.commit().await.unwrap();
    let recorded = recording.await.unwrap().unwrap();
    assert_eq!((recorded.attempts, recorded.failed), (1, 0));
    assert_eq!(
        pending(store, &org, &hook.id).await,
        [(delivery, Some(now + 5), None)]
    );
}

/// A redelivery and a test event, waiting for an endpoint that a switch
/// holds, see the switch's outcome: a redelivery to an endpoint enabled
/// meanwhile is not parked (nothing would ever unpark it), a test event to
/// an endpoint disabled meanwhile is refused.
pub async fn redeliveries_and_tests_wait_for_a_switch(store: &Store) {
    store.webhooks().set_renderer(Arc::new(EventIdOnly));
    let org = crate::org(store).await;
    let now = runway_store::time::now_nanos();
    let hook = endpoint(store, &org, now).await;
    let delivered = queue_test(store, &org, &hook.id, now).await;
    claim_ids(store, now).await;
    let outcome = vec![answer(&delivered, &hook.id, &org, 200, now)];
    deliveries::record_attempts(store, outcome, now, |_| None, deliveries::Disabling::NEVER)
        .await
        .unwrap();
    modify(store, &org, &hook.id, now, |e| e.enabled = false).await;

    for enable in [true, false] {
        let switch = holding(store, &hook.id).await;
        let waiting = tokio::spawn({
            let (store, org, hook, delivered) = (
                store.clone(),
                org.clone(),
                hook.id.clone(),
                delivered.clone(),
            );
            async move {
                match enable {
                    true => match deliveries::redeliver(&store, &org, &delivered, now).await {
                        Ok(deliveries::Redelivery::Queued(d)) => d.parked_at,
                        other => panic!("{other:?}"),
                    },
                    false => match webhooks::test_endpoint(&store, &org, &hook, now).await {
                        Ok(TestEvent::Disabled(_)) => None,
                        other => panic!("a test event to a disabled endpoint: {other:?}"),
                    },
                }
            }
        });
        crate::until_a_lock_wait(store, "the redelivery or test event").await;
        switch
            .execute_unprepared(&format!(
                "UPDATE webhook_endpoints SET enabled = {enable} WHERE id = '{}'",
                hook.id
            ))
            .await
            .unwrap();
        deliveries::pending_switch(&hook.id, enable, now)
            .exec(&switch)
            .await
            .unwrap();
        switch.commit().await.unwrap();
        assert_eq!(waiting.await.unwrap(), None);
    }
}
