//! The reads SQLite serves without sqlx's threads (`sqlite_reads`) decode
//! rows exactly as sea-orm does: fully populated rows (every optional field
//! set, each field a value no other field of its type has: instants before
//! the test began, distinct small numbers) and bare ones, through the point
//! reads and both shapes of list (one index range, and a merged union of
//! ranges); a row that does not decode is reported corrupt, and the reads
//! go on.

use std::collections::BTreeMap;

use runway_api::enums::{DeploymentStatus, PausedReasonType, RunErrorType, RunStatus, TriggerType};
use runway_store::entity::deployment::{self, Entity as Deployment};
use runway_store::entity::deployment_run::{self, Entity as DeploymentRun};
use runway_store::entity::organization::RetentionRules;
use runway_store::json_text::JsonText;
use runway_store::page::{Cursor, PageQuery};
use runway_store::repo::deployments::{self, DeploymentFilter};
use runway_store::repo::runs::{self, RunFilter};
use runway_store::{Backend, Store, StoreError};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel};

use super::{deployment, manual, now, org, slot_gate};

/// What sea-orm (through sqlx) reads for deployment `id`.
async fn deployment_by_sqlx(store: &Store, id: &str) -> deployment::Model {
    Deployment::find_by_id(id)
        .one(store.reader())
        .await
        .unwrap()
        .unwrap()
}

async fn run_by_sqlx(store: &Store, id: &str) -> deployment_run::Model {
    DeploymentRun::find_by_id(id)
        .one(store.reader())
        .await
        .unwrap()
        .unwrap()
}

pub(crate) async fn inline_reads_decode_what_sea_orm_decodes(store: &Store) {
    assert_eq!(
        store.reads_sqlite_inline(),
        store.backend() == Backend::Sqlite,
        "SQLite files read inline, PostgreSQL through its pool"
    );
    let org_id = org(store).await;
    let t = now();
    let bare = deployment(store, &org_id, 1).await;
    let full = deployment(store, &org_id, 1).await;

    // Two runs of `full`: one running (its optional columns mostly null),
    // one skipped at the limit, then given every column.
    let running = runs::trigger(store, &org_id, &full, manual(None), slot_gate)
        .await
        .unwrap()
        .unwrap();
    let skipped = runs::trigger(store, &org_id, &full, manual(None), slot_gate)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (running.status, skipped.status),
        (RunStatus::Running, RunStatus::Skipped)
    );
    let populated_run = deployment_run::Model {
        error_type: Some(RunErrorType::RunnerLost),
        error_message: Some("lost".into()),
        trigger_type: TriggerType::Retry,
        retry_of: Some(running.id.clone()),
        agent_version: 25,
        scheduled_for: Some(t - 11),
        attempt: 3,
        session_id: running.session_id.clone(),
        turn_id: running.turn_id.clone(),
        started_at: Some(t - 12),
        completed_at: Some(t - 13),
        duration_ms: Some(14),
        timeout_ms: Some(15),
        lease_id: Some("lease-16".into()),
        lease_expires_at: Some(t - 17),
        claimed_at: Some(t - 18),
        runner_name: Some("runner-19".into()),
        start_after: Some(t - 20),
        created_at: t - 26,
        ..run_by_sqlx(store, &skipped.id).await
    };
    populated_run
        .clone()
        .into_active_model()
        .reset_all()
        .update(store.writer())
        .await
        .unwrap();

    let populated = deployment::Model {
        description: Some("every column".into()),
        schedule_expression: Some("0 9 * * *".into()),
        schedule_timezone: Some("Europe/Paris".into()),
        agent_version: 24,
        last_run_at: Some(t - 1),
        next_fire_at: Some(t - 2),
        status: DeploymentStatus::Paused,
        paused_reason: Some(PausedReasonType::ConsecutiveFailures),
        archived_at: Some(t - 3),
        resources: JsonText(vec![
            serde_json::json!({"type": "file", "id": "f"})
                .as_object()
                .unwrap()
                .clone(),
        ]),
        vault_ids: JsonText(vec!["vault-a".into(), "vault-b".into()]),
        metadata: JsonText(BTreeMap::from([("team".into(), "ops".into())])),
        max_concurrent: 21,
        max_retries: 4,
        max_consecutive_failures: Some(5),
        timeout_ms: 6,
        total_runs: 7,
        total_failures: 8,
        consecutive_failures: 9,
        last_triggered_at: Some(t - 4),
        missed_fires: 10,
        retention: Some(JsonText(RetentionRules {
            keep_days: Some(30),
            keep_failed_days: Some(90),
            max_runs: Some(1_000),
        })),
        updated_at: t - 23,
        ..deployment_by_sqlx(store, &full).await
    };
    populated
        .clone()
        .into_active_model()
        .reset_all()
        .update(store.writer())
        .await
        .unwrap();

    for id in [&bare, &full] {
        let inline = deployments::get(store, &org_id, id).await.unwrap().unwrap();
        assert_eq!(inline, deployment_by_sqlx(store, id).await);
    }
    assert_eq!(deployment_by_sqlx(store, &full).await, populated);
    let page = |limit| PageQuery {
        limit,
        cursor: Cursor::Start,
    };
    let listed = deployments::list(
        store,
        &org_id,
        &DeploymentFilter {
            include_archived: true,
            ..Default::default()
        },
        &page(10),
    )
    .await
    .unwrap();
    assert_eq!(
        listed.items,
        vec![populated.clone(), deployment_by_sqlx(store, &bare).await]
    );

    for id in [&running.id, &skipped.id] {
        let inline = runs::get(store, &org_id, id).await.unwrap().unwrap();
        assert_eq!(inline, run_by_sqlx(store, id).await);
    }
    assert_eq!(run_by_sqlx(store, &skipped.id).await, populated_run);
    let both = vec![populated_run.clone(), run_by_sqlx(store, &running.id).await];
    let both = if both[0].triggered_at > both[1].triggered_at
        || (both[0].triggered_at == both[1].triggered_at && both[0].id > both[1].id)
    {
        both
    } else {
        vec![both[1].clone(), both[0].clone()]
    };
    // One index range (no filter), and a union of ranges (two statuses).
    for filter in [
        RunFilter::default(),
        RunFilter {
            deployment_id: Some(full.clone()),
            has_error: None,
            ..Default::default()
        },
    ] {
        let listed = runs::list(store, &org_id, &filter, &page(10))
            .await
            .unwrap();
        assert_eq!(listed.items, both, "{filter:?}");
    }
    let failed_or_skipped = RunFilter {
        has_error: Some(true),
        ..Default::default()
    };
    let listed = runs::list(store, &org_id, &failed_or_skipped, &page(10))
        .await
        .unwrap();
    assert_eq!(listed.items, vec![populated_run]);

    if store.backend() == Backend::Sqlite {
        for (column, bad, good) in [
            ("status", "'bogus'", "'active'"),
            ("metadata", "'{'", "'{}'"),
        ] {
            let set = |value: &str| {
                format!("UPDATE deployments SET {column} = {value} WHERE id = '{bare}'")
            };
            store.writer().execute_unprepared(&set(bad)).await.unwrap();
            let err = deployments::get(store, &org_id, &bare).await.unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{column}: {err}");
            assert_eq!(
                deployments::get(store, &org_id, &full).await.unwrap(),
                Some(populated.clone())
            );
            store.writer().execute_unprepared(&set(good)).await.unwrap();
        }
    }
}
