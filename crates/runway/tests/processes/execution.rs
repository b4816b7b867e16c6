//! A turn's outcomes: completed, agent error, timeout, cancel; slots that
//! free up at terminal states; a turn over 4 MiB; two runners sharing 100
//! turns.

use std::collections::HashSet;
use std::time::Duration;

use runway_store::testing::TestDatabase;
use serde_json::json;

use crate::harness::{Runner, Server, eventually, process_gone};

const LIMIT: Duration = Duration::from_secs(60);

fn pid_of(dir: &std::path::Path, run_id: &str) -> Option<i32> {
    std::fs::read_to_string(dir.join(run_id))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_timeouts_decide_the_outcome() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let pids = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let runner = Runner::start(&server, &env, 3, &[("PIDS", pids.path().to_str().unwrap())]);

    let ok = api
        .deployment(&agent, &env, "sleep 0.3; exit 0", json!({}))
        .await;
    let broken = api
        .deployment(
            &agent,
            &env,
            "echo working >&2; echo the-agent-broke >&2; exit 3",
            json!({}),
        )
        .await;
    let slow = api
        .deployment(&agent, &env, "sleep 30", json!({"timeout_ms": 2000}))
        .await;
    let ok = api.trigger(&ok).await["id"].as_str().unwrap().to_string();
    let broken = api.trigger(&broken).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let slow = api.trigger(&slow).await["id"].as_str().unwrap().to_string();

    let run = api.terminal(&ok, LIMIT).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["error"], serde_json::Value::Null);
    assert!(run["duration_ms"].as_i64().unwrap() >= 300, "{run}");
    assert!(run["completed_at"].is_string());
    let session = api
        .get(&format!(
            "/sessions/{}",
            run["session_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(session["status"], "idle");
    assert_eq!(session["deployment_run_id"], ok);

    let run = api.terminal(&broken, LIMIT).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["type"], "agent_error");
    let message = run["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("status 3") && message.contains("the-agent-broke"),
        "{message}"
    );
    assert!(run["duration_ms"].is_i64());

    let run = api.terminal(&slow, LIMIT).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["type"], "timeout_error");
    let pid = pid_of(pids.path(), &slow).expect("the slow agent started");
    eventually(LIMIT, "the timed-out agent to be killed", || async {
        process_gone(pid).then_some(())
    })
    .await;

    let dep = api
        .get(&format!(
            "/deployments/{}",
            run["deployment_id"].as_str().unwrap()
        ))
        .await;
    let stats = &dep["metadata"]["cas_config"]["stats"];
    assert_eq!(
        (
            stats["total_failures"].as_i64(),
            stats["consecutive_failures"].as_i64()
        ),
        (Some(1), Some(1))
    );
    runner.kill9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_fails_the_run_and_kills_its_process() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let pids = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let runner = Runner::start(&server, &env, 1, &[("PIDS", pids.path().to_str().unwrap())]);
    let dep = api.deployment(&agent, &env, "sleep 30", json!({})).await;
    let run = api.trigger(&dep).await["id"].as_str().unwrap().to_string();
    let pid = eventually(LIMIT, "the agent to start", || async {
        pid_of(pids.path(), &run)
    })
    .await;

    let (status, canceled) = api
        .post(&format!("/deployment_runs/{run}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "failed");
    assert_eq!(canceled["error"]["type"], "canceled_error");
    assert!(canceled["completed_at"].is_string());
    let (status, again) = api
        .post(&format!("/deployment_runs/{run}/cancel"), json!({}))
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["type"], "conflict_error");
    eventually(LIMIT, "the canceled agent to be killed", || async {
        process_gone(pid).then_some(())
    })
    .await;
    // The runner reported nothing: the cancel stands.
    assert_eq!(api.run(&run).await["error"]["type"], "canceled_error");
    runner.kill9().await;
}

/// A turn larger than tonic's default 4 MiB message (initial events of up
/// to 256 KiB each) reaches the runner whole and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_over_4_mib_is_claimed_and_runs() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    // A lease of 10 s, not the harness's 1 s: a debug build on a busy CI
    // machine took over a second between the claim and the first heartbeat
    // (6 MiB received, decoded and written to the agent), and this test is
    // about the size, not the lease.
    let lease_ttl = Duration::from_secs(10);
    let server = Server::start_at(
        db.url(),
        data.path(),
        "127.0.0.1:0",
        "127.0.0.1:0",
        lease_ttl,
    )
    .await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let runner = Runner::start(&server, &env, 1, &[]);
    let filler = "f".repeat(250 * 1024);
    let mut events = vec![json!({"type": "user.message", "content": "exit 0"})];
    events.extend((0..24).map(|_| json!({"type": "system.message", "content": filler})));
    let (status, dep) = api
        .post(
            "/deployments",
            json!({"name": "big", "agent": agent, "environment_id": env,
                   "initial_events": events}),
        )
        .await;
    assert_eq!(status, 200, "{}", dep["error"]);
    let run = api.trigger(dep["id"].as_str().unwrap()).await;
    let done = api.terminal(run["id"].as_str().unwrap(), LIMIT).await;
    assert_eq!(done["status"], "completed", "{}", done["error"]);
    runner.kill9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_frees_when_its_run_ends() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let runner = Runner::start(&server, &env, 2, &[]);
    let dep = api
        .deployment(&agent, &env, "sleep 0.5", json!({"max_concurrent": 1}))
        .await;
    let first = api.trigger(&dep).await;
    assert_eq!(first["status"], "running");
    let second = api.trigger(&dep).await;
    assert_eq!(second["status"], "skipped", "{second}");
    assert_eq!(second["error"]["type"], "concurrency_limit_error");
    let done = api.terminal(first["id"].as_str().unwrap(), LIMIT).await;
    assert_eq!(done["status"], "completed");
    let third = api.trigger(&dep).await;
    assert_eq!(third["status"], "running", "{third}");
    runner.kill9().await;
}

async fn two_runners_execute_every_turn_once(database_url: &str) {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("executed");
    let server = Server::start(database_url, data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let log_env = [("OUT", log.to_str().unwrap())];
    let runners = [
        Runner::start(&server, &env, 4, &log_env),
        Runner::start(&server, &env, 4, &log_env),
    ];
    let dep = api
        .deployment(
            &agent,
            &env,
            r#"echo $RUNWAY_RUN_ID >> $OUT"#,
            json!({"max_concurrent": 100}),
        )
        .await;
    let mut ids = HashSet::new();
    for _ in 0..100 {
        let run = api.trigger(&dep).await;
        assert_eq!(run["status"], "running");
        ids.insert(run["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        assert_eq!(api.terminal(id, LIMIT).await["status"], "completed");
    }
    let executed = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = executed.lines().collect();
    assert_eq!(lines.len(), 100, "each turn ran exactly once");
    assert_eq!(
        lines.iter().map(|l| l.to_string()).collect::<HashSet<_>>(),
        ids,
        "none missing, none foreign"
    );
    for r in runners {
        r.kill9().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_share_100_turns_on_sqlite() {
    let db = TestDatabase::sqlite().await;
    two_runners_execute_every_turn_once(db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_share_100_turns_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    two_runners_execute_every_turn_once(db.url()).await;
}
