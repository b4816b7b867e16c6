//! The repository suite: every test runs once on SQLite and once on
//! PostgreSQL (a fresh database each), through the same code.

use std::collections::BTreeMap;

use runway_api::enums::{InitialEventType, RunErrorType, RunStatus, SessionStrategy};
use runway_store::entity::deployment::InitialEvent;
use runway_store::repo::idempotency::IdempotencyClaim;
use runway_store::repo::runs::{self, TriggerCause, TriggerDecision};
use runway_store::repo::{agents, deployments, environments, tenants};
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

#[path = "repository/catalog.rs"]
mod catalog;
use catalog::{
    agent_updates_create_versions, bootstrap_issues_one_token_that_authenticates,
    pages_visit_every_row_exactly_once,
};
#[path = "repository/migrations.rs"]
mod migrations;
use migrations::a_database_a_newer_runway_migrated_is_named_so;
#[path = "repository/settings.rs"]
mod settings;
use settings::sqlite_connections_are_set_up_as_documented;
#[path = "repository/triggers.rs"]
mod triggers;
use triggers::{
    a_failed_trigger_batch_records_each_trigger_alone, a_trigger_batch_decides_in_arrival_order,
    an_idempotency_key_is_claimed_once, parallel_triggers_never_exceed_max_concurrent,
    queued_triggers_never_exceed_max_concurrent, the_slot_count_migration_counts_the_active_runs,
};

on_every_backend!(
    bootstrap_issues_one_token_that_authenticates,
    agent_updates_create_versions,
    pages_visit_every_row_exactly_once,
    parallel_triggers_never_exceed_max_concurrent,
    an_idempotency_key_is_claimed_once,
    queued_triggers_never_exceed_max_concurrent,
    the_slot_count_migration_counts_the_active_runs,
    sqlite_connections_are_set_up_as_documented,
    a_database_a_newer_runway_migrated_is_named_so,
);

#[path = "repository/webhooks/mod.rs"]
mod webhooks;
use webhooks::{
    a_claim_puts_a_busy_endpoint_last, a_failure_after_a_quiet_spell_starts_a_new_streak,
    a_handed_delivery_of_a_changed_endpoint_is_left_to_a_claim,
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
    a_failure_after_a_quiet_spell_starts_a_new_streak,
);

#[path = "repository/inline_reads.rs"]
mod inline_reads;
use inline_reads::inline_reads_decode_what_sea_orm_decodes;

on_every_backend!(inline_reads_decode_what_sea_orm_decodes);

#[path = "repository/plans/mod.rs"]
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
