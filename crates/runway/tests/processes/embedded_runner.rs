//! `serve --exec`'s embedded runner and its token: minted at start,
//! replaced by the next start with the same data directory, revoked by a
//! graceful stop — and never another replica's.

use std::time::Duration;

use runway_store::testing::TestDatabase;
use serde_json::json;

use crate::harness::{Server, eventually};

const LIMIT: Duration = Duration::from_secs(60);

/// The embedded-runner tokens of a token list.
fn embedded(tokens: &serde_json::Value) -> Vec<serde_json::Value> {
    tokens["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("embedded-runner@"))
        .cloned()
        .collect()
}

/// `serve --exec`: the embedded runner executes runs with a `runner` token
/// of its own, which a restart with the same data directory replaces and a
/// graceful stop revokes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_runner_uses_a_runner_token_of_its_own() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let exec = format!("sh {}", crate::harness::agent_script().display());
    let mut server = Server::start_with(db.url(), data.path(), &["--exec", &exec]).await;
    let api = server.api();
    let (agent, env) = api.agent_and_environment().await;
    let dep = api.deployment(&agent, &env, "exit 0", json!({})).await;
    let run = api.trigger(&dep).await;
    let done = api.terminal(run["id"].as_str().unwrap(), LIMIT).await;
    assert_eq!(done["status"], "completed", "{done}");

    let live = embedded(&api.get("/tokens").await);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["scope"], "runner");
    assert_eq!(live[0]["environment_ids"], json!(["*"]));
    let first = live[0]["id"].clone();

    server.kill9_and_restart().await;
    let api = server.api();
    let all = embedded(&api.get("/tokens?include_revoked=true").await);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter()
            .any(|t| t["id"] == first && t["revoked_at"].is_string()),
        "the restart revoked the token the killed start left: {all:?}"
    );
    let run = api.trigger(&dep).await;
    let done = api.terminal(run["id"].as_str().unwrap(), LIMIT).await;
    assert_eq!(
        done["status"], "completed",
        "the new token runs turns: {done}"
    );

    server.stop().await;
    let store = runway_store::Store::open(&runway_store::StoreOptions::new(db.url()))
        .await
        .unwrap();
    let org = runway_store::repo::tenants::find_organization(&store, "default")
        .await
        .unwrap()
        .unwrap();
    let page = runway_store::repo::tenants::list_tokens(
        &store,
        &org.id,
        false,
        &runway_store::page::PageQuery {
            limit: 100,
            cursor: runway_store::page::Cursor::Start,
        },
    )
    .await
    .unwrap();
    let live: Vec<_> = page
        .items
        .iter()
        .filter(|t| t.name.starts_with("embedded-runner@"))
        .collect();
    assert!(
        live.is_empty(),
        "a graceful stop revokes its token: {live:?}"
    );
    store.close().await;
}

/// Two `serve --exec` on one host and one database, each with its data
/// directory: the second start leaves the first's token alone (both were
/// named after the host, and a start revoked the other's: they stopped
/// each other in turn), and both runners execute turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serves_on_one_host_keep_their_own_runner_tokens() {
    let db = TestDatabase::sqlite().await;
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let exec = format!("sh {}", crate::harness::agent_script().display());
    let mut a = Server::start_with(db.url(), data_a.path(), &["--exec", &exec]).await;
    let api = a.api();
    let first = eventually(LIMIT, "the first serve's runner token", || async {
        let live = embedded(&api.get("/tokens").await);
        (live.len() == 1).then(|| live[0]["id"].clone())
    })
    .await;
    // (The database's admin token was saved by the first start.)
    std::fs::copy(
        data_a.path().join("admin-token"),
        data_b.path().join("admin-token"),
    )
    .unwrap();
    let mut b = Server::start_with(db.url(), data_b.path(), &["--exec", &exec]).await;
    let live = eventually(LIMIT, "the second serve's runner token", || async {
        let live = embedded(&api.get("/tokens").await);
        (live.len() == 2).then_some(live)
    })
    .await;
    assert!(live.iter().any(|t| t["id"] == first), "{live:?}");

    // Each runner still claims: turns complete through either replica's.
    let (agent, env) = api.agent_and_environment().await;
    let dep = api
        .deployment(&agent, &env, "exit 0", json!({"max_concurrent": 8}))
        .await;
    for _ in 0..4 {
        let run = api.trigger(&dep).await;
        let done = api.terminal(run["id"].as_str().unwrap(), LIMIT).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    b.stop().await;
    a.stop().await;
}
