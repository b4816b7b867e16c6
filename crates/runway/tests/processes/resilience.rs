//! Processes that die: a runner killed mid-turn, a server killed with 200
//! runs in flight.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use runway_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{LEASE_TTL, Runner, Server, eventually, process_gone};

const LIMIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runner_loses_its_run_and_the_retry_completes_on_another() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let pids = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let env_vars = [
        ("PIDS", pids.path().to_str().unwrap()),
        ("MARKS", marks.path().to_str().unwrap()),
    ];
    // The first attempt says so and hangs; any later one says so and completes.
    let script = r#"m=$MARKS/$RUNWAY_DEPLOYMENT_ID; if [ -e $m ]; then echo second attempt; exit 0; fi; touch $m; echo first attempt; sleep 30"#;
    let dep = api
        .deployment(&agent, &env, script, json!({"max_retries": 1}))
        .await;

    let first_runner = Runner::start(&server, &env, 1, &env_vars);
    let run = api.trigger(&dep).await["id"].as_str().unwrap().to_string();
    let pid: i32 = eventually(LIMIT, "the first attempt to start", || async {
        std::fs::read_to_string(pids.path().join(&run))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
    .await;
    let first_run = api.run(&run).await;
    let first_session = first_run["session_id"].as_str().unwrap().to_string();
    // What the runner stored before it died stays, once.
    eventually(
        LIMIT,
        "the first attempt's text in its transcript",
        || async {
            let page = api.get(&format!("/sessions/{first_session}/events")).await;
            (page["data"].as_array().unwrap().len() == 3).then_some(())
        },
    )
    .await;
    first_runner.kill9().await;
    let killed_at = Instant::now();
    let lost = api.terminal(&run, LIMIT).await;
    let noticed = killed_at.elapsed();
    // The agent went with its runner (a retry must not run beside it).
    eventually(LIMIT, "the agent gone with its killed runner", || async {
        process_gone(pid).then_some(())
    })
    .await;
    assert_eq!(lost["status"], "failed", "{lost}");
    assert_eq!(lost["error"]["type"], "runner_lost_error");
    assert!(noticed <= 2 * LEASE_TTL, "noticed after {noticed:?}");
    let transcript = api.get(&format!("/sessions/{first_session}/events")).await;
    let kinds: Vec<&str> = transcript["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "user.message",
            "session.status_running",
            "agent.message",
            "session.status_idle"
        ]
    );
    assert_eq!(
        transcript["data"][2]["content"],
        json!([{"type": "text", "text": "first attempt\n"}])
    );
    assert_eq!(
        transcript["data"][3]["stop_reason"]["type"], "error",
        "a retry follows"
    );
    assert_eq!(
        transcript["data"][3]["stop_reason"]["error"]["type"],
        "runner_lost_error"
    );

    let second_runner = Runner::start(&server, &env, 1, &env_vars);
    let retry = eventually(LIMIT, "the retry", || async {
        let runs = api
            .get(&format!(
                "/deployment_runs?deployment_id={dep}&trigger_type=retry"
            ))
            .await;
        runs["data"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(
        retry["trigger_context"],
        json!({"type": "retry", "retry_of": run})
    );
    assert_eq!(retry["cas_run_extras"]["attempt"], 2);
    let retry = api.terminal(retry["id"].as_str().unwrap(), LIMIT).await;
    assert_eq!(retry["status"], "completed", "{retry}");
    // The retry has a session and a transcript of its own.
    let retry_session = retry["session_id"].as_str().unwrap();
    assert_ne!(retry_session, first_session);
    let transcript = api.get(&format!("/sessions/{retry_session}/events")).await;
    let texts: Vec<&Value> = transcript["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "agent.message")
        .map(|e| &e["content"][0]["text"])
        .collect();
    assert_eq!(texts, [&json!("second attempt\n")]);
    let last = transcript["data"].as_array().unwrap().last().unwrap();
    assert_eq!(last["stop_reason"], json!({"type": "end_turn"}));
    let dep = api.get(&format!("/deployments/{dep}")).await;
    let stats = &dep["metadata"]["cas_config"]["stats"];
    assert_eq!(stats["total_runs"], 2);
    assert_eq!(stats["total_failures"], 1);
    assert_eq!(
        stats["consecutive_failures"], 0,
        "the completed retry resets the streak"
    );
    second_runner.kill9().await;
}

/// A server down for longer than a lease (an upgrade, a failover): its
/// runners' leases ran out while nobody could heartbeat. Back up, it lets
/// them renew and report before it takes any for lost, so the turn that
/// kept running ends completed, once, and no retry runs it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_outlives_a_server_down_longer_than_its_lease() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let pids = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let mut server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let runner = Runner::start(
        &server,
        &env,
        1,
        &[
            ("PIDS", pids.path().to_str().unwrap()),
            ("MARKS", marks.path().to_str().unwrap()),
        ],
    );
    // It works until the test says so: through the whole outage, however
    // long the restart takes.
    let script = "echo working; while [ ! -e $MARKS/go ]; do sleep 0.1; done; echo done";
    let dep = api
        .deployment(&agent, &env, script, json!({"max_retries": 1}))
        .await;
    let run = api.trigger(&dep).await["id"].as_str().unwrap().to_string();
    eventually(LIMIT, "the agent to start", || async {
        pids.path().join(&run).exists().then_some(())
    })
    .await;
    server.kill9().await;
    // The outage itself, not a wait for a condition: longer than the lease.
    tokio::time::sleep(2 * LEASE_TTL + LEASE_TTL / 2).await;
    server.restart().await;
    std::fs::write(marks.path().join("go"), "").unwrap();
    let api = server.api();
    let done = api.terminal(&run, LIMIT).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(api.all_runs().await.len(), 1, "no retry");
    let session = done["session_id"].as_str().unwrap();
    let transcript = api.get(&format!("/sessions/{session}/events")).await;
    let text: Vec<&Value> = transcript["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "agent.message")
        .map(|e| &e["content"][0]["text"])
        .collect();
    assert_eq!(
        text,
        [&json!("working\n"), &json!("done\n")],
        "{transcript}"
    );
    runner.kill9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_run_and_runs_none_twice() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("executed");
    // A longer lease: the runners' leases outlive the server's restart.
    let mut server = Server::start_at(
        db.url(),
        data.path(),
        "127.0.0.1:0",
        "127.0.0.1:0",
        Duration::from_secs(5),
    )
    .await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let log_env = [("OUT", log.to_str().unwrap())];
    let runners = [
        Runner::start(&server, &env, 16, &log_env),
        Runner::start(&server, &env, 16, &log_env),
    ];
    let script = r#"sleep 0.5; echo $RUNWAY_RUN_ID >> $OUT"#;
    let deps = [
        api.deployment(&agent, &env, script, json!({"max_concurrent": 100}))
            .await,
        api.deployment(&agent, &env, script, json!({"max_concurrent": 100}))
            .await,
    ];
    let mut ids = HashSet::new();
    for i in 0..200 {
        let run = api.trigger(&deps[i % 2]).await;
        assert_eq!(run["status"], "running");
        ids.insert(run["id"].as_str().unwrap().to_string());
    }
    let before = api.all_runs().await;
    assert_eq!(before.len(), 200);
    let done_before = before.iter().filter(|r| r["status"] == "completed").count();
    assert!(done_before < 200, "the kill must find runs in flight");

    server.kill9_and_restart().await;
    let api = server.api();
    let after = api.all_runs().await;
    assert_eq!(after.len(), 200, "no run lost, none added by the restart");

    for id in &ids {
        let run = api.terminal(id, LIMIT).await;
        assert!(
            matches!(run["status"].as_str(), Some("completed" | "failed")),
            "{run}"
        );
    }
    let runs = api.all_runs().await;
    assert_eq!(runs.len(), 200, "no retries: max_retries is 0");
    let executed = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = executed.lines().collect();
    let unique: HashSet<&str> = lines.iter().copied().collect();
    assert_eq!(unique.len(), lines.len(), "a run executed twice");
    let completed: HashSet<String> = runs
        .iter()
        .filter(|r| r["status"] == "completed")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    // Every completed run executed exactly once. A run that did not complete
    // lost its runner: a claim committed as the server died never reached
    // its runner, so its lease lapsed. That is terminal, not lost; with 32
    // claims at most in flight, at most 32 can end so.
    for id in &completed {
        assert!(
            unique.contains(id.as_str()),
            "completed run {id} never executed"
        );
    }
    for run in runs.iter().filter(|r| r["status"] != "completed") {
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(run["error"]["type"], "runner_lost_error", "{run}");
    }
    assert!(
        completed.len() >= 200 - 32,
        "only {} of 200 completed",
        completed.len()
    );
    assert!(
        unique.iter().all(|id| ids.contains(*id)),
        "an unknown run executed"
    );
    // Every run is terminal, so no slot may still be taken: a kill -9
    // mid-transaction must not leave a count behind.
    runway_store::testing::assert_slot_counts(db.store()).await;
    for r in runners {
        r.kill9().await;
    }
}
