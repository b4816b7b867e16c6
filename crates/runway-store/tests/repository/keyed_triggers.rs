//! Triggers with an `Idempotency-Key` in the batch queue: a key held by a
//! live record records nothing (the caller replays its holder), an expired
//! record gives its key up, and two triggers with one key in one batch
//! record one run.

use std::sync::Arc;

use runway_store::repo::idempotency::{self, IdempotencyClaim};
use runway_store::repo::runs::{self, TriggerCause};
use runway_store::repo::trigger_queue::TriggerQueue;
use runway_store::time::DAY_NANOS;
use runway_store::{Store, StoreError};

use super::{deployment, now, org, slot_gate};

fn claim(key: &str, hash: &str, at: i64) -> IdempotencyClaim {
    IdempotencyClaim {
        key: key.into(),
        request_hash: hash.into(),
        at,
    }
}

pub async fn a_trigger_batch_claims_each_key_once(store: &Store) {
    let org_id = org(store).await;
    let dep = deployment(store, &org_id, 10).await;
    let at = now();
    let holder = runs::trigger(
        store,
        &org_id,
        &dep,
        TriggerCause::manual(at, Some(&claim("held", "h1", at))),
        slot_gate,
    )
    .await
    .unwrap()
    .unwrap();
    let long_ago = at - DAY_NANOS - 1;
    runs::trigger(
        store,
        &org_id,
        &dep,
        TriggerCause::manual(long_ago, Some(&claim("old", "h0", long_ago))),
        slot_gate,
    )
    .await
    .unwrap()
    .unwrap();

    let queue = TriggerQueue::start(store.clone(), slot_gate, Arc::new(|_| {}));
    let keys = [Some("held"), Some("old"), Some("new"), Some("new"), None];
    // On one thread every trigger is queued before the writer runs: one batch.
    let outcomes = futures::future::join_all(keys.iter().enumerate().map(|(i, key)| {
        let at = at + 1 + i as i64;
        queue.trigger(&org_id, &dep, at, key.map(|k| claim(k, "h2", at)))
    }))
    .await;
    for i in [0, 3] {
        assert!(
            matches!(outcomes[i], Err(StoreError::IdempotencyKeyTaken)),
            "trigger {i} finds its key held: {:?}",
            outcomes[i]
        );
    }
    let run = |i: usize| match &outcomes[i] {
        Ok(Some(run)) => run.clone(),
        other => panic!("trigger {i}: {other:?}"),
    };
    let record = |key: &'static str| idempotency::find(store, &org_id, key, at + 10);
    let held = record("held").await.unwrap().unwrap();
    assert_eq!(
        (held.resource_id, held.request_hash.as_str()),
        (holder.id, "h1")
    );
    let old = record("old").await.unwrap().unwrap();
    assert_eq!(
        (old.resource_id, old.request_hash.as_str()),
        (run(1).id, "h2")
    );
    assert_eq!(old.created_at, at + 2, "the expired record was replaced");
    let new = record("new").await.unwrap().unwrap();
    assert_eq!((new.resource_id, new.created_at), (run(2).id, at + 3));
    run(4);
    let row = runway_store::repo::deployments::get(store, &org_id, &dep)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.total_runs, 5, "two before, three in the batch");
}

/// PostgreSQL: another transaction claims a batch's key after the batch
/// read the keys and before its insert. The insert waits for that
/// transaction, then fails on the unique index; the batch is recorded
/// trigger by trigger, and the raced trigger replays the other claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_claimed_meanwhile_by_another_transaction_is_replayed() {
    use runway_store::entity::idempotency_key;
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement, TransactionTrait};

    let Some(db) = runway_store::testing::TestDatabase::postgres().await else {
        return;
    };
    let store = db.store();
    let org_id = org(store).await;
    let dep = deployment(store, &org_id, 10).await;
    let at = now();
    let other = store.writer().begin().await.unwrap();
    idempotency_key::ActiveModel {
        org_id: Set(org_id.clone()),
        key: Set("raced".into()),
        request_hash: Set("h1".into()),
        resource_id: Set("drun_other".into()),
        created_at: Set(at),
    }
    .insert(&other)
    .await
    .unwrap();

    let queue = TriggerQueue::start(store.clone(), slot_gate, Arc::new(|_| {}));
    let raced = tokio::spawn({
        let (queue, org_id, dep) = (queue.clone(), org_id.clone(), dep.clone());
        async move {
            queue
                .trigger(&org_id, &dep, at, Some(claim("raced", "h2", at)))
                .await
        }
    });
    // The batch's insert waits on the other transaction's key.
    let waiting = "SELECT count(*) AS n FROM pg_stat_activity \
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let row = store
            .reader()
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                waiting,
            ))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the batch never waited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    other.commit().await.unwrap();

    let outcome = raced.await.unwrap();
    assert!(
        matches!(outcome, Err(StoreError::IdempotencyKeyTaken)),
        "{outcome:?}"
    );
    let record = idempotency::find(store, &org_id, "raced", at + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.resource_id, "drun_other");
    let row = runway_store::repo::deployments::get(store, &org_id, &dep)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.total_runs, 0, "the raced trigger recorded no run");
    runway_store::testing::assert_slot_counts(store).await;
}
