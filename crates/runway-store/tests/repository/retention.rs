//! Retention's deletions on both backends: expired runs found by their
//! ranges and deleted in batches, finished deliveries with their attempts
//! (never a pending one), idempotency keys past their cutoff (never one
//! claimed since), and SQLite's freed pages handed back to the file system.

use runway_api::enums::{RunStatus, WebhookDeliveryStatus, WebhookEventType};
use runway_store::entity::deployment_run::{self, Entity as DeploymentRun};
use runway_store::entity::idempotency_key::{self, Entity as IdempotencyKey};
use runway_store::entity::webhook_attempt::{self, Entity as WebhookAttempt};
use runway_store::entity::webhook_delivery::{self, Entity as WebhookDelivery};
use runway_store::repo::retention::{self, RunCutoffs};
use runway_store::repo::{deployments, history, prune};
use runway_store::{Backend, Store};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};

const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SECOND;

async fn pragma(store: &Store, name: &str) -> i64 {
    super::settings::pragma(store.writer(), name)
        .await
        .parse()
        .unwrap()
}

pub async fn expired_runs_go_in_batches_and_sqlite_gives_the_space_back(store: &Store) {
    let org = super::org(store).await;
    let dep = super::deployment(store, &org, 1).await;
    let dep = deployments::get(store, &org, &dep).await.unwrap().unwrap();
    let now = super::now();
    // 6,000 finished runs, one a minute, the newest 10 days ago.
    history::fill(
        store,
        std::slice::from_ref(&dep),
        6_000,
        now - 10 * DAY,
        60 * SECOND,
        |_| {},
    )
    .await
    .unwrap();
    let total = async || {
        DeploymentRun::find()
            .filter(deployment_run::Column::DeploymentId.eq(&dep.id))
            .count(store.reader())
            .await
            .unwrap()
    };
    let pages_before = if store.backend() == Backend::Sqlite {
        pragma(store, "page_count").await
    } else {
        0
    };
    // By count: the newest 1,000 stay, exactly.
    let boundary = retention::newest_kept(store, &dep.id, 1_000).await.unwrap();
    let cutoffs = RunCutoffs {
        newest_kept: boundary,
        ..RunCutoffs::default()
    };
    let mut deleted = 0;
    loop {
        let batch = retention::expired_runs(store, &dep.id, &cutoffs, 700)
            .await
            .unwrap();
        assert!(batch.len() <= 700);
        if batch.is_empty() {
            break;
        }
        deleted += prune::delete_runs(store, &batch)
            .await
            .unwrap()
            .removed
            .runs;
    }
    assert_eq!(deleted, 5_000);
    assert_eq!(total().await, 1_000);
    assert_eq!(
        retention::newest_kept(store, &dep.id, 1_000).await.unwrap(),
        cutoffs.newest_kept,
        "the oldest kept run is still the 1,000th newest"
    );
    assert_eq!(
        retention::newest_kept(store, &dep.id, 1_001).await.unwrap(),
        None
    );
    // By age: all of them are older than a day.
    let cutoffs = RunCutoffs {
        keep_before: Some(now - DAY),
        failed_before: Some(now - DAY),
        newest_kept: None,
    };
    let rest = retention::expired_runs(store, &dep.id, &cutoffs, 5_000)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1_000);
    assert_eq!(
        prune::delete_runs(store, &rest).await.unwrap().removed.runs,
        1_000
    );
    assert_eq!(total().await, 0);

    match prune::free_pages(store).await.unwrap() {
        None => assert_eq!(store.backend(), Backend::Postgres),
        Some((free, incremental)) => {
            assert!(incremental, "a new database reclaims incrementally");
            assert!(free > 100, "{free} free pages after deleting 6,000 runs");
            prune::reclaim_pages(store, u32::try_from(free).unwrap())
                .await
                .unwrap();
            assert_eq!(prune::free_pages(store).await.unwrap(), Some((0, true)));
            let pages_after = pragma(store, "page_count").await;
            assert!(
                pages_after + free <= pages_before + 1,
                "the file shrank: {pages_before} pages → {pages_after}"
            );
        }
    }
}

pub async fn finished_deliveries_and_old_keys_go_pending_ones_stay(store: &Store) {
    let org = super::org(store).await;
    let now = super::now();
    let delivery =
        |id: &str, status: WebhookDeliveryStatus, updated_at: i64| webhook_delivery::ActiveModel {
            id: Set(id.to_string()),
            org_id: Set(org.clone()),
            endpoint_id: Set("whep_1".into()),
            event_id: Set(format!("evt_{id}")),
            event_type: Set(WebhookEventType::DeploymentRunFailed),
            body: Set("{}".into()),
            status: Set(status),
            attempt_count: Set(1),
            next_attempt_at: Set(None),
            parked_at: Set(None),
            redelivery_of: Set(None),
            created_at: Set(updated_at),
            updated_at: Set(updated_at),
        };
    let old = now - 40 * DAY;
    WebhookDelivery::insert_many([
        delivery("whdl_ok_old", WebhookDeliveryStatus::Succeeded, old),
        delivery("whdl_failed_old", WebhookDeliveryStatus::Failed, old),
        delivery("whdl_pending_old", WebhookDeliveryStatus::Pending, old),
        delivery("whdl_ok_new", WebhookDeliveryStatus::Succeeded, now),
    ])
    .exec(store.writer())
    .await
    .unwrap();
    for delivery_id in ["whdl_ok_old", "whdl_failed_old", "whdl_pending_old"] {
        WebhookAttempt::insert(webhook_attempt::ActiveModel {
            delivery_id: Set(delivery_id.into()),
            number: Set(1),
            org_id: Set(org.clone()),
            attempted_at: Set(old),
            status_code: Set(Some(500)),
            latency_ms: Set(3),
            response_body: Set(String::new()),
            error: Set(None),
        })
        .exec(store.writer())
        .await
        .unwrap();
    }
    // Succeeded ones past 30 days; failed ones kept 60.
    let expired =
        prune::expired_deliveries(store, &org, Some(now - 30 * DAY), Some(now - 60 * DAY), 10)
            .await
            .unwrap();
    assert_eq!(expired, vec!["whdl_ok_old".to_string()]);
    assert_eq!(
        prune::count_expired_deliveries(store, &org, Some(now - 30 * DAY), Some(now - 30 * DAY))
            .await
            .unwrap(),
        2
    );
    let mut expired =
        prune::expired_deliveries(store, &org, Some(now - 30 * DAY), Some(now - 30 * DAY), 10)
            .await
            .unwrap();
    expired.sort();
    assert_eq!(
        expired,
        vec!["whdl_failed_old".to_string(), "whdl_ok_old".to_string()]
    );
    // Even named, a pending delivery stays.
    expired.push("whdl_pending_old".into());
    let removed = prune::delete_deliveries(store, &expired)
        .await
        .unwrap()
        .removed;
    assert_eq!((removed.deliveries, removed.attempts), (2, 3));
    let mut left: Vec<String> = WebhookDelivery::find()
        .filter(webhook_delivery::Column::OrgId.eq(&org))
        .all(store.reader())
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec!["whdl_ok_new".to_string(), "whdl_pending_old".to_string()]
    );

    // Keys: two past the cutoff, one claimed since; a batch of one at a time.
    let key = |key: &str, created_at: i64| idempotency_key::ActiveModel {
        org_id: Set(org.clone()),
        key: Set(key.into()),
        request_hash: Set("h".into()),
        resource_id: Set("drun_1".into()),
        created_at: Set(created_at),
    };
    IdempotencyKey::insert_many([
        key("a", now - 2 * DAY),
        key("b", now - 2 * DAY),
        key("c", now),
    ])
    .exec(store.writer())
    .await
    .unwrap();
    let before = now - DAY;
    assert_eq!(
        prune::count_idempotency_keys(store, before).await.unwrap(),
        2
    );
    // One at a time: two past the cutoff, then none.
    for expected in [1, 1, 0] {
        let deleted = prune::delete_idempotency_keys(store, before, 1)
            .await
            .unwrap();
        assert_eq!(deleted.removed.idempotency_keys, expected);
    }
    let left: Vec<String> = IdempotencyKey::find()
        .filter(idempotency_key::Column::OrgId.eq(&org))
        .all(store.reader())
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key)
        .collect();
    assert_eq!(left, vec!["c".to_string()]);
}

/// The pruner's walk in time order judges each run with
/// `RunCutoffs::expires`: under every kind of cutoff it finds exactly what
/// the deployment's ranges find, reads the organization's runs oldest
/// first, and resumes after a position without reading a run twice.
pub async fn the_walk_in_time_order_finds_what_the_ranges_find(store: &Store) {
    let org = super::org(store).await;
    let mut deps = Vec::new();
    for _ in 0..3 {
        let id = super::deployment(store, &org, 1).await;
        deps.push(deployments::get(store, &org, &id).await.unwrap().unwrap());
    }
    let now = super::now();
    // 900 finished runs, one a minute round-robin, the newest a day ago.
    history::fill(store, &deps, 900, now - DAY, 60 * SECOND, |_| {})
        .await
        .unwrap();
    // A few old runs still going: never expired.
    let old: Vec<String> = DeploymentRun::find()
        .filter(deployment_run::Column::DeploymentId.eq(&deps[0].id))
        .all(store.reader())
        .await
        .unwrap()
        .into_iter()
        .take(5)
        .map(|run| run.id)
        .collect();
    DeploymentRun::update_many()
        .col_expr(
            deployment_run::Column::Status,
            sea_orm::sea_query::Expr::value(RunStatus::Running),
        )
        .filter(deployment_run::Column::Id.is_in(old))
        .exec(store.writer())
        .await
        .unwrap();
    // Counted in its slots, as a trigger would have.
    runway_store::entity::deployment::Entity::update_many()
        .col_expr(
            runway_store::entity::deployment::Column::ActiveRuns,
            sea_orm::sea_query::Expr::value(5),
        )
        .filter(runway_store::entity::deployment::Column::Id.eq(&deps[0].id))
        .exec(store.writer())
        .await
        .unwrap();
    let span = 900 * 60 * SECOND;
    let at = |fraction: f64| now - DAY - (span as f64 * fraction) as i64;
    let newest_kept = retention::newest_kept(store, &deps[0].id, 100)
        .await
        .unwrap();
    // Two more runs triggered at the boundary's very instant, one before it
    // in id order (it goes) and one after (it stays).
    let (_, kept_id) = newest_kept.clone().expect("a boundary");
    let boundary = DeploymentRun::find_by_id(kept_id.clone())
        .one(store.reader())
        .await
        .unwrap()
        .unwrap();
    let tie_ids = [
        format!("drun_{}", "0".repeat(32)),
        format!("drun_{}", "f".repeat(32)),
    ];
    for id in &tie_ids {
        let mut tie = boundary.clone();
        tie.id = id.clone();
        tie.scheduled_for = None;
        DeploymentRun::insert(tie.into_active_model().reset_all())
            .exec(store.writer())
            .await
            .unwrap();
    }
    assert!(tie_ids[0] < kept_id && kept_id < tie_ids[1]);
    let cases = [
        RunCutoffs {
            keep_before: Some(at(0.5)),
            ..RunCutoffs::default()
        },
        RunCutoffs {
            keep_before: Some(at(0.3)),
            failed_before: Some(at(0.8)),
            newest_kept: None,
        },
        RunCutoffs {
            newest_kept: newest_kept.clone(),
            ..RunCutoffs::default()
        },
        RunCutoffs {
            keep_before: Some(at(0.9)),
            failed_before: Some(at(0.95)),
            newest_kept: newest_kept.clone(),
        },
    ];
    for cutoffs in cases {
        let mut by_ranges: Vec<String> =
            retention::expired_runs(store, &deps[0].id, &cutoffs, 10_000)
                .await
                .unwrap()
                .into_iter()
                .map(|run| run.id)
                .collect();
        by_ranges.sort();
        assert!(!by_ranges.is_empty(), "{cutoffs:?}");
        let before = cutoffs.expire_before().unwrap();
        let mut walked: Vec<(i64, String)> = Vec::new();
        let mut by_walk: Vec<String> = Vec::new();
        let mut after: Option<(i64, String)> = None;
        loop {
            let position = after.as_ref().map(|(at, id)| (*at, id.as_str()));
            let runs = retention::runs_in_time_order(store, &org, position, before, 97)
                .await
                .unwrap();
            let Some(last) = runs.last() else { break };
            after = Some(last.position());
            for run in runs {
                assert!(run.triggered_at < before);
                walked.push(run.position());
                if run.deployment_id == deps[0].id
                    && cutoffs.expires(run.status, run.triggered_at, &run.id)
                {
                    by_walk.push(run.id);
                }
            }
        }
        by_walk.sort();
        assert_eq!(by_walk, by_ranges, "{cutoffs:?}");
        if cutoffs.newest_kept.is_some() {
            assert!(
                by_walk.contains(&tie_ids[0]),
                "the tie before the boundary goes"
            );
            assert!(!by_walk.contains(&tie_ids[1]), "the tie after it stays");
        }
        assert!(
            walked.windows(2).all(|w| w[0] < w[1]),
            "oldest first, each run once"
        );
        let all_before = DeploymentRun::find()
            .filter(deployment_run::Column::OrgId.eq(&org))
            .filter(deployment_run::Column::TriggeredAt.lt(before))
            .count(store.reader())
            .await
            .unwrap();
        assert_eq!(walked.len() as u64, all_before, "{cutoffs:?}");
    }
}
