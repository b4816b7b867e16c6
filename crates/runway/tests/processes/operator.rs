//! The operator's commands against a real server and its database:
//! tokens (minted on the database and through the API) and `prune`.

use runway_store::testing::TestDatabase;

use crate::cli::cli;
use crate::harness::{BIN, Runner, Server, json};

/// `runway token create|list|revoke`: a runner token minted on the database
/// drives a real runner (and may do nothing else); a read token issued
/// through the API is listed without its secret, expires when told, and is
/// refused once revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_issues_lists_and_revokes_tokens() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;

    let minted = tokio::process::Command::new(BIN)
        .args([
            "token",
            "create",
            "--org",
            "default",
            "--database-url",
            db.url(),
        ])
        .args([
            "--name",
            "pool-a",
            "--scope",
            "runner",
            "--environment",
            &env,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let runner_token = String::from_utf8(minted.stdout).unwrap().trim().to_string();
    assert!(runner_token.starts_with("rwy_pat_"), "{runner_token}");
    let refused = tokio::process::Command::new(BIN)
        .args([
            "token",
            "create",
            "--org",
            "default",
            "--database-url",
            db.url(),
        ])
        .args(["--scope", "read", "--environment", &env])
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("environment_ids is only for runner tokens"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // An organization by a name nobody made is refused unless asked for
    // (a typo makes no organization); a database nobody made, too.
    let create = |extra: &'static [&'static str], url: String| async move {
        tokio::process::Command::new(BIN)
            .args(["token", "create", "--scope", "read", "--database-url", &url])
            .args(extra)
            .output()
            .await
            .unwrap()
    };
    let typo = create(&["--org", "defualt"], db.url().to_string()).await;
    assert_eq!(typo.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&typo.stderr).trim(),
        "runway: organization \"defualt\" does not exist (--create-org creates it)"
    );
    let new_org = create(&["--org", "acme", "--create-org"], db.url().to_string()).await;
    assert!(
        new_org.status.success(),
        "{}",
        String::from_utf8_lossy(&new_org.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&new_org.stderr).trim(),
        "runway: created organization \"acme\""
    );
    let nowhere = data.path().join("nowhere.db");
    let missing = create(
        &["--org", "default"],
        format!("sqlite://{}", nowhere.display()),
    )
    .await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(!nowhere.exists(), "no database was made");

    // The runner token runs turns, and reads nothing.
    let runner = Runner::start(&server, &env, 1, &[("RUNWAY_TOKEN", &runner_token)]);
    let dep = api
        .deployment(&agent, &env, "exit 0", serde_json::json!({}))
        .await;
    let run = api.trigger(&dep).await;
    let done = api
        .terminal(
            run["id"].as_str().unwrap(),
            std::time::Duration::from_secs(30),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let as_runner = crate::harness::Api::new(&server.http, &runner_token);
    let (status, body) = as_runner
        .post("/agents", serde_json::json!({"name": "x", "model": "m"}))
        .await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (403, Some("permission_error"))
    );
    runner.kill9().await;

    // Through the API: a read token for an hour.
    let issued = json(
        &cli(
            &server,
            &[
                "token",
                "create",
                "--name",
                "dash",
                "--scope",
                "read",
                "--expires-in",
                "1h",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(issued["scope"], "read");
    let secret = issued["secret"].as_str().unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(issued["expires_at"].as_str().unwrap()).unwrap();
    let left = expires
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!((3500..=3600).contains(&left), "expires in {left} s");
    let id = issued["id"].as_str().unwrap();
    let as_reader = |args: &'static [&'static str]| {
        let secret = secret.to_string();
        let http = server.http.clone();
        async move {
            tokio::process::Command::new(BIN)
                .args(args)
                .env("RUNWAY_URL", &http)
                .env("RUNWAY_TOKEN", &secret)
                .output()
                .await
                .unwrap()
        }
    };
    assert!(as_reader(&["deployments", "list"]).await.status.success());

    let listed = json(&cli(&server, &["token", "list", "-o", "json"]).await);
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dash", "pool-a", "admin"], "newest first");
    assert!(
        !listed.to_string().contains("rwy_pat_"),
        "no secrets: {listed}"
    );
    let table = cli(&server, &["token", "list"]).await;
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("SCOPE") && table.contains("runner") && table.contains(id),
        "{table}"
    );

    let revoked = json(&cli(&server, &["token", "revoke", id, "-o", "json"]).await);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let refused = as_reader(&["deployments", "list"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401 (authentication_error)"));
    let again = cli(&server, &["token", "revoke", id]).await;
    assert!(String::from_utf8_lossy(&again.stderr).contains("409 (conflict_error)"));
}

/// `runway prune`, on the database of a running server: `--dry-run` tells
/// what the policy no longer keeps and deletes nothing; without it, one
/// pass deletes exactly that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_tells_then_deletes_what_the_policy_no_longer_keeps() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    // Its own pruner off: only the command deletes here.
    let server = Server::start_with(db.url(), data.path(), &["--no-pruner"]).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let dep = api
        .deployment(&agent, &env, "exit 0", serde_json::json!({}))
        .await;
    // 300 finished runs, one a minute, the newest 10 days ago.
    let store = runway_store::Store::open(&runway_store::StoreOptions::new(db.url()))
        .await
        .unwrap();
    let org = runway_store::repo::tenants::find_organization(&store, "default")
        .await
        .unwrap()
        .unwrap();
    let model = runway_store::repo::deployments::get(&store, &org.id, &dep)
        .await
        .unwrap()
        .unwrap();
    let day = 86_400_000_000_000_i64;
    let now = runway_store::time::now_nanos();
    runway_store::repo::history::fill(
        &store,
        &[model],
        300,
        now - 10 * day,
        60_000_000_000,
        |_| {},
    )
    .await
    .unwrap();
    store.close().await;

    let prune = |args: &'static [&'static str]| {
        let url = db.url().to_string();
        let dir = data.path().to_path_buf();
        async move {
            let out = tokio::process::Command::new(BIN)
                .arg("prune")
                .args(args)
                .args(["--database-url", &url])
                .arg("--data-dir")
                .arg(&dir)
                .output()
                .await
                .expect("run runway prune");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let nothing =
        "0 runs, 0 sessions, 0 session events, 0 webhook deliveries, 0 idempotency keys\n";
    assert_eq!(
        prune(&["--dry-run"]).await,
        format!("runway: would delete {nothing}")
    );
    let (status, _) = api
        .post(
            "/retention",
            serde_json::json!({"keep_days": 5, "keep_failed_days": 5}),
        )
        .await;
    assert_eq!(status, 200);
    let expired =
        "300 runs, 0 sessions, 0 session events, 0 webhook deliveries, 0 idempotency keys\n";
    assert_eq!(
        prune(&["--dry-run"]).await,
        format!("runway: would delete {expired}")
    );
    assert_eq!(api.all_runs().await.len(), 300, "a dry run deletes nothing");
    assert_eq!(prune(&[]).await, format!("runway: deleted {expired}"));
    assert!(api.all_runs().await.is_empty());
    assert_eq!(
        prune(&["--dry-run"]).await,
        format!("runway: would delete {nothing}")
    );
}

/// Replicas started at once on an empty PostgreSQL database all migrate it
/// (they take turns under an advisory lock): before, all but one failed on
/// the catalog's unique indexes as they created the same tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_started_at_once_on_postgres_all_succeed() {
    let Some(db) = TestDatabase::postgres_empty().await else {
        return;
    };
    let migrate = || {
        tokio::process::Command::new(BIN)
            .args(["migrate", "--database-url", &db.url])
            .output()
    };
    let (a, b, c, d) = tokio::join!(migrate(), migrate(), migrate(), migrate());
    for output in [a, b, c, d] {
        let output = output.unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "runway: migrations applied\n"
        );
    }
}

/// `runway prune` works on a database `serve` or `migrate` made, as it is:
/// a mistyped SQLite path is refused (and no file made), as is a
/// PostgreSQL database without runway's schema (left without one) — it
/// answered "would delete 0 runs" from a new, empty database it migrated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_never_creates_nor_migrates_a_database() {
    let data = tempfile::tempdir().unwrap();
    let missing = data.path().join("typo.db");
    let url = format!("sqlite://{}", missing.display());
    for dry_run in [true, false] {
        let mut command = tokio::process::Command::new(BIN);
        command.args(["prune", "--database-url", &url]);
        if dry_run {
            command.arg("--dry-run");
        }
        let refused = command.output().await.unwrap();
        assert_eq!(refused.status.code(), Some(1));
        let told = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(
            told,
            format!(
                "runway: opening the database (it must exist: `runway serve` or `runway migrate` makes it): cannot open database: no database at {}\n",
                missing.display()
            )
        );
        assert!(!missing.exists(), "no file made");
    }

    let Some(empty) = TestDatabase::postgres_empty().await else {
        return;
    };
    let refused = tokio::process::Command::new(BIN)
        .args(["prune", "--dry-run", "--database-url", &empty.url])
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "runway: cannot open database: it holds no runway schema (`runway migrate` makes one)\n"
    );
    // Nothing made there either: `migrate` still applies everything.
    let migrated = tokio::process::Command::new(BIN)
        .args(["migrate", "--database-url", &empty.url])
        .output()
        .await
        .unwrap();
    assert!(migrated.status.success());
    let pruned = tokio::process::Command::new(BIN)
        .args(["prune", "--dry-run", "--database-url", &empty.url])
        .output()
        .await
        .unwrap();
    assert!(
        pruned.status.success(),
        "{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
}
