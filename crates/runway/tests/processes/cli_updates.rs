//! `runway deployments update` keeps what its flags leave out: the
//! schedule's time zone (an API update replaces a schedule whole, and a
//! zone left out is UTC), and the rest of the run configuration.

use runway_store::testing::TestDatabase;
use serde_json::json;

use crate::cli::cli;
use crate::harness::{Server, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_keeps_the_schedules_time_zone_unless_told() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let create = |extra: &'static [&'static str]| {
        let (server, agent, env) = (&server, agent.clone(), env.clone());
        async move {
            let mut args = vec![
                "deployments",
                "create",
                "--name",
                "d",
                "--agent",
                &agent,
                "--environment",
                &env,
                "--message",
                "hi",
                "-o",
                "json",
            ];
            args.extend_from_slice(extra);
            cli(server, &args).await
        }
    };
    let created = json(&create(&["--schedule", "28 22 * * *", "--timezone", "Asia/Kolkata"]).await);
    let id = created["id"].as_str().unwrap();
    let schedule = |d: &serde_json::Value| {
        (
            d["schedule"]["expression"].clone(),
            d["schedule"]["timezone"].clone(),
        )
    };
    assert_eq!(
        schedule(&created),
        (json!("28 22 * * *"), json!("Asia/Kolkata"))
    );

    // A new expression, in the zone the schedule has.
    let moved = json(
        &cli(
            &server,
            &[
                "deployments",
                "update",
                id,
                "--schedule",
                "0 9 * * *",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(
        schedule(&moved),
        (json!("0 9 * * *"), json!("Asia/Kolkata"))
    );
    // A zone alone moves the expression as it is.
    let moved = json(
        &cli(
            &server,
            &[
                "deployments",
                "update",
                id,
                "--timezone",
                "Europe/Berlin",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(
        schedule(&moved),
        (json!("0 9 * * *"), json!("Europe/Berlin"))
    );
    // The run configuration's other flags, as on create; the schedule stays.
    let configured = json(
        &cli(
            &server,
            &[
                "deployments",
                "update",
                id,
                "--max-retries",
                "2",
                "--timeout-ms",
                "5000",
                "-o",
                "json",
            ],
        )
        .await,
    );
    let config = &configured["metadata"]["cas_config"]["config"];
    assert_eq!(
        (config["max_retries"].clone(), config["timeout_ms"].clone()),
        (json!(2), json!(5000))
    );
    assert_eq!(
        schedule(&configured),
        (json!("0 9 * * *"), json!("Europe/Berlin"))
    );

    // A zone for no schedule is refused, never sent and silently dropped.
    let refused = create(&["--timezone", "Asia/Tokyo"]).await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let refused = cli(
        &server,
        &[
            "deployments",
            "update",
            id,
            "--no-schedule",
            "--timezone",
            "UTC",
        ],
    )
    .await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let manual = json(&create(&[]).await);
    let manual = manual["id"].as_str().unwrap();
    let refused = cli(
        &server,
        &["deployments", "update", manual, "--timezone", "Asia/Tokyo"],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        format!("runway: {manual} has no schedule to move: give --schedule with --timezone\n")
    );
    let unchanged = api.get(&format!("/deployments/{manual}")).await;
    assert_eq!(unchanged["schedule"], serde_json::Value::Null);
}
