//! Triggers under the slot limit: one at a time, in parallel, queued and
//! batched, an idempotency key claimed once, a batch the database refuses,
//! and the slot count's migration.

use std::collections::HashSet;
use std::sync::Arc;

use runway_api::enums::{DeploymentStatus, RunStatus};
use runway_store::page::{Cursor, PageQuery};
use runway_store::repo::idempotency::IdempotencyClaim;
use runway_store::repo::runs::{self, TriggerDecision};
use runway_store::repo::trigger_queue::TriggerQueue;
use runway_store::repo::{deployments, sessions};
use runway_store::{Store, StoreError};

use super::{deployment, manual, now, org, slot_gate};

pub async fn parallel_triggers_never_exceed_max_concurrent(store: &Store) {
    let org_id = org(store).await;
    let dep = deployment(store, &org_id, 3).await;
    let results = futures::future::join_all((0..64).map(|_| {
        let (store, org_id, dep) = (store.clone(), org_id.clone(), dep.clone());
        tokio::spawn(
            async move { runs::trigger(&store, &org_id, &dep, manual(None), slot_gate).await },
        )
    }))
    .await;
    let statuses: Vec<RunStatus> = results
        .into_iter()
        .map(|r| r.unwrap().unwrap().expect("deployment exists").status)
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == RunStatus::Running)
            .count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == RunStatus::Skipped)
            .count(),
        61
    );
    let dep_row = deployments::get(store, &org_id, &dep)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dep_row.total_runs, 64);
}

pub async fn an_idempotency_key_is_claimed_once(store: &Store) {
    let org_id = org(store).await;
    let dep = deployment(store, &org_id, 10).await;
    let claim = IdempotencyClaim {
        key: "k1".into(),
        request_hash: "h".into(),
        at: now(),
    };
    let first = runs::trigger(store, &org_id, &dep, manual(Some(&claim)), slot_gate)
        .await
        .unwrap()
        .unwrap();
    let second = runs::trigger(store, &org_id, &dep, manual(Some(&claim)), slot_gate).await;
    assert!(
        matches!(second, Err(StoreError::IdempotencyKeyTaken)),
        "{second:?}"
    );
    let record = runway_store::repo::idempotency::find(store, &org_id, "k1", now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.resource_id, first.id);
    let all = runs::list(
        store,
        &org_id,
        &Default::default(),
        &PageQuery {
            limit: 100,
            cursor: Cursor::Start,
        },
    )
    .await
    .unwrap();
    assert_eq!(all.items.len(), 1, "the refused trigger left no run behind");
    let ids: HashSet<_> = all.items.iter().map(|r| r.id.clone()).collect();
    assert!(ids.contains(&first.id));
}

/// [`slot_gate`], refusing paused deployments as the server's gate does.
fn refusing_gate(
    dep: &runway_store::entity::deployment::Model,
    active: u64,
) -> Result<TriggerDecision, StoreError> {
    if dep.status == DeploymentStatus::Paused {
        return Err(StoreError::Corrupt(format!("{} is paused", dep.id)));
    }
    slot_gate(dep, active)
}

pub async fn queued_triggers_never_exceed_max_concurrent(store: &Store) {
    let org_id = org(store).await;
    let deps = [
        deployment(store, &org_id, 3).await,
        deployment(store, &org_id, 1).await,
    ];
    let queue = TriggerQueue::start(store.clone(), slot_gate, Arc::new(|_| {}));
    let results = futures::future::join_all((0..128).map(|i| {
        let (queue, org_id, dep) = (queue.clone(), org_id.clone(), deps[i % 2].clone());
        tokio::spawn(async move {
            let at = runway_store::time::now_nanos();
            queue.trigger(&org_id, &dep, at, None).await
        })
    }))
    .await;
    let runs: Vec<_> = results
        .into_iter()
        .map(|r| r.unwrap().unwrap().expect("deployment exists"))
        .collect();
    for (dep, limit) in deps.iter().zip([3, 1]) {
        let started = runs
            .iter()
            .filter(|r| r.deployment_id == *dep && r.status == RunStatus::Running)
            .count();
        let skipped = runs
            .iter()
            .filter(|r| r.deployment_id == *dep && r.status == RunStatus::Skipped)
            .count();
        assert_eq!((started, skipped), (limit, 64 - limit), "{dep}");
        let row = deployments::get(store, &org_id, dep)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.total_runs, 64);
    }
}

pub async fn a_trigger_batch_decides_in_arrival_order(store: &Store) {
    let org_id = org(store).await;
    let a = deployment(store, &org_id, 2).await;
    let b = deployment(store, &org_id, 1).await;
    let paused = deployment(store, &org_id, 5).await;
    deployments::modify(store, &org_id, &paused, now(), |d| {
        d.status = DeploymentStatus::Paused;
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap();
    let other_org = org(store).await;
    let foreign = deployment(store, &other_org, 5).await;
    let unknown = runway_store::ids::IdKind::Deployment.generate();

    let queue = TriggerQueue::start(store.clone(), refusing_gate, Arc::new(|_| {}));
    let order = [&a, &b, &a, &paused, &a, &foreign, &b, &unknown, &a];
    // On one thread every trigger is queued before the writer runs: one batch.
    let outcomes = futures::future::join_all(
        order
            .iter()
            .enumerate()
            .map(|(i, dep)| queue.trigger(&org_id, dep, 1_000 + i as i64, None)),
    )
    .await;
    let status = |i: usize| match &outcomes[i] {
        Ok(Some(run)) => run.status.name(),
        other => panic!("trigger {i}: {other:?}"),
    };
    assert_eq!(
        (0..order.len())
            .filter(|i| ![3, 5, 7].contains(i))
            .map(status)
            .collect::<Vec<_>>(),
        [
            "running", "running", "running", "skipped", "skipped", "skipped"
        ],
        "a: running, b: running, a: running, a: skipped (limit 2), b: skipped (limit 1), a: skipped",
    );
    assert!(
        matches!(&outcomes[3], Err(StoreError::Corrupt(m)) if m.contains("paused")),
        "the gate's refusal is the caller's: {:?}",
        outcomes[3]
    );
    assert!(
        matches!(outcomes[5], Ok(None)),
        "another organization's deployment is not found"
    );
    assert!(
        matches!(outcomes[7], Ok(None)),
        "an unknown deployment is not found"
    );

    for i in [0, 1, 2] {
        let Ok(Some(run)) = &outcomes[i] else {
            unreachable!()
        };
        assert_eq!(run.triggered_at, 1_000 + i as i64);
        let session = sessions::get(store, &org_id, run.session_id.as_deref().unwrap())
            .await
            .unwrap()
            .expect("a started run has its session");
        assert_eq!(session.deployment_run_id, run.id);
        let stored = runs::get(store, &org_id, &run.id).await.unwrap().unwrap();
        assert_eq!(&stored, run, "the answer is the stored row");
    }
    let Ok(Some(skipped)) = &outcomes[4] else {
        unreachable!()
    };
    assert_eq!(
        skipped.error_type.map(|t| t.name()),
        Some("concurrency_limit_error")
    );
    assert!(skipped.session_id.is_none());
    assert_eq!(skipped.completed_at, Some(1_004));

    for (dep, total, last) in [
        (&a, 4, Some(1_008)),
        (&b, 2, Some(1_006)),
        (&paused, 0, None),
    ] {
        let row = deployments::get(store, &org_id, dep)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.total_runs, row.last_triggered_at),
            (total, last),
            "{dep}"
        );
    }
    let foreign_row = deployments::get(store, &other_org, &foreign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(foreign_row.total_runs, 0);

    // A later batch counts the slots the first one took, from the database.
    let later = queue
        .trigger(&org_id, &a, 2_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.status.name(), "skipped");
}

pub async fn a_failed_trigger_batch_records_each_trigger_alone(store: &Store) {
    use sea_orm::ConnectionTrait;
    let org_id = org(store).await;
    let good = deployment(store, &org_id, 5).await;
    let broken = deployment(store, &org_id, 5).await;
    // The database refuses runs of `broken`: the batch holding one fails.
    let refuse = match store.backend() {
        runway_store::Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_runs BEFORE INSERT ON deployment_runs \
             WHEN NEW.deployment_id = '{broken}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )],
        runway_store::Backend::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_runs() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.deployment_id = '{broken}' THEN RAISE EXCEPTION 'refused'; END IF; \
                 RETURN NEW; END $$"
            ),
            "CREATE TRIGGER refuse_runs BEFORE INSERT ON deployment_runs \
             FOR EACH ROW EXECUTE FUNCTION refuse_runs()"
                .to_string(),
        ],
    };
    for sql in refuse {
        store.writer().execute_unprepared(&sql).await.unwrap();
    }

    let queue = TriggerQueue::start(store.clone(), slot_gate, Arc::new(|_| {}));
    let outcomes = futures::future::join_all(
        [&good, &broken, &good]
            .map(|dep| queue.trigger(&org_id, dep, runway_store::time::now_nanos(), None)),
    )
    .await;
    for i in [0, 2] {
        let run = outcomes[i].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(run.status.name(), "running");
        assert!(runs::get(store, &org_id, &run.id).await.unwrap().is_some());
    }
    assert!(
        matches!(&outcomes[1], Err(StoreError::Database(e)) if e.to_string().contains("refused")),
        "{:?}",
        outcomes[1]
    );
    let good_row = deployments::get(store, &org_id, &good)
        .await
        .unwrap()
        .unwrap();
    let broken_row = deployments::get(store, &org_id, &broken)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((good_row.total_runs, broken_row.total_runs), (2, 0));
}

pub async fn the_slot_count_migration_counts_the_active_runs(store: &Store) {
    use sea_orm_migration::MigratorTrait;
    let org_id = org(store).await;
    let busy = deployment(store, &org_id, 2).await;
    let idle = deployment(store, &org_id, 2).await;
    for _ in 0..3 {
        runs::trigger(store, &org_id, &busy, manual(None), slot_gate)
            .await
            .unwrap()
            .unwrap();
    }
    // Back to the schema before the count existed (undoing migration 4, the
    // count, and every one since), and forward again: the migration fills
    // the count from the runs (2 running, 1 skipped), and every later one
    // comes back.
    let since_the_count = runway_store::migration::Migrator::migrations().len() as u32 - 3;
    runway_store::migration::Migrator::down(store.writer(), Some(since_the_count))
        .await
        .unwrap();
    runway_store::migration::Migrator::up(store.writer(), None)
        .await
        .unwrap();
    for (dep, active) in [(&busy, 2), (&idle, 0)] {
        let row = deployments::get(store, &org_id, dep)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.active_runs, active, "{dep}");
    }
    let skipped = runs::trigger(store, &org_id, &busy, manual(None), slot_gate)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        skipped.status.name(),
        "skipped",
        "the backfilled count gates"
    );
}
