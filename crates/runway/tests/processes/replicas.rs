//! Three `runway serve` replicas on one PostgreSQL, each with its own
//! runner, under parallel triggers (through every replica) and per-minute
//! schedules; one replica is killed with `kill -9` mid-load. The limit
//! holds at every instant sampled, every trigger records exactly one run (clients
//! retry on a survivor with the same `Idempotency-Key`), the killed
//! replica's runs end as documented (`runner_lost_error`, then a retry),
//! and every scheduled minute fires exactly once, after the kill too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use runway_api::enums::{RunErrorType, RunStatus, TriggerType};
use runway_store::entity::deployment_run::{self, Entity as DeploymentRun};
use runway_store::testing::TestDatabase;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::harness::{Runner, Server, eventually, http_client};

const MAX_CONCURRENT: usize = 3;
const MAX_RETRIES: i32 = 2;
const MINUTE_NANOS: i64 = 60_000_000_000;

/// Triggers `dep` with `key` through the first replica that answers,
/// starting at `first`: a replica that is gone (connection refused) or
/// says the key is in flight is left for the next. The run recorded for
/// the key.
async fn trigger_somewhere(
    urls: &[String],
    token: &str,
    dep: &str,
    key: &str,
    first: usize,
) -> Value {
    let client = http_client();
    for attempt in 0..200 {
        let url = &urls[(first + attempt) % urls.len()];
        let answer = client
            .post(format!("{url}/api/v1/cloud/deployments/{dep}/run"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .send()
            .await;
        match answer {
            Ok(r) if r.status() == 200 => return r.json().await.unwrap(),
            Ok(r) if r.status() == 409 => {}
            Ok(r) => panic!("{key}: {} {}", r.status(), r.text().await.unwrap()),
            // Gone, or killed mid-answer: the key tells whether it recorded.
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{key}: no replica answered");
}

async fn runs_of(db: &TestDatabase, dep: &str) -> Vec<deployment_run::Model> {
    DeploymentRun::find()
        .filter(deployment_run::Column::DeploymentId.eq(dep))
        .all(db.store().reader())
        .await
        .unwrap()
}

/// The instants a deployment's schedule fired, in order.
async fn fired(db: &TestDatabase, dep: &str) -> Vec<i64> {
    let mut instants: Vec<i64> = runs_of(db, dep)
        .await
        .iter()
        .filter(|r| r.trigger_type == TriggerType::Schedule)
        .filter_map(|r| r.scheduled_for)
        .collect();
    instants.sort();
    instants
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_keep_limits_and_schedules_through_a_kill() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    // One data directory: the first replica writes the admin token there,
    // the others read it.
    let data = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(Server::start_scheduling(db.url(), data.path()).await);
    }
    let api = replicas[0].api();
    let (agent, env) = api.agent_and_environment().await;
    let runners: Vec<Runner> = replicas
        .iter()
        .map(|server| Runner::start(server, &env, 4, &[]))
        .collect();
    let manual = api
        .deployment(
            &agent,
            &env,
            "sleep 2",
            json!({"max_concurrent": MAX_CONCURRENT, "max_retries": MAX_RETRIES}),
        )
        .await;
    let mut scheduled = Vec::new();
    for _ in 0..2 {
        let (status, dep) = api
            .post(
                "/deployments",
                json!({"name": "every-minute", "agent": agent, "environment_id": env,
                       "initial_events": [{"type": "user.message", "content": "true"}],
                       "schedule": {"expression": "* * * * *", "timezone": "UTC"}}),
            )
            .await;
        assert_eq!(status, 200, "{dep}");
        scheduled.push(dep["id"].as_str().unwrap().to_string());
    }
    let created = runway_store::time::now_nanos();

    // Three clients trigger through every replica in turn, each trigger
    // with its own key, until told to stop.
    let urls: Vec<String> = replicas.iter().map(|s| s.http.clone()).collect();
    let token = api.token.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|client| {
            let (urls, token, manual) = (urls.clone(), token.clone(), manual.clone());
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut answers = BTreeMap::new();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = format!("client-{client}-{i}");
                    let run = trigger_somewhere(&urls, &token, &manual, &key, client + i).await;
                    answers.insert(key, run["id"].as_str().unwrap().to_string());
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                answers
            })
        })
        .collect();

    // Meanwhile, the manual deployment's pending and running runs are
    // counted (one statement: one snapshot), again and again.
    let sampler = tokio::spawn({
        let (store, manual, stop) = (db.store().clone(), manual.clone(), stop.clone());
        async move {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let active = DeploymentRun::find()
                    .filter(deployment_run::Column::DeploymentId.eq(&manual))
                    .filter(deployment_run::Column::Status.is_in(RunStatus::ACTIVE))
                    .count(store.reader())
                    .await
                    .unwrap();
                peak = peak.max(active);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        }
    });

    // The first minute fires on some replica; then replica 1 dies while
    // its runner executes a run.
    for dep in &scheduled {
        eventually(Duration::from_secs(90), "a first scheduled run", || async {
            (!fired(&db, dep).await.is_empty()).then_some(())
        })
        .await;
    }
    // Runners name their slots `host:pid#n`.
    let victim = format!(":{}#", runners[1].pid());
    let held = eventually(
        Duration::from_secs(60),
        "a run held by runner 1",
        || async {
            // Claimed in the last half second: most of its 2 s still to run,
            // so it is executing when the replica dies.
            let recent = runway_store::time::now_nanos() - 500_000_000;
            runs_of(&db, &manual).await.into_iter().find(|r| {
                r.status == RunStatus::Running
                    && r.claimed_at.is_some_and(|at| at > recent)
                    && r.runner_name.as_ref().is_some_and(|n| n.contains(&victim))
            })
        },
    )
    .await;
    replicas[1].kill9().await;
    let killed_at = runway_store::time::now_nanos();

    // The survivors keep scheduling: a minute after the kill fires.
    for dep in &scheduled {
        eventually(
            Duration::from_secs(90),
            "a scheduled run after the kill",
            || async {
                fired(&db, dep)
                    .await
                    .last()
                    .is_some_and(|last| *last > killed_at)
                    .then_some(())
            },
        )
        .await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = BTreeMap::new();
    for client in clients {
        answered.extend(client.await.unwrap());
    }

    // Every run of the manual deployment ends (retries included).
    let all = eventually(Duration::from_secs(60), "every run to end", || async {
        let runs = runs_of(&db, &manual).await;
        runs.iter()
            .all(|r| {
                matches!(
                    r.status,
                    RunStatus::Completed | RunStatus::Failed | RunStatus::Skipped
                )
            })
            .then_some(runs)
    })
    .await;
    for survivor in [0, 2] {
        replicas[survivor].stop().await;
    }
    for runner in runners {
        runner.kill9().await;
    }

    // One run per key: none lost, none doubled.
    let keyed: BTreeSet<&String> = answered.values().collect();
    assert_eq!(keyed.len(), answered.len(), "a run per key");
    let manual_runs: BTreeSet<&String> = all
        .iter()
        .filter(|r| r.trigger_type == TriggerType::Manual)
        .map(|r| &r.id)
        .collect();
    assert_eq!(manual_runs, keyed, "the manual runs are the keys' runs");

    // The limit held at every instant the sampler looked, and was reached.
    let peak = sampler.await.unwrap();
    assert_eq!(
        peak, MAX_CONCURRENT as u64,
        "the most pending or running runs seen at once"
    );
    let skipped = all
        .iter()
        .filter(|r| r.status == RunStatus::Skipped)
        .count();
    assert!(skipped > 0, "the load must reach the limit");

    // Runs the killed replica's runner held lost it, and each was retried
    // once (until the attempts ran out).
    let lost: Vec<&deployment_run::Model> = all
        .iter()
        .filter(|r| r.error_type == Some(RunErrorType::RunnerLost))
        .collect();
    assert!(
        lost.iter().any(|r| r.id == held.id),
        "the run runner 1 held when its replica died lost its runner: {:?}",
        all.iter().find(|r| r.id == held.id)
    );
    for run in &lost {
        let retries: Vec<_> = all
            .iter()
            .filter(|r| r.retry_of.as_ref() == Some(&run.id))
            .collect();
        let expected = usize::from(run.attempt <= MAX_RETRIES);
        assert_eq!(retries.len(), expected, "{}: {retries:?}", run.id);
    }
    for run in all.iter().filter(|r| r.trigger_type == TriggerType::Retry) {
        let of = all
            .iter()
            .find(|r| Some(&r.id) == run.retry_of.as_ref())
            .expect("a retry names its run");
        assert_eq!(run.attempt, of.attempt + 1);
        assert_eq!(of.status, RunStatus::Failed);
    }

    // Every minute from the first to the last fired exactly once (the
    // database's unique index forbids twice; no gap means none lost).
    for dep in &scheduled {
        let instants = fired(&db, dep).await;
        assert!(instants[0] >= created - MINUTE_NANOS, "{instants:?}");
        for pair in instants.windows(2) {
            assert_eq!(pair[1] - pair[0], MINUTE_NANOS, "{instants:?}");
        }
    }
    // Nothing holds a slot it should not: counts match the runs left.
    runway_store::testing::assert_slot_counts(db.store()).await;
}
