//! The organization's policy and a deployment's own rules over REST and
//! gRPC, and the pruner deleting exactly what they no longer keep.

use std::sync::Arc;

use runway_api::enums::TokenScope;
use runway_api::v1::*;
use runway_server::ManualClock;
use runway_store::repo::prune::Removed;
use serde_json::json;

use super::{
    DAY, SECOND, claim, complete, deployment, fail, id, present, prune, status_of, trigger,
};
use crate::on_every_backend_with_clock;
use crate::support::{TestApp, assert_envelope};

on_every_backend_with_clock!(
    the_pruner_deletes_what_the_policy_no_longer_keeps,
    a_deployment_s_own_rules_replace_the_organization_s,
);

async fn the_pruner_deletes_what_the_policy_no_longer_keeps(
    app: &TestApp,
    clock: Arc<ManualClock>,
) {
    let policy = app.get("/retention").await;
    assert_eq!(
        policy.body,
        json!({"type": "retention_policy", "keep_days": null, "keep_failed_days": null,
               "max_runs": null, "updated_at": null})
    );
    let refused = app
        .post(
            "/retention",
            json!({"keep_days": 30, "keep_failed_days": 7}),
        )
        .await;
    assert_envelope(
        &refused,
        400,
        "invalid_request_error",
        Some("keep_failed_days"),
    );
    let set = app
        .post(
            "/retention",
            json!({"keep_days": 30, "keep_failed_days": 60}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        (
            &set.body["keep_days"],
            &set.body["keep_failed_days"],
            &set.body["max_runs"]
        ),
        (&json!(30), &json!(60), &json!(null))
    );
    crate::support::assert_timestamp(&set.body["updated_at"]);
    // A field left out keeps its value.
    let again = app.post("/retention", json!({"max_runs": null})).await;
    assert_eq!(again.body["keep_days"], 30);
    // (It changed nothing: the policy as it was, `updated_at` included.)
    assert_eq!(again.body, set.body);
    assert_eq!(app.get("/retention").await.body, again.body);

    // A deployment of two slots, no retries: a completed run (with its
    // session and transcript), a failed one, two pending, one skipped.
    let dep = deployment(app, json!({"config": {"max_concurrent": 2}})).await;
    let completed = trigger(app, &dep).await;
    let turn = claim(app, &id(&completed)).await;
    complete(app, &turn).await;
    let completed = app
        .get(&format!("/deployment_runs/{}", id(&completed)))
        .await
        .body;
    let session = completed["session_id"].as_str().unwrap().to_string();
    let events = app.get(&format!("/sessions/{session}/events")).await.body;
    assert!(events["data"].as_array().unwrap().len() >= 4, "{events}");
    let failed = trigger(app, &dep).await;
    let turn = claim(app, &id(&failed)).await;
    assert!(fail(app, &turn).await.is_none());
    let pending = [id(&trigger(app, &dep).await), id(&trigger(app, &dep).await)];
    let skipped = trigger(app, &dep).await;
    assert_eq!(skipped["status"], "skipped");
    // Another deployment, one retry: its failed run's retry waits.
    let retrying = deployment(app, json!({"config": {"max_retries": 1}})).await;
    let first = trigger(app, &retrying).await;
    let turn = claim(app, &id(&first)).await;
    let retry = fail(app, &turn).await.expect("a retry");
    // A key claimed now (the first run of a third deployment).
    let keyed = deployment(app, json!({})).await;
    let auth = format!("Bearer {}", app.token);
    let with_key = app
        .call(
            "POST",
            &format!("/deployments/{keyed}/run"),
            Some("{}".into()),
            &[("idempotency-key", "nightly-1"), ("authorization", &auth)],
        )
        .await;
    assert_eq!(with_key.status, 200);
    let keyed_run = id(&with_key.body);
    let turn = claim(app, &keyed_run).await;
    complete(app, &turn).await;

    let all = [
        id(&completed),
        id(&failed),
        pending[0].clone(),
        pending[1].clone(),
        id(&skipped),
        id(&first),
        retry.id.clone(),
        keyed_run.clone(),
    ];
    let all: Vec<&str> = all.iter().map(String::as_str).collect();

    // No run is old enough yet; the key, past 24 h, is.
    clock.advance(29 * DAY);
    assert_eq!(
        prune(app).await,
        Removed {
            idempotency_keys: 1,
            ..Removed::default()
        }
    );
    assert_eq!(present(app, &all).await.len(), all.len());

    // Past 30 days: the completed and skipped runs go, with the session
    // and its transcript; the failed ones, the pending ones and the chain
    // stay.
    clock.advance(2 * DAY);
    let removed = prune(app).await;
    assert_eq!(removed.runs, 3, "{removed:?}");
    assert_eq!(removed.sessions, 2);
    assert!(removed.events >= 8, "{removed:?}");
    assert_eq!(
        present(app, &all).await,
        vec![
            id(&failed),
            pending[0].clone(),
            pending[1].clone(),
            id(&first),
            retry.id.clone()
        ]
    );
    assert_eq!(status_of(app, &format!("/sessions/{session}")).await, 404);
    assert_eq!(
        status_of(app, &format!("/sessions/{session}/events")).await,
        404
    );
    let runs = app.get(&format!("/deployments/{dep}/runs")).await.body;
    assert_eq!(runs["data"].as_array().unwrap().len(), 3);
    // The deployment's counters are history: they keep counting.
    let counted = app.get(&format!("/deployments/{dep}")).await.body;
    assert_eq!(counted["metadata"]["cas_config"]["stats"]["total_runs"], 5);
    // The key is free again: a new run, not a replay.
    let reused = app
        .call(
            "POST",
            &format!("/deployments/{keyed}/run"),
            Some("{}".into()),
            &[("idempotency-key", "nightly-1"), ("authorization", &auth)],
        )
        .await;
    assert_eq!(reused.status, 200);
    assert_ne!(id(&reused.body), keyed_run);

    // Past 60 days: the failed run goes; the chain whose retry is pending
    // stays, and so do the pending runs.
    clock.advance(30 * DAY);
    let removed = prune(app).await;
    assert_eq!(removed.runs, 1, "{removed:?}");
    assert_eq!(
        present(app, &all).await,
        vec![
            pending[0].clone(),
            pending[1].clone(),
            id(&first),
            retry.id.clone()
        ]
    );
    // Once they end (the pending runs time out, the retry completes),
    // they go on the next pass: every one was triggered 61 days ago. (The
    // run of the reused key times out too; a failure of day 31, it stays.)
    let reaped = app.reaper().run_once().await.unwrap();
    assert_eq!(
        (reaped.timed_out, reaped.retries_started),
        (3, 1),
        "{reaped:?}"
    );
    assert_eq!(prune(app).await.runs, 2, "the timed-out runs");
    let turn = claim(app, &retry.id).await;
    complete(app, &turn).await;
    assert_eq!(prune(app).await.runs, 2, "the chain, whole");
    assert!(present(app, &all).await.is_empty());
}

async fn a_deployment_s_own_rules_replace_the_organization_s(
    app: &TestApp,
    clock: Arc<ManualClock>,
) {
    let set = app.post("/retention", json!({"keep_days": 30})).await;
    assert_eq!(set.status, 200, "{}", set.body);
    let refused = app
        .post(
            "/deployments",
            json!({"name": "d", "agent": "agent_00000000000000000000000000000000",
                   "environment_id": "env_00000000000000000000000000000000",
                   "initial_events": [{"type": "user.message", "content": "go"}],
                   "metadata": {"cas_config": {"retention": {"keep_days": 0}}}}),
        )
        .await;
    assert_envelope(
        &refused,
        400,
        "invalid_request_error",
        Some("metadata.cas_config.retention.keep_days"),
    );
    // Rules that delete history are an admin's: a write token may not set
    // a deployment's own, on create or update.
    let writer = app.scoped_token(TokenScope::Write, &[]).await;
    let auth = format!("Bearer {writer}");
    let seed = app.seed(1).await;
    let create = json!({"name": "d", "agent": seed.agent_id, "environment_id": seed.environment_id,
                        "initial_events": [{"type": "user.message", "content": "go"}],
                        "metadata": {"cas_config": {"retention": {"max_runs": 1}}}});
    let refused = app
        .call(
            "POST",
            "/deployments",
            Some(create.to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&refused, 403, "permission_error", None);
    let refused = app
        .call(
            "POST",
            &format!("/deployments/{}", seed.deployment_id),
            Some(json!({"metadata": {"cas_config": {"retention": {"max_runs": 1}}}}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&refused, 403, "permission_error", None);
    // Rules sent back as they are (a client writing what it read) change
    // nothing, so they need no retention scope.
    let before = app
        .get(&format!("/deployments/{}", seed.deployment_id))
        .await
        .body;
    let same = app
        .call(
            "POST",
            &format!("/deployments/{}", seed.deployment_id),
            Some(json!({"metadata": {"cas_config": {"retention": null}}}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.body, before);
    // Clearing a deployment's own rules is a change: refused.
    let own_rules = deployment(app, json!({"retention": {"max_runs": 5}})).await;
    let refused = app
        .call(
            "POST",
            &format!("/deployments/{own_rules}"),
            Some(json!({"metadata": {"cas_config": {"retention": null}}}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&refused, 403, "permission_error", None);
    let allowed = app
        .call(
            "POST",
            &format!("/deployments/{}", seed.deployment_id),
            Some(json!({"metadata": {"cas_config": {"config": {"max_retries": 1}}}}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let refused = app
        .call(
            "POST",
            "/retention",
            Some(json!({"keep_days": 1}).to_string()),
            &[("authorization", &auth)],
        )
        .await;
    assert_envelope(&refused, 403, "permission_error", None);
    assert_eq!(
        refused.body["error"]["message"],
        "A write token may not change retention rules."
    );

    let own = deployment(app, json!({"retention": {"max_runs": 2}})).await;
    let shown = app.get(&format!("/deployments/{own}")).await.body;
    assert_eq!(
        shown["metadata"]["cas_config"]["retention"],
        json!({"keep_days": null, "keep_failed_days": null, "max_runs": 2})
    );
    let org = deployment(app, json!({})).await;
    assert_eq!(
        app.get(&format!("/deployments/{org}")).await.body["metadata"]["cas_config"]["retention"],
        json!(null)
    );
    // Four runs each, canceled one by one (failed, never retried).
    let mut runs = Vec::new();
    for dep in [&own, &org] {
        let mut ids = Vec::new();
        for _ in 0..4 {
            let run = trigger(app, dep).await;
            let canceled = app
                .post_empty(&format!("/deployment_runs/{}/cancel", id(&run)))
                .await;
            assert_eq!(canceled.body["status"], "failed");
            ids.push(id(&run));
            clock.advance(SECOND);
        }
        runs.push(ids);
    }
    // Only the newest two of its own are kept, at once.
    assert_eq!(prune(app).await.runs, 2);
    let kept: Vec<&str> = runs[0][2..].iter().map(String::as_str).collect();
    assert_eq!(present(app, &kept).await.len(), 2);
    let all_own: Vec<&str> = runs[0].iter().map(String::as_str).collect();
    assert_eq!(present(app, &all_own).await.len(), 2);

    // Past 30 days its own rules still keep them (no time limit of its
    // own); the organization's policy takes the others. Failed runs: the
    // organization keeps them without limit, so set one.
    clock.advance(31 * DAY);
    assert_eq!(prune(app).await.runs, 0);
    let set = app
        .post("/retention", json!({"keep_failed_days": 30}))
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(prune(app).await.runs, 4);
    assert_eq!(present(app, &all_own).await.len(), 2);

    // Over gRPC: the override is read, then cleared with the mask: the
    // organization's policy applies and the last two go.
    let mut grpc = app.grpc().await;
    let got = grpc
        .get_deployment(app.authed(GetDeploymentRequest {
            deployment_id: own.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    assert_eq!(
        got.cas_config.unwrap().retention,
        Some(RetentionRules {
            keep_days: None,
            keep_failed_days: None,
            max_runs: Some(2)
        })
    );
    let cleared = grpc
        .update_deployment(app.authed(UpdateDeploymentRequest {
            deployment_id: own.clone(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["retention".into()],
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    assert_eq!(cleared.cas_config.unwrap().retention, None);
    assert_eq!(prune(app).await.runs, 2);
    assert!(present(app, &all_own).await.is_empty());
}
