//! A runner the server refuses for good stops, with the server's reason:
//! a bad token, another environment's token, the REST port's address, a
//! revoked embedded runner.
//! Retrying those forever looked healthy to a supervisor while every run
//! waited for a runner.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::Command;

use crate::harness::{BIN, Gateway, Server};
use runway_store::testing::TestDatabase;

const LIMIT: Duration = Duration::from_secs(30);

/// `runway runner` of `server_url`'s `environment` with `token`: its exit
/// code and standard error; standard error closed at once when `close_stderr`.
async fn runner_exit(
    server_url: &str,
    environment: &str,
    token: &str,
    close_stderr: bool,
) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args([
            "runner",
            "--server",
            server_url,
            "--environment",
            environment,
        ])
        .args(["--exec", "true"])
        .env("RUNWAY_TOKEN", token)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn runway runner");
    let stderr = child.stderr.take().unwrap();
    let told = if close_stderr {
        drop(stderr);
        String::new()
    } else {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut { stderr }, &mut text)
            .await
            .unwrap();
        text
    };
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("the runner stops on its own")
        .unwrap();
    (status.code(), told)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_refused_for_good_exits_1_with_the_reason() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(db.url(), data.path()).await;
    let api = server.api();
    let (_, env) = api.agent_and_environment().await;

    let (code, told) = runner_exit(&server.grpc, &env, "rw_not_a_token", false).await;
    assert_eq!(code, Some(1), "{told}");
    assert!(
        told.contains(
            "runway: the server refuses this runner's claims (Unauthenticated): Invalid API key or token."
        ),
        "{told}"
    );

    // A runner token of another environment.
    let (status, other) = api
        .post("/environments", json!({"name": "elsewhere"}))
        .await;
    assert_eq!(status, 200, "{other}");
    let (status, token) = api
        .post(
            "/tokens",
            json!({"name": "elsewhere-runner", "scope": "runner", "environment_ids": [other["id"]]}),
        )
        .await;
    assert_eq!(status, 200, "{token}");
    let secret = token["secret"].as_str().unwrap();
    let (code, told) = runner_exit(&server.grpc, &env, secret, false).await;
    assert_eq!(code, Some(1), "{told}");
    assert!(
        told.contains(&format!(
            "runway: the server refuses this runner's claims (PermissionDenied): This runner token may not execute the turns of environment {env}"
        )),
        "{told}"
    );

    // Given the REST port instead of the gRPC one: told where gRPC is, by
    // `serve` and by a standalone gateway.
    let (code, told) = runner_exit(&server.http, &env, &server.token, false).await;
    assert_eq!(code, Some(1), "{told}");
    let grpc_addr = server.grpc.trim_start_matches("http://");
    assert!(
        told.contains(&format!(
            "runway: the server refuses this runner's claims (Unimplemented): This is runway's REST port \
             (HTTP/JSON under /api/v1/cloud). gRPC clients and runners connect to its gRPC port \
             ({grpc_addr}, `runway serve --grpc-addr`)."
        )),
        "{told}"
    );
    let gateway = Gateway::start(&server.grpc, &[]).await;
    let (code, told) = runner_exit(&gateway.url, &env, &server.token, false).await;
    assert_eq!(code, Some(1), "{told}");
    assert!(
        told.contains(&format!(
            "gRPC clients and runners connect to the gRPC server behind this gateway ({}, \
             `runway gateway --grpc`).",
            server.grpc
        )),
        "{told}"
    );
    drop(gateway);

    // A server address that is no URL (no scheme): refused at start, not
    // retried forever as a transport error.
    let bare = server.grpc.trim_start_matches("http://");
    let (code, told) = runner_exit(bare, &env, &server.token, false).await;
    assert_eq!(code, Some(1), "{told}");
    assert!(
        told.contains(&format!(
            "runway: \"{bare}\" is not an http:// or https:// URL (e.g. http://127.0.0.1:50051)"
        )),
        "{told}"
    );

    // With standard error closed, the same exit (not a panic's 101 over
    // the log line it could not write).
    let (code, _) = runner_exit(&server.grpc, &env, "rw_not_a_token", true).await;
    assert_eq!(code, Some(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serve_whose_embedded_runner_is_revoked_stops_with_exit_1() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(db.url(), data.path(), &["--exec", "true"]).await;
    let api = server.api();
    let tokens = api.get("/tokens").await;
    let embedded = tokens["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"].as_str().unwrap().starts_with("embedded-runner@"))
        .expect("the embedded runner's token")
        .clone();
    let (status, revoked) = api
        .post(
            &format!("/tokens/{}/revoke", embedded["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    // Its waiting claim (a 10 s long poll) ends, the next is refused.
    let exit = server.exit(LIMIT).await;
    assert_eq!(exit.code(), Some(1), "{exit}");
}
