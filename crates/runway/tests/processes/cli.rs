//! The client CLI against a real server: JSON output, tables, exit codes.

use std::process::Output;

use runway_store::testing::TestDatabase;
use serde_json::Value;

use crate::harness::{BIN, Runner, Server, json};

const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The client CLI with `server`'s URL and admin token.
pub(crate) async fn cli(server: &Server, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("RUNWAY_URL", &server.http)
        .env("RUNWAY_TOKEN", &server.token)
        .output()
        .await
        .expect("run the CLI")
}

/// `runway deployments run DEPLOYMENT --wait -o json`: its exit code and
/// the run it printed.
async fn run_and_wait(server: &Server, deployment: &str) -> (Option<i32>, Value) {
    let waited = cli(
        server,
        &["deployments", "run", deployment, "--wait", "-o", "json"],
    )
    .await;
    let run = serde_json::from_slice(&waited.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&waited.stderr)));
    (waited.status.code(), run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_deployments_and_waits_for_runs() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let agent = json(
        &cli(
            &server,
            &[
                "agents", "create", "--name", "a", "--model", "m", "-o", "json",
            ],
        )
        .await,
    );
    assert_eq!(agent["type"], "agent");
    let env = json(
        &cli(
            &server,
            &[
                "environments",
                "create",
                "--name",
                "pool",
                "--output",
                "json",
            ],
        )
        .await,
    );
    let (agent, env) = (agent["id"].as_str().unwrap(), env["id"].as_str().unwrap());
    let runner = Runner::start(&server, env, 2, &[]);

    let create = |script: String| {
        let server = &server;
        async move {
            let dep = cli(
                server,
                &[
                    "deployments",
                    "create",
                    "--name",
                    "d",
                    "--agent",
                    agent,
                    "--environment",
                    env,
                    "--message",
                    &script,
                    "-o",
                    "json",
                ],
            )
            .await;
            json(&dep)["id"].as_str().unwrap().to_string()
        }
    };
    let ok = create("exit 0".into()).await;
    let broken = create("exit 3".into()).await;

    let table = cli(&server, &["deployments", "list"]).await;
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("ID") && table.contains(&ok) && table.contains(&broken),
        "{table}"
    );

    let (code, run) = run_and_wait(&server, &ok).await;
    assert_eq!(code, Some(0), "{run}");
    assert_eq!(run["status"], "completed");
    let (code, run) = run_and_wait(&server, &broken).await;
    assert_eq!(code, Some(1), "a failed run exits 1: {run}");
    assert_eq!(run["error"]["type"], "agent_error");

    // A failure the deployment retries: --wait follows the retry and exits
    // with the chain's outcome.
    let marks = tempfile::tempdir().unwrap();
    let flaky = create(format!(
        "if [ -f {0}/failed ]; then exit 0; fi; touch {0}/failed; exit 3",
        marks.path().display()
    ))
    .await;
    let (status, body) = server
        .api()
        .post(
            &format!("/deployments/{flaky}"),
            serde_json::json!({"metadata": {"cas_config": {"config": {"max_retries": 1}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (code, run) = run_and_wait(&server, &flaky).await;
    assert_eq!(code, Some(0), "{run}");
    assert_eq!(run["status"], "completed");
    assert_eq!(run["trigger_context"]["type"], "retry");

    let runs = json(
        &cli(
            &server,
            &["runs", "list", "--deployment", &ok, "-o", "json"],
        )
        .await,
    );
    assert_eq!(runs["data"].as_array().unwrap().len(), 1);
    let paused = json(&cli(&server, &["deployments", "pause", &ok, "-o", "json"]).await);
    assert_eq!(paused["status"], "paused");
    let refused = cli(&server, &["deployments", "run", &ok]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("409 (conflict_error)"));
    let unauthenticated = tokio::process::Command::new(BIN)
        .args(["deployments", "list"])
        .env("RUNWAY_URL", &server.http)
        .env("RUNWAY_TOKEN", "rwy_pat_wrong")
        .output()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unauthenticated.stderr).contains("authentication_error"));
    runner.kill9().await;
}

/// `runs logs --follow` prints the transcript as it arrives and exits with
/// the run's outcome; without `--follow` it prints what is recorded;
/// `--output json` prints the events as JSON lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_logs_follows_the_transcript() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let _runner = Runner::start(&server, &env, 1, &[]);
    let dep = api
        .deployment(
            &agent,
            &env,
            "echo starting; sleep 1; echo done; exit 3",
            serde_json::json!({}),
        )
        .await;
    let run = api.trigger(&dep).await;
    let id = run["id"].as_str().unwrap();

    let followed = cli(&server, &["runs", "logs", id, "--follow"]).await;
    assert_eq!(followed.status.code(), Some(1), "the run failed: exit 1");
    let text = String::from_utf8_lossy(&followed.stdout);
    assert!(text.contains("starting\n"), "{text}");
    assert!(text.contains("done\n"), "{text}");
    assert!(text.contains("· idle (retries_exhausted)"), "{text}");

    let recorded = cli(&server, &["runs", "logs", id]).await;
    assert!(recorded.status.success());
    assert_eq!(
        String::from_utf8_lossy(&recorded.stdout),
        text,
        "the same transcript"
    );

    let lines = cli(&server, &["runs", "logs", id, "--output", "json"]).await;
    let events: Vec<Value> = String::from_utf8_lossy(&lines.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert_eq!(events.first().unwrap()["type"], "user.message");
    assert_eq!(events.last().unwrap()["type"], "session.status_idle");
    assert!(events.iter().all(|e| e["session_id"] == run["session_id"]));

    // A skipped run has no transcript, and the command says why.
    let (_, idle) = api
        .post("/environments", serde_json::json!({"name": "no runner"}))
        .await;
    let held = api
        .deployment(
            &agent,
            idle["id"].as_str().unwrap(),
            "true",
            serde_json::json!({}),
        )
        .await;
    api.trigger(&held).await;
    let skipped = api.trigger(&held).await;
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    let id = skipped["id"].as_str().unwrap();
    let why = format!(
        "runway: {id} has no transcript: it was skipped ({})\n",
        skipped["error"]["message"].as_str().unwrap()
    );
    for (args, code) in [
        (vec!["runs", "logs", id], 0),
        (vec!["runs", "logs", id, "--follow"], 2),
    ] {
        let out = cli(&server, &args).await;
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), why, "{args:?}");
    }
}

/// `runs logs --follow` outlives a restart of the server: the stream the
/// stopping server ends (or the connection it drops) is opened again after
/// the last event printed, so the command prints every event once and
/// exits with the run's outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_logs_follow_outlives_a_server_restart() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let _runner = Runner::start(&server, &env, 1, &[]);
    let dep = api
        .deployment(
            &agent,
            &env,
            "echo starting; sleep 3; echo done",
            serde_json::json!({}),
        )
        .await;
    let run = api.trigger(&dep).await;
    let id = run["id"].as_str().unwrap().to_string();
    let mut following = tokio::process::Command::new(BIN)
        .args(["runs", "logs", &id, "--follow"])
        .env("RUNWAY_URL", &server.http)
        .env("RUNWAY_TOKEN", &server.token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read as it is printed: the restart comes once the command follows.
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        following.stdout.take().unwrap(),
    ));
    let mut printed = String::new();
    while !printed.contains("starting\n") {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("the agent's first line, followed")
            .unwrap()
            .expect("the command still follows");
        printed.push_str(&line);
        printed.push('\n');
    }

    server.stop().await;
    server.restart().await;
    let api = server.api();
    let rest = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
        }
        following.wait_with_output().await.unwrap()
    })
    .await
    .expect("the follow ends with the run");
    let ended = api.terminal(&id, std::time::Duration::from_secs(30)).await;
    let outcome = if ended["status"] == "completed" { 0 } else { 1 };
    let stderr = String::from_utf8_lossy(&rest.stderr);
    assert_eq!(rest.status.code(), Some(outcome), "{ended}\n{stderr}");
    let recorded = cli(&server, &["runs", "logs", &id]).await;
    assert_eq!(
        printed,
        String::from_utf8_lossy(&recorded.stdout),
        "every event once, none missed"
    );
}

/// `deployments run --wait` outlives a restart while the run it follows is
/// a pending retry (it looks at the run until it starts, and finds its
/// retry, through the server's absence as the stream does): it exited 1
/// at the first refused connection, as though the run had failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_outlives_a_restart_while_a_retry_is_pending() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let mut server =
        Server::start_with(db.url(), data.path(), &["--retry-backoff-ms", "4000"]).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let _runner = Runner::start(
        &server,
        &env,
        1,
        &[("MARKS", marks.path().to_str().unwrap())],
    );
    // The first attempt fails, the retry completes.
    let script = "m=$MARKS/$RUNWAY_DEPLOYMENT_ID; if [ -e $m ]; then exit 0; fi; touch $m; exit 3";
    let dep = api
        .deployment(&agent, &env, script, serde_json::json!({"max_retries": 1}))
        .await;
    let waiting = tokio::process::Command::new(BIN)
        .args(["deployments", "run", &dep, "--wait", "-o", "json"])
        .env("RUNWAY_URL", &server.http)
        .env("RUNWAY_TOKEN", &server.token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    crate::harness::eventually(
        LIMIT,
        "the first attempt failed, its retry pending",
        || async {
            let runs = api.all_runs().await;
            runs.iter()
                .any(|r| r["status"] == "pending" && r["trigger_context"]["type"] == "retry")
                .then_some(())
        },
    )
    .await;
    server.kill9().await;
    // Down long enough for the command's look at the pending run to fail.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.restart().await;
    let waited = tokio::time::timeout(LIMIT, waiting.wait_with_output())
        .await
        .expect("the wait ends with the retry")
        .unwrap();
    let stderr = String::from_utf8_lossy(&waited.stderr);
    assert_eq!(waited.status.code(), Some(0), "{stderr}");
    let run: Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["trigger_context"]["type"], "retry", "{run}");
    assert_eq!(run["cas_run_extras"]["attempt"], 2, "{run}");
}
