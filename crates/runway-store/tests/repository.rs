//! The repository suite: every test runs once on SQLite and once on
//! PostgreSQL (a fresh database each), through the same code.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use runway_api::enums::{
    DeploymentStatus, InitialEventType, RunErrorType, RunStatus, SessionStrategy,
};
use runway_store::entity::deployment::InitialEvent;
use runway_store::page::{Cursor, PageQuery};
use runway_store::repo::idempotency::IdempotencyClaim;
use runway_store::repo::runs::{self, TriggerCause, TriggerDecision};
use runway_store::repo::trigger_queue::TriggerQueue;
use runway_store::repo::{agents, deployments, environments, sessions, tenants};
use runway_store::{Store, StoreError};

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        on_every_backend!(@flavor (flavor = "multi_thread", worker_threads = 2) $($name),*);
    };
    // One thread: a test's concurrent calls are all queued before any
    // background task (the trigger queue's writer) runs.
    (single_thread: $($name:ident),* $(,)?) => {
        on_every_backend!(@flavor (flavor = "current_thread") $($name),*);
    };
    (@flavor $flavor:tt $($name:ident),*) => {
        $(
        mod $name {
            #[tokio::test $flavor]
            async fn sqlite() {
                let db = runway_store::testing::TestDatabase::sqlite().await;
                super::$name(db.store()).await;
                runway_store::testing::assert_slot_counts(db.store()).await;
            }
            #[tokio::test $flavor]
            async fn postgres() {
                let Some(db) = runway_store::testing::TestDatabase::postgres().await else { return };
                super::$name(db.store()).await;
                runway_store::testing::assert_slot_counts(db.store()).await;
            }
        }
        )*
    };
}

on_every_backend!(
    bootstrap_issues_one_token_that_authenticates,
    agent_updates_create_versions,
    pages_visit_every_row_exactly_once,
    parallel_triggers_never_exceed_max_concurrent,
    an_idempotency_key_is_claimed_once,
    queued_triggers_never_exceed_max_concurrent,
    the_slot_count_migration_counts_the_active_runs,
    sqlite_connections_are_set_up_as_documented,
);

/// A SQLite `PRAGMA`'s value on `db`'s connection, as text.
async fn pragma(db: &sea_orm::DatabaseConnection, name: &str) -> String {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            format!("PRAGMA {name}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0)
        .map(|n| n.to_string())
        .or_else(|_| row.try_get_by_index::<String>(0))
        .unwrap()
}

/// SQLite's settings on both pools: WAL, durable commits, foreign keys;
/// the writer's statement journals in memory (a trigger batch's multi-row
/// inserts otherwise spill them to a temporary file: a tenth of the
/// server's CPU), back after the migrations, which sort on disk; the
/// readers' temporary storage left to files (their sorts stay bounded);
/// every connection with stable query plans (a statement whose plan looked
/// at a bound value, such as any `LIMIT ?`, is otherwise parsed again at
/// each execution); no memory statistics (they serialize every allocation
/// of every connection on one mutex).
async fn sqlite_connections_are_set_up_as_documented(store: &Store) {
    if store.backend() != runway_store::Backend::Sqlite {
        return;
    }
    for (pool, db, temp_store) in [("writer", store.writer(), 2), ("reader", store.reader(), 0)] {
        let mut seen = Vec::new();
        for name in ["journal_mode", "synchronous", "foreign_keys", "temp_store"] {
            seen.push(format!("{name}={}", pragma(db, name).await));
        }
        assert_eq!(
            seen.join(" "),
            format!("journal_mode=wal synchronous=2 foreign_keys=1 temp_store={temp_store}"),
            "{pool}"
        );
    }
    // Each pool's every connection at once, so the pool opens all of them.
    for (pool, db, connections) in [
        ("writer", store.writer(), 1),
        ("reader", store.reader(), store.max_connections()),
    ] {
        let sqlite = db.get_sqlite_connection_pool();
        let mut held = Vec::new();
        for _ in 0..connections {
            held.push(sqlite.acquire().await.unwrap());
        }
        for connection in &mut held {
            let stable = runway_store::sqlite_settings::stable_plans(connection)
                .await
                .unwrap();
            assert!(stable, "a {pool} connection plans by bound values");
        }
    }
    assert!(!runway_store::sqlite_settings::memory_statistics_kept());
}

#[path = "repository/webhooks.rs"]
mod webhooks;
use webhooks::{
    a_claim_puts_a_busy_endpoint_last, a_handed_delivery_of_a_changed_endpoint_is_left_to_a_claim,
    deliveries_are_claimed_leased_and_recorded_once, disabled_endpoints_park_their_deliveries,
    endpoints_failing_together_retry_apart,
};

/// PostgreSQL only (see [`a_finish_takes_the_deployment_lock_before_the_run`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_takes_the_endpoint_lock_before_the_deliveries() {
    let Some(db) = runway_store::testing::TestDatabase::postgres().await else {
        return;
    };
    webhooks::a_recording_takes_the_endpoint_lock_before_the_deliveries(db.store()).await;
}

/// PostgreSQL only (see [`a_finish_takes_the_deployment_lock_before_the_run`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_and_tests_wait_for_a_switch() {
    let Some(db) = runway_store::testing::TestDatabase::postgres().await else {
        return;
    };
    webhooks::redeliveries_and_tests_wait_for_a_switch(db.store()).await;
}

on_every_backend!(
    deliveries_are_claimed_leased_and_recorded_once,
    disabled_endpoints_park_their_deliveries,
    endpoints_failing_together_retry_apart,
    a_handed_delivery_of_a_changed_endpoint_is_left_to_a_claim,
    a_claim_puts_a_busy_endpoint_last,
);

#[path = "repository/inline_reads.rs"]
mod inline_reads;
use inline_reads::inline_reads_decode_what_sea_orm_decodes;

on_every_backend!(inline_reads_decode_what_sea_orm_decodes);

#[path = "repository/plans.rs"]
mod plans;
use plans::{
    endpoint_deletions_seek_the_endpoint, endpoint_deliveries_seek_their_status,
    hot_run_queries_read_index_ranges, merged_pages_walk_the_filter_exactly,
    runner_resends_seek_the_session, webhook_claims_seek_an_endpoints_due_deliveries,
    webhook_claims_walk_the_due_index,
};

on_every_backend!(
    hot_run_queries_read_index_ranges,
    merged_pages_walk_the_filter_exactly,
    webhook_claims_walk_the_due_index,
    webhook_claims_seek_an_endpoints_due_deliveries,
    endpoint_deletions_seek_the_endpoint,
    endpoint_deliveries_seek_their_status,
    runner_resends_seek_the_session
);

#[path = "repository/retention.rs"]
mod retention;
use retention::{
    expired_runs_go_in_batches_and_sqlite_gives_the_space_back,
    finished_deliveries_and_old_keys_go_pending_ones_stay,
    the_walk_in_time_order_finds_what_the_ranges_find,
};

on_every_backend!(
    expired_runs_go_in_batches_and_sqlite_gives_the_space_back,
    finished_deliveries_and_old_keys_go_pending_ones_stay,
    the_walk_in_time_order_finds_what_the_ranges_find,
);

#[path = "repository/keyed_triggers.rs"]
mod keyed_triggers;
use keyed_triggers::a_trigger_batch_claims_each_key_once;
#[path = "repository/trigger_rounds.rs"]
mod trigger_rounds;
use trigger_rounds::triggers_queued_during_a_batch_go_into_the_next;

on_every_backend!(single_thread:
    a_trigger_batch_decides_in_arrival_order,
    a_trigger_batch_claims_each_key_once,
    a_failed_trigger_batch_records_each_trigger_alone,
    triggers_queued_during_a_batch_go_into_the_next,
);

async fn org(store: &Store) -> String {
    tenants::create_organization(store, &format!("org-{}", uuid_like()))
        .await
        .unwrap()
        .id
}

fn uuid_like() -> String {
    runway_store::ids::IdKind::Turn.generate()
}

fn agent_fields(name: &str) -> agents::AgentFields {
    agents::AgentFields {
        name: name.into(),
        description: None,
        model: "claude-sonnet-4-5".into(),
        system: Some("be brief".into()),
        instructions: None,
        tools: vec![],
        metadata: BTreeMap::new(),
    }
}

async fn deployment(store: &Store, org_id: &str, max_concurrent: i32) -> String {
    let agent = agents::create(store, org_id, agent_fields("a"), None, now())
        .await
        .unwrap();
    let env = environments::create(store, org_id, "e".into(), None, None, now())
        .await
        .unwrap();
    let draft = deployments::DeploymentDraft {
        name: "d".into(),
        description: None,
        agent_id: agent.id,
        agent_version: 1,
        environment_id: env.id,
        initial_events: vec![InitialEvent {
            kind: InitialEventType::UserMessage,
            content: "hi".into(),
        }],
        schedule_expression: None,
        schedule_timezone: None,
        next_fire_at: None,
        resources: vec![],
        vault_ids: vec![],
        metadata: BTreeMap::new(),
        max_concurrent,
        max_retries: 0,
        max_consecutive_failures: None,
        timeout_ms: 300_000,
        session_strategy: SessionStrategy::NewSession,
        retention: None,
    };
    deployments::create(store, org_id, draft, None, now())
        .await
        .unwrap()
        .id
}

fn now() -> i64 {
    runway_store::time::now_nanos()
}

fn manual(claim: Option<&IdempotencyClaim>) -> TriggerCause<'_> {
    TriggerCause::manual(now(), claim)
}

/// The server's gate, reduced to the slot rule.
fn slot_gate(
    dep: &runway_store::entity::deployment::Model,
    active: u64,
) -> Result<TriggerDecision, StoreError> {
    Ok(if active < dep.max_concurrent as u64 {
        TriggerDecision::Start
    } else {
        TriggerDecision::Skip {
            error_type: RunErrorType::ConcurrencyLimit,
            message: "limit".into(),
        }
    })
}

async fn bootstrap_issues_one_token_that_authenticates(store: &Store) {
    let (org, token) = tenants::bootstrap(store, "default")
        .await
        .unwrap()
        .expect("first bootstrap");
    assert!(token.secret.starts_with(tenants::TOKEN_PREFIX));
    assert_ne!(
        token.token.token_hash, token.secret,
        "only the hash is stored"
    );
    assert_eq!(token.token.token_hash, tenants::hash_token(&token.secret));
    assert!(
        tenants::bootstrap(store, "default")
            .await
            .unwrap()
            .is_none(),
        "second bootstrap"
    );
    let who = tenants::authenticate(store, &token.secret)
        .await
        .unwrap()
        .expect("valid token");
    assert_eq!(who.org_id, org.id);
    assert_eq!(
        tenants::authenticate(store, "rwy_pat_nope").await.unwrap(),
        None
    );
}

async fn agent_updates_create_versions(store: &Store) {
    let org_id = org(store).await;
    let agent = agents::create(store, &org_id, agent_fields("v1"), None, now())
        .await
        .unwrap();
    let updated =
        agents::update::<StoreError>(store, &org_id, &agent.id, now(), |_| Ok(agent_fields("v2")))
            .await
            .unwrap()
            .expect("exists");
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, "v2");
    // The same fields again: no new version.
    let same =
        agents::update::<StoreError>(store, &org_id, &agent.id, now(), |_| Ok(agent_fields("v2")))
            .await
            .unwrap()
            .expect("exists");
    assert_eq!(same, updated, "nothing changed, not even updated_at");
    assert!(
        agents::get_version(store, &org_id, &agent.id, 3)
            .await
            .unwrap()
            .is_none()
    );
    let v1 = agents::get_version(store, &org_id, &agent.id, 1)
        .await
        .unwrap()
        .unwrap();
    let v2 = agents::get_version(store, &org_id, &agent.id, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            v1.snapshot.fields.name.as_str(),
            v2.snapshot.fields.name.as_str()
        ),
        ("v1", "v2")
    );
    // Each version says when the agent was created and when it was made.
    assert_eq!(v1.agent_created_at, agent.created_at);
    assert_eq!(v1.created_at, agent.created_at);
    assert_eq!(v2.agent_created_at, agent.created_at);
    assert_eq!(v2.created_at, updated.updated_at);
    let other = org(store).await;
    assert!(
        agents::get(store, &other, &agent.id)
            .await
            .unwrap()
            .is_none(),
        "tenant isolation"
    );
    assert!(
        agents::get_version(store, &other, &agent.id, 1)
            .await
            .unwrap()
            .is_none()
    );
}

async fn pages_visit_every_row_exactly_once(store: &Store) {
    let org_id = org(store).await;
    let mut made = Vec::new();
    for i in 0..45 {
        made.push(
            environments::create(store, &org_id, format!("e{i}"), None, None, now())
                .await
                .unwrap()
                .id,
        );
    }
    made.reverse(); // newest first
    let mut seen = Vec::new();
    let mut cursor = Cursor::Start;
    let mut pages = 0;
    loop {
        let page = environments::list(
            store,
            &org_id,
            false,
            &PageQuery {
                limit: 20,
                cursor: cursor.clone(),
            },
        )
        .await
        .unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|e| e.id.clone()));
        match page.next {
            Some(next) => {
                assert!(page.has_more);
                cursor = next;
            }
            None => {
                assert!(!page.has_more);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made);

    // Backwards from the oldest row: the 20 rows right before it, newest first.
    let oldest = environments::key_of(store, &org_id, &made[44])
        .await
        .unwrap()
        .unwrap();
    let page = environments::list(
        store,
        &org_id,
        false,
        &PageQuery {
            limit: 20,
            cursor: Cursor::Before(oldest),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        page.items.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        made[24..44].to_vec()
    );
    assert!(page.has_more);
}

async fn parallel_triggers_never_exceed_max_concurrent(store: &Store) {
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

async fn an_idempotency_key_is_claimed_once(store: &Store) {
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

async fn queued_triggers_never_exceed_max_concurrent(store: &Store) {
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

async fn a_trigger_batch_decides_in_arrival_order(store: &Store) {
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

async fn a_failed_trigger_batch_records_each_trigger_alone(store: &Store) {
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

async fn the_slot_count_migration_counts_the_active_runs(store: &Store) {
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

/// PostgreSQL only: waits until a session of `store`'s database is blocked
/// on a lock (`who`, named if it never is).
async fn until_a_lock_wait(store: &Store, who: &str) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let waiting = Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let row = store
            .reader()
            .query_one_raw(waiting.clone())
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() > 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{who} never waited");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// PostgreSQL only (SQLite has one writer: two write transactions never
/// interleave). A finish — here a cancel — waiting for a deployment that a
/// trigger or a retry start holds must not already hold the run: they lock
/// the deployment first and the run next, and the other order deadlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_takes_the_deployment_lock_before_the_run() {
    use runway_store::repo::turns::{self, Finish, FinishDecision};
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let Some(db) = runway_store::testing::TestDatabase::postgres().await else {
        return;
    };
    let store = db.store().clone();
    let org_id = org(&store).await;
    let dep = deployment(&store, &org_id, 5).await;
    let run = runs::trigger(&store, &org_id, &dep, manual(None), slot_gate)
        .await
        .unwrap()
        .unwrap();

    let holder = store.writer().begin().await.unwrap();
    holder
        .execute_unprepared(&format!(
            "SELECT id FROM deployments WHERE id = '{dep}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let cancel = tokio::spawn({
        let (store, org_id, run_id) = (store.clone(), org_id.clone(), run.id.clone());
        async move {
            let now = runway_store::time::now_nanos();
            // A cancel, as the server decides it: fail the run, no retry.
            turns::finish(&store, Some(&org_id), &run_id, now, |_, run| {
                let mut ended = run.clone();
                ended.status = RunStatus::Failed;
                ended.error_type = Some(RunErrorType::Canceled);
                ended.error_message = Some("canceled".into());
                ended.completed_at = Some(now);
                Ok::<_, StoreError>(FinishDecision::End {
                    ended: Box::new(ended),
                    session: runway_api::enums::SessionStatus::Idle,
                    interjected: Vec::new(),
                    closing: runway_store::repo::events::NewEvent::bare(
                        runway_api::enums::EventType::SessionStatusIdle,
                    ),
                    retry_after: None,
                    pause: None,
                })
            })
            .await
        }
    });
    until_a_lock_wait(&store, "the cancel").await;
    holder
        .execute_unprepared(&format!(
            "SELECT id FROM deployment_runs WHERE id = '{}' FOR UPDATE NOWAIT",
            run.id
        ))
        .await
        .expect("the waiting cancel must not hold the run");
    holder.commit().await.unwrap();
    let finished = cancel.await.unwrap().unwrap();
    assert!(matches!(finished, Finish::Finished { .. }), "{finished:?}");
    runway_store::testing::assert_slot_counts(&store).await;
}
