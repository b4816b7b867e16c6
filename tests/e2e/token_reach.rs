//! Where a token reaches: a runner token claims only its environments'
//! turns, a claim waiting when its token is revoked claims nothing, and a
//! revoked token is refused by another replica within the authentication
//! cache's lifetime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runway_api::v1::*;
use runway_store::testing::TestDatabase;
use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt;

use crate::on_every_backend;
use crate::support::{TestApp, assert_envelope};
use crate::tokens::{bearer, get_as};

on_every_backend!(
    a_runner_token_claims_only_its_environments,
    a_claim_waiting_when_its_token_is_revoked_claims_nothing,
);

/// Triggers one run of a new deployment in a new environment; the
/// environment's id.
async fn environment_with_a_turn(app: &TestApp) -> String {
    let seed = app.seed(1).await;
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    seed.environment_id
}

async fn a_runner_token_claims_only_its_environments(app: &TestApp) {
    let env_a = environment_with_a_turn(app).await;
    let env_b = environment_with_a_turn(app).await;
    let token = app
        .scoped_token(runway_api::enums::TokenScope::Runner, &[&env_a])
        .await;
    let mut runner = app.runner_client().await;
    let claim = |environment_id: &str| {
        let mut request = tonic::Request::new(ClaimTurnRequest {
            environment_id: environment_id.to_string(),
            runner_name: "r".into(),
            wait_ms: 0,
        });
        request
            .metadata_mut()
            .insert("authorization", bearer(&token).parse().unwrap());
        request
    };

    let status = runner.claim_turn(claim(&env_b)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(
        details.error_info().unwrap().reason,
        "ENVIRONMENT_NOT_ALLOWED"
    );
    assert_eq!(
        status.message(),
        format!("This runner token may not execute the turns of environment {env_b}.")
    );

    // Without an environment: its own turn, then nothing, though B waits.
    let turn = runner
        .claim_turn(claim(""))
        .await
        .unwrap()
        .into_inner()
        .turn
        .expect("environment A's turn");
    assert_eq!(turn.deployment.unwrap().environment_id, env_a);
    let none = runner.claim_turn(claim("")).await.unwrap().into_inner();
    assert!(none.turn.is_none(), "B's turn is not this token's");

    // Its lease does not let it report on another environment's run.
    let lease = turn.lease_id.clone();
    let run_id = turn.run.as_ref().unwrap().id.clone();
    let other = app
        .scoped_token(runway_api::enums::TokenScope::Runner, &[&env_b])
        .await;
    let mut heartbeat = tonic::Request::new(HeartbeatRequest {
        run_id: run_id.clone(),
        lease_id: lease.clone(),
    });
    heartbeat
        .metadata_mut()
        .insert("authorization", bearer(&other).parse().unwrap());
    let status = runner.heartbeat(heartbeat).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let mut complete = tonic::Request::new(CompleteTurnRequest {
        run_id: run_id.clone(),
        lease_id: lease.clone(),
    });
    complete
        .metadata_mut()
        .insert("authorization", bearer(&other).parse().unwrap());
    let status = runner.complete_turn(complete).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let run = app.get(&format!("/deployment_runs/{run_id}")).await;
    assert_eq!(run.body["status"], "running", "{}", run.body);

    // The admin token still claims B's.
    let admin = runner
        .claim_turn(app.authed(ClaimTurnRequest {
            environment_id: String::new(),
            runner_name: "admin".into(),
            wait_ms: 0,
        }))
        .await
        .unwrap()
        .into_inner()
        .turn
        .expect("environment B's turn");
    assert_eq!(admin.deployment.unwrap().environment_id, env_b);

    // A runner token reads nothing else.
    let refused = get_as(app, &token, "/deployments").await;
    assert_envelope(&refused, 403, "permission_error", None);
}

/// A long-polling claim whose token is revoked while it waits is refused
/// when a turn starts, and the turn waits for another runner — it does not
/// go to one whose reports would be refused (and fail as a lost runner's).
async fn a_claim_waiting_when_its_token_is_revoked_claims_nothing(app: &TestApp) {
    let seed = app.seed(1).await;
    let created = app
        .post(
            "/tokens",
            json!({"name": "waiting", "scope": "runner", "environment_ids": [seed.environment_id]}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let (id, secret) = (
        created.body["id"].as_str().unwrap().to_string(),
        created.body["secret"].as_str().unwrap().to_string(),
    );
    let mut runner = app.runner_client().await;
    let mut request = tonic::Request::new(ClaimTurnRequest {
        environment_id: seed.environment_id.clone(),
        runner_name: "waiting".into(),
        wait_ms: 20_000,
    });
    request
        .metadata_mut()
        .insert("authorization", bearer(&secret).parse().unwrap());
    let waiting = tokio::spawn(async move { runner.claim_turn(request).await });
    // The claim was let in (its use is recorded), and waits.
    crate::support::eventually("the claim's token to be used", async || {
        let token = app.get(&format!("/tokens/{id}")).await;
        (!token.body["last_used_at"].is_null()).then_some(())
    })
    .await;
    let revoked = app.post_empty(&format!("/tokens/{id}/revoke")).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let run = app
        .post_empty(&format!("/deployments/{}/run", seed.deployment_id))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);

    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting claim is answered")
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "INVALID_TOKEN"
    );
    let turn = crate::turns::claim(app).await;
    assert_eq!(turn.run.unwrap().id, run.body["id"].as_str().unwrap());
}

/// Another replica on the same database refuses a revoked token within
/// the authentication cache's lifetime (10 s), having used it just before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_another_replica_within_the_cache_lifetime() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let app = TestApp::start(db, Arc::new(runway_server::SystemClock)).await;
    let replica = app.replica().await;
    let on_replica = format!("http://{}/api/v1/cloud/deployments", replica.http_addr);
    let created = app
        .post("/tokens", json!({"name": "r", "scope": "read"}))
        .await;
    let (id, secret) = (
        created.body["id"].as_str().unwrap().to_string(),
        created.body["secret"].as_str().unwrap().to_string(),
    );
    assert_eq!(get_as(&app, &secret, &on_replica).await.status, 200);
    let revoked_at = Instant::now();
    assert_eq!(
        app.post_empty(&format!("/tokens/{id}/revoke")).await.status,
        200
    );
    loop {
        let status = get_as(&app, &secret, &on_replica).await.status;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() <= runway_server::auth::TOKEN_CACHE_TTL + Duration::from_secs(1),
            "still accepted {:?} after the revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    replica.shutdown().await.unwrap();
    app.shutdown().await;
}
