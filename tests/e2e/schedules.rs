//! Schedules: scheduled runs through the concurrency gate, paused and
//! archived deployments, catch-up after downtime, and replicas that never
//! double-fire. Time is a shared manual clock, moved by the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::DateTime;
use runway_api::v1::GetDeploymentRequest;
use runway_server::{ExecutionConfig, ManualClock, Runway, SharedClock};
use runway_store::testing::TestDatabase;
use runway_store::{Store, StoreOptions};
use serde_json::{Value, json};

use crate::support::TestApp;

const MINUTE: i64 = 60_000_000_000;

fn at(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

fn iso(nanos: i64) -> Value {
    json!(DateTime::from_timestamp_nanos(nanos).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

macro_rules! on_every_backend_with_clock {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let clock = super::ManualClock::new(super::at("2026-01-01T00:00:30Z"));
                let app = super::TestApp::start(super::TestDatabase::sqlite().await, clock.clone()).await;
                super::$name(app, clock).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = super::TestDatabase::postgres().await else { return };
                let clock = super::ManualClock::new(super::at("2026-01-01T00:00:30Z"));
                let app = super::TestApp::start(db, clock.clone()).await;
                super::$name(app, clock).await;
            })*
        }
    };
}

on_every_backend_with_clock!(
    scheduled_runs_fire_once_per_instant_through_the_gate,
    paused_and_archived_deployments_do_not_fire,
    a_restart_after_downtime_fires_one_catch_up_run,
);

fn every_ten_minutes() -> Value {
    json!({"type": "cron", "expression": "*/10 * * * *", "timezone": "UTC"})
}

async fn runs_of(app: &TestApp, deployment: &str) -> Vec<Value> {
    let list = app
        .get(&format!("/deployments/{deployment}/runs?limit=1000"))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    list.body["data"].as_array().unwrap().clone()
}

async fn scheduled_runs_fire_once_per_instant_through_the_gate(
    app: TestApp,
    clock: Arc<ManualClock>,
) {
    let seed = app.seed_with(1, every_ten_minutes()).await;
    let dep = app
        .get(&format!("/deployments/{}", seed.deployment_id))
        .await
        .body;
    assert_eq!(
        dep["schedule"]["upcoming_runs_at"][0],
        iso(at("2026-01-01T00:10:00Z"))
    );
    assert!(
        dep["schedule"].get("last_run_at").is_none(),
        "no scheduled run yet"
    );

    clock.set(at("2026-01-01T00:09:59Z"));
    assert!(
        app.scheduler().run_once().await.unwrap().is_empty(),
        "not due yet"
    );

    clock.set(at("2026-01-01T00:10:00Z"));
    let fired = app.scheduler().run_once().await.unwrap();
    assert_eq!(fired.len(), 1);
    assert!(
        app.scheduler().run_once().await.unwrap().is_empty(),
        "an instant fires once"
    );
    let runs = runs_of(&app, &seed.deployment_id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["trigger_context"], json!({"type": "schedule"}));
    assert_eq!(runs[0]["status"], "running");
    assert_eq!(runs[0]["triggered_at"], iso(at("2026-01-01T00:10:00Z")));
    let dep = app
        .get(&format!("/deployments/{}", seed.deployment_id))
        .await
        .body;
    assert_eq!(
        dep["schedule"]["last_run_at"],
        iso(at("2026-01-01T00:10:00Z"))
    );
    assert_eq!(
        dep["schedule"]["upcoming_runs_at"][0],
        iso(at("2026-01-01T00:20:00Z"))
    );
    assert_eq!(
        dep["metadata"]["cas_config"]["stats"]["next_trigger_at"],
        iso(at("2026-01-01T00:20:00Z"))
    );

    // The first run still holds the only slot: the next instant is skipped.
    clock.set(at("2026-01-01T00:20:00Z"));
    assert_eq!(app.scheduler().run_once().await.unwrap().len(), 1);
    let runs = runs_of(&app, &seed.deployment_id).await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "skipped");
    assert_eq!(runs[0]["error"]["type"], "concurrency_limit_error");
    assert_eq!(runs[0]["trigger_context"], json!({"type": "schedule"}));
    let scheduled = app.get("/deployment_runs?trigger_type=schedule").await;
    assert_eq!(scheduled.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get("/deployment_runs?trigger_type=manual").await.body["data"],
        json!([])
    );
    app.shutdown().await;
}

async fn paused_and_archived_deployments_do_not_fire(app: TestApp, clock: Arc<ManualClock>) {
    let seed = app.seed_with(5, every_ten_minutes()).await;
    let paused = seed.deployment_id.clone();
    let archived = app
        .deployment_with(&seed.agent_id, &seed.environment_id, 5, every_ten_minutes())
        .await;
    let resp = app
        .post_empty(&format!("/deployments/{paused}/pause"))
        .await;
    assert_eq!(resp.body["schedule"]["upcoming_runs_at"], json!([]));
    let resp = app
        .post_empty(&format!("/deployments/{archived}/archive"))
        .await;
    assert_eq!(resp.body["schedule"]["upcoming_runs_at"], json!([]));

    for instant in ["00:10", "00:20", "00:30"] {
        clock.set(at(&format!("2026-01-01T{instant}:00Z")));
        assert!(
            app.scheduler().run_once().await.unwrap().is_empty(),
            "{instant}"
        );
    }
    clock.set(at("2026-01-01T00:35:00Z"));
    let resumed = app
        .post_empty(&format!("/deployments/{paused}/unpause"))
        .await;
    assert_eq!(
        resumed.body["schedule"]["upcoming_runs_at"][0],
        iso(at("2026-01-01T00:40:00Z"))
    );
    assert!(
        app.scheduler().run_once().await.unwrap().is_empty(),
        "nothing fires for the paused period"
    );
    clock.set(at("2026-01-01T00:40:00Z"));
    assert_eq!(app.scheduler().run_once().await.unwrap().len(), 1);
    assert_eq!(runs_of(&app, &paused).await.len(), 1);
    assert_eq!(runs_of(&app, &archived).await.len(), 0);
    app.shutdown().await;
}

async fn a_restart_after_downtime_fires_one_catch_up_run(
    mut app: TestApp,
    clock: Arc<ManualClock>,
) {
    let seed = app.seed_with(5, every_ten_minutes()).await;
    // Down from 00:05 until 01:45: ten instants (00:10 … 01:40) pass unfired.
    clock.set(at("2026-01-01T00:05:00Z"));
    app.restart().await;
    clock.set(at("2026-01-01T01:45:00Z"));
    app.restart().await;
    let fired = app.scheduler().run_once().await.unwrap();
    assert_eq!(fired.len(), 1, "one catch-up run, never a burst");
    assert_eq!(fired[0].plan.missed, 9);
    assert_eq!(fired[0].plan.fire_at, at("2026-01-01T01:40:00Z"));
    assert!(app.scheduler().run_once().await.unwrap().is_empty());
    // The missed instants are recorded as one skipped run, for the first.
    let runs = runs_of(&app, &seed.deployment_id).await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[0]["status"], "running");
    assert_eq!(runs[1]["status"], "skipped");
    assert_eq!(runs[1]["trigger_context"]["type"], "schedule");
    assert_eq!(runs[1]["error"]["type"], "schedule_missed_error");
    assert_eq!(
        runs[1]["error"]["message"],
        "9 scheduled instant(s) from 2026-01-01T00:10:00.000000000Z passed while no \
         scheduler ran; the schedule fired once, for 2026-01-01T01:40:00.000000000Z"
    );
    let dep = app
        .get(&format!("/deployments/{}", seed.deployment_id))
        .await
        .body;
    assert_eq!(
        dep["schedule"]["last_run_at"],
        iso(at("2026-01-01T01:40:00Z"))
    );
    assert_eq!(
        dep["schedule"]["upcoming_runs_at"][0],
        iso(at("2026-01-01T01:50:00Z"))
    );
    assert_eq!(dep["metadata"]["cas_config"]["stats"]["missed_fires"], 9);

    // The missed count is exposed on the deployment's stats over gRPC too.
    let mut request = tonic::Request::new(GetDeploymentRequest {
        deployment_id: seed.deployment_id.clone(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", app.token).parse().unwrap(),
    );
    let dep = app
        .grpc()
        .await
        .get_deployment(request)
        .await
        .unwrap()
        .into_inner();
    let stats = dep.deployment.unwrap().cas_config.unwrap().stats.unwrap();
    assert_eq!(stats.missed_fires, 9);
    app.shutdown().await;
}

/// The loop `runway serve` runs fires a deployment once its instant comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_loop_fires_due_deployments() {
    let clock = ManualClock::new(at("2026-01-01T00:00:30Z"));
    let interval = Some(std::time::Duration::from_millis(10));
    let app =
        TestApp::start_with_scheduler(TestDatabase::sqlite().await, clock.clone(), interval).await;
    let seed = app.seed_with(1, every_ten_minutes()).await;
    clock.set(at("2026-01-01T00:10:00Z"));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let runs = loop {
        let runs = runs_of(&app, &seed.deployment_id).await;
        if !runs.is_empty() || tokio::time::Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(runs.len(), 1, "the loop fired the due instant");
    assert_eq!(runs[0]["trigger_context"], json!({"type": "schedule"}));
    app.shutdown().await;
}

/// Three replicas (three schedulers, each with its own connection pool) on
/// one PostgreSQL share a simulated clock that walks through 500 instants of
/// 20 every-minute deployments: every (deployment, instant) has exactly one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_postgres_fire_each_instant_exactly_once() {
    const DEPLOYMENTS: usize = 20;
    const INSTANTS: i64 = 500;
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let start = at("2026-01-01T00:00:30Z");
    let clock = ManualClock::new(start);
    let app = TestApp::start(db, clock.clone()).await;
    let seed = app
        .seed_with(1, json!({"expression": "* * * * *", "timezone": "UTC"}))
        .await;
    let mut deployments = vec![seed.deployment_id.clone()];
    for _ in 1..DEPLOYMENTS {
        deployments.push(
            app.deployment_with(
                &seed.agent_id,
                &seed.environment_id,
                1,
                json!({"expression": "* * * * *"}),
            )
            .await,
        );
    }
    let shared: SharedClock = clock.clone();
    let mut replicas = vec![app.scheduler().clone()];
    for _ in 0..2 {
        let store = Store::open(&StoreOptions::new(app.database_url()))
            .await
            .unwrap();
        replicas.push(Runway::new(store, shared.clone(), ExecutionConfig::default()).scheduler());
    }

    let first = at("2026-01-01T00:01:00Z");
    for i in 0..INSTANTS {
        clock.set(first + i * MINUTE);
        let passes = futures::future::join_all(replicas.iter().map(|r| r.run_once())).await;
        let fired: usize = passes.into_iter().map(|p| p.unwrap().len()).sum();
        assert_eq!(
            fired, DEPLOYMENTS,
            "instant {i}: each deployment fires once across the replicas"
        );
    }

    let expected: BTreeSet<String> = (0..INSTANTS)
        .map(|i| iso(first + i * MINUTE).to_string())
        .collect();
    for dep in &deployments {
        let runs = runs_of(&app, dep).await;
        let mut per_instant: BTreeMap<String, usize> = BTreeMap::new();
        for run in &runs {
            assert_eq!(run["trigger_context"]["type"], "schedule");
            *per_instant
                .entry(run["triggered_at"].to_string())
                .or_default() += 1;
        }
        assert!(
            per_instant.values().all(|n| *n == 1),
            "{dep}: an instant fired twice"
        );
        assert_eq!(
            per_instant.keys().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{dep}: none missing"
        );
    }
    app.shutdown().await;
}
