//! Turns a stopping process kills — a `serve --exec` past its stop's
//! grace, a runner told twice to stop — fail their runs as
//! `runner_lost_error` there and then: they stayed `running` until their
//! leases ran out.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use runway_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{Api, Runner, Server, eventually, process_gone};

const LIMIT: Duration = Duration::from_secs(60);

/// Triggers a turn that sleeps until it is killed: its run's id, and its
/// agent's pid once it runs (the test agent writes it to `pids`).
async fn a_long_turn(api: &Api, agent: &str, env: &str, pids: &Path) -> (String, i32) {
    let dep = api.deployment(agent, env, "sleep 600", json!({})).await;
    let run_id = api.trigger(&dep).await["id"].as_str().unwrap().to_string();
    let pid = eventually(LIMIT, "the agent starts", || {
        let path = pids.join(&run_id);
        async move { std::fs::read_to_string(path).ok()?.trim().parse().ok() }
    })
    .await;
    (run_id, pid)
}

/// The run a stopping runner's kill ended: failed, the runner's doing.
fn assert_failed_by_its_runner(run: &Value) {
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        run["error"],
        json!({
            "type": "runner_lost_error",
            "message": "The runner stopped before the turn ended and killed the agent."
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_past_its_grace_fails_the_turns_it_kills() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let pids = tempfile::tempdir().unwrap();
    let script = crate::harness::agent_script();
    let exec = format!("PIDS={} sh {}", pids.path().display(), script.display());
    let mut server = Server::start_with(db.url(), data.path(), &["--exec", &exec]).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let (run_id, agent_pid) = a_long_turn(&api, &agent, &env, pids.path()).await;

    server.stop().await; // SIGTERM; the grace (20 s) passes with the agent asleep
    assert!(process_gone(agent_pid), "the agent was killed");
    server.restart().await;
    let run = server
        .api()
        .get(&format!("/deployment_runs/{run_id}"))
        .await;
    assert_failed_by_its_runner(&run);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_stopped_twice_fails_the_turns_it_kills() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let pids = tempfile::tempdir().unwrap();
    // A 30 s lease: the run fails long before the reaper would take it.
    let server = Server::start_at(
        db.url(),
        data.path(),
        "127.0.0.1:0",
        "127.0.0.1:0",
        Duration::from_secs(30),
    )
    .await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let pids_dir = pids.path().to_str().unwrap();
    let mut runner = Runner::start(&server, &env, 1, &[("PIDS", pids_dir)]);
    let (run_id, agent_pid) = a_long_turn(&api, &agent, &env, pids.path()).await;

    let runner_pid = Pid::from_raw(runner.pid() as i32);
    kill(runner_pid, Signal::SIGTERM).unwrap();
    // A second signal within a second is the same stop told twice.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    kill(runner_pid, Signal::SIGTERM).unwrap();
    let status = runner.wait(LIMIT).await;
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(process_gone(agent_pid), "the agent was killed");
    let run = api.get(&format!("/deployment_runs/{run_id}")).await;
    assert_failed_by_its_runner(&run);
}
