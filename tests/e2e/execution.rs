//! Run lifecycle rules with a manual clock, over the real RunnerService:
//! leases, timeouts, retries, cancel, late reports.

use std::sync::Arc;

use runway_api::v1::*;
use runway_server::ManualClock;
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{TestApp, eventually};
use crate::turns::{claim, claim_and_fail};
use crate::{on_every_backend, on_every_backend_with_clock};

const SECOND: i64 = 1_000_000_000;

on_every_backend_with_clock!(
    an_unclaimed_turn_times_out,
    a_lost_lease_fails_the_run_and_its_retry_starts_after_the_backoff,
    late_reports_change_nothing,
    a_retry_of_a_paused_deployment_is_skipped,
);

on_every_backend!(
    a_retry_starts_when_its_backoff_ends_not_at_the_next_pass,
    a_retry_recorded_before_the_reaper_started_starts_on_time,
    a_turn_carries_the_initial_events_its_run_started_with,
);

async fn deployment(app: &TestApp, config: Value) -> String {
    let seed = app.seed(1).await;
    let (agent, env) = (seed.agent_id, seed.environment_id);
    let dep = app
        .post(
            "/deployments",
            json!({"name": "d", "agent": agent, "environment_id": env,
                   "initial_events": [{"type": "user.message", "content": "go"}],
                   "metadata": {"cas_config": {"config": config}}}),
        )
        .await;
    assert_eq!(dep.status, 200, "{}", dep.body);
    dep.body["id"].as_str().unwrap().to_string()
}

async fn an_unclaimed_turn_times_out(app: &TestApp, clock: Arc<ManualClock>) {
    let dep = deployment(app, json!({"timeout_ms": 1000})).await;
    let run = app
        .post_empty(&format!("/deployments/{dep}/run"))
        .await
        .body;
    clock.advance(SECOND / 2);
    assert_eq!(
        app.reaper().run_once().await.unwrap().timed_out,
        0,
        "within its time limit"
    );
    clock.advance(SECOND);
    assert_eq!(app.reaper().run_once().await.unwrap().timed_out, 1);
    let run = app
        .get(&format!("/deployment_runs/{}", run["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["type"], "timeout_error");
    assert!(
        run["completed_at"].is_string() && run["duration_ms"].is_i64(),
        "{run}"
    );
    // A timed-out turn can no longer be claimed.
    let mut runner = app.runner_client().await;
    let none = runner
        .claim_turn(app.authed(ClaimTurnRequest {
            wait_ms: 0,
            ..Default::default()
        }))
        .await
        .unwrap();
    assert!(none.into_inner().turn.is_none());
}

async fn a_lost_lease_fails_the_run_and_its_retry_starts_after_the_backoff(
    app: &TestApp,
    clock: Arc<ManualClock>,
) {
    let dep = deployment(app, json!({"max_retries": 1})).await;
    let run = app
        .post_empty(&format!("/deployments/{dep}/run"))
        .await
        .body;
    let turn = claim(app).await;
    assert_eq!(turn.run.as_ref().unwrap().id, run["id"].as_str().unwrap());
    assert_eq!(turn.timeout_ms, 300_000);
    assert_eq!(turn.agent.as_ref().unwrap().version, 1);
    assert_eq!(turn.deployment.as_ref().unwrap().id, dep);

    // Heartbeats keep the lease (default TTL 30 s) alive...
    clock.advance(20 * SECOND);
    let mut runner = app.runner_client().await;
    let beat = HeartbeatRequest {
        run_id: turn.run.as_ref().unwrap().id.clone(),
        lease_id: turn.lease_id.clone(),
    };
    runner.heartbeat(app.authed(beat.clone())).await.unwrap();
    clock.advance(20 * SECOND);
    assert_eq!(app.reaper().run_once().await.unwrap().lost, 0);
    // ...until they stop.
    clock.advance(31 * SECOND);
    assert_eq!(app.reaper().run_once().await.unwrap().lost, 1);
    let lost = app
        .get(&format!("/deployment_runs/{}", run["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(lost["status"], "failed");
    assert_eq!(lost["error"]["type"], "runner_lost_error");

    let retries = app
        .get(&format!(
            "/deployment_runs?deployment_id={dep}&trigger_type=retry"
        ))
        .await
        .body;
    let retry = retries["data"][0].clone();
    assert_eq!(retry["status"], "pending", "waits for its backoff");
    assert_eq!(retry["cas_run_extras"], json!({"attempt": 2}));
    assert_eq!(
        retry["trigger_context"],
        json!({"type": "retry", "retry_of": run["id"]})
    );
    assert!(retry.get("session_id").is_none());
    assert_eq!(
        app.reaper().run_once().await.unwrap().retries_started,
        0,
        "backoff not over"
    );
    // The pending retry holds the only slot.
    let skipped = app
        .post_empty(&format!("/deployments/{dep}/run"))
        .await
        .body;
    assert_eq!(skipped["status"], "skipped");
    clock.advance(SECOND);
    assert_eq!(app.reaper().run_once().await.unwrap().retries_started, 1);
    let started = app
        .get(&format!(
            "/deployment_runs/{}",
            retry["id"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(started["status"], "running");
    assert!(
        started["session_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("sess_"))
    );
    // The lost runner's late heartbeat is refused.
    let late = runner.heartbeat(app.authed(beat)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
}

async fn late_reports_change_nothing(app: &TestApp, _clock: Arc<ManualClock>) {
    let dep = deployment(app, json!({})).await;
    app.post_empty(&format!("/deployments/{dep}/run")).await;
    let turn = claim(app).await;
    let run_id = turn.run.as_ref().unwrap().id.clone();
    let mut runner = app.runner_client().await;
    let wrong_lease = CompleteTurnRequest {
        run_id: run_id.clone(),
        lease_id: "not-the-lease".into(),
    };
    assert_eq!(
        runner
            .complete_turn(app.authed(wrong_lease))
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );

    let canceled = app
        .post_empty(&format!("/deployment_runs/{run_id}/cancel"))
        .await;
    assert_eq!(canceled.body["error"]["type"], "canceled_error");
    let complete = CompleteTurnRequest {
        run_id: run_id.clone(),
        lease_id: turn.lease_id.clone(),
    };
    let err = runner
        .complete_turn(app.authed(complete))
        .await
        .unwrap_err();
    // Told how the run ended: a report whose answer was lost, resent,
    // learns the same way that it was recorded.
    let told = |err: &tonic::Status| {
        let info = err.get_error_details().error_info().unwrap().clone();
        (
            err.code(),
            err.message().to_string(),
            info.reason,
            info.metadata,
        )
    };
    let canceled = (
        Code::FailedPrecondition,
        format!(
            "Run {run_id} is no longer running under this lease: it is failed (canceled_error); \
             stop its work and report nothing."
        ),
        "RUN_NOT_LEASED".to_string(),
        [
            ("status".to_string(), "failed".to_string()),
            ("error_type".to_string(), "canceled_error".to_string()),
        ]
        .into(),
    );
    assert_eq!(told(&err), canceled);
    let heartbeat = HeartbeatRequest {
        run_id: run_id.clone(),
        lease_id: turn.lease_id.clone(),
    };
    let err = runner.heartbeat(app.authed(heartbeat)).await.unwrap_err();
    assert_eq!(told(&err), canceled);
    let fail = FailTurnRequest {
        run_id: run_id.clone(),
        lease_id: turn.lease_id.clone(),
        error: Some(RunError {
            r#type: "agent_error".into(),
            message: "late".into(),
        }),
    };
    assert_eq!(
        runner.fail_turn(app.authed(fail)).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    let run = app.get(&format!("/deployment_runs/{run_id}")).await.body;
    assert_eq!(
        run["error"]["type"], "canceled_error",
        "the late reports changed nothing"
    );
    let session = app
        .get(&format!(
            "/sessions/{}",
            run["session_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(session.status, 200);
    assert_eq!(session.body["status"], "idle");
    assert_eq!(session.body["agent"]["type"], "agent");
}

async fn a_retry_of_a_paused_deployment_is_skipped(app: &TestApp, clock: Arc<ManualClock>) {
    let dep = deployment(app, json!({"max_retries": 2})).await;
    app.post_empty(&format!("/deployments/{dep}/run")).await;
    let failed = claim_and_fail(app).await;
    let retry = failed.retry.expect("a retry: attempts are left");
    assert_eq!(retry.status, DeploymentRunStatus::Pending as i32);
    app.post_empty(&format!("/deployments/{dep}/pause")).await;
    clock.advance(10 * SECOND);
    let report = app.reaper().run_once().await.unwrap();
    assert_eq!((report.retries_started, report.retries_skipped), (0, 1));
    let skipped = app
        .get(&format!("/deployment_runs/{}", retry.id))
        .await
        .body;
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(skipped["error"]["type"], "deployment_paused_error");
    let stats =
        app.get(&format!("/deployments/{dep}")).await.body["metadata"]["cas_config"]["stats"]
            .clone();
    assert_eq!(
        (
            stats["total_runs"].as_i64(),
            stats["total_failures"].as_i64()
        ),
        (Some(2), Some(1))
    );
}

/// The reaper starts a retry this server records when its backoff ends (1
/// s by default), though its passes are an hour apart here.
async fn a_retry_starts_when_its_backoff_ends_not_at_the_next_pass(app: &TestApp) {
    retry_starts_at_its_backoff(app, true).await;
}

/// A retry recorded before the reaper started (another replica's, or this
/// one's before a restart) is found by its first pass and started on time.
async fn a_retry_recorded_before_the_reaper_started_starts_on_time(app: &TestApp) {
    retry_starts_at_its_backoff(app, false).await;
}

async fn retry_starts_at_its_backoff(app: &TestApp, reaper_first: bool) {
    let dep = deployment(app, json!({"max_retries": 1})).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reaper = app.reaper().clone();
    // The reaper's loop, started before the failure or after it.
    let mut start = Some(move || {
        tokio::spawn(
            reaper.run(std::time::Duration::from_secs(3600), async move {
                let _ = stopped.await;
            }),
        )
    });
    let mut reaping = None;
    if reaper_first {
        reaping = start.take().map(|start| start());
    }
    app.post_empty(&format!("/deployments/{dep}/run")).await;
    let failed = claim_and_fail(app).await;
    let retry = failed.retry.expect("a retry: an attempt is left");
    assert_eq!(retry.status, DeploymentRunStatus::Pending as i32);
    if let Some(start) = start.take() {
        reaping = Some(start());
    }
    let started = eventually("the retry to start", async || {
        let run = app
            .get(&format!("/deployment_runs/{}", retry.id))
            .await
            .body;
        (run["status"] == "running").then_some(run)
    })
    .await;
    let started_at = chrono::DateTime::parse_from_rfc3339(
        started["cas_run_extras"]["started_at"].as_str().unwrap(),
    )
    .unwrap();
    let failed_at = chrono::DateTime::parse_from_rfc3339(
        app.get(&format!("/deployment_runs/{}", failed.run.unwrap().id))
            .await
            .body["completed_at"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        started_at - failed_at >= chrono::TimeDelta::seconds(1),
        "not before its backoff: failed {failed_at}, started {started_at}"
    );
    let _ = stop.send(());
    reaping.unwrap().await.unwrap();
}

/// The agent's input is what the run's transcript opened with, not the
/// deployment's initial events as they are when a runner claims the turn.
async fn a_turn_carries_the_initial_events_its_run_started_with(app: &TestApp) {
    let dep = deployment(app, json!({})).await;
    let run = app
        .post(&format!("/deployments/{dep}/run"), json!({}))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let changed = app
        .post(
            &format!("/deployments/{dep}"),
            json!({"initial_events": [
                {"type": "system.message", "content": "be brief"},
                {"type": "user.message", "content": "changed"},
            ]}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let turn = claim(app).await;
    let as_json = |events: &[InitialEvent]| {
        events
            .iter()
            .map(|e| {
                json!({
                    "type": runway_api::enums::InitialEventType::from_proto(e.r#type)
                        .unwrap()
                        .name(),
                    "content": runway_api::json_value::from_proto(e.content.as_ref().unwrap()),
                })
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        as_json(&turn.initial_events),
        [json!({"type": "user.message", "content": "go"})]
    );
    assert_eq!(
        as_json(&turn.deployment.unwrap().initial_events),
        [
            json!({"type": "system.message", "content": "be brief"}),
            json!({"type": "user.message", "content": "changed"}),
        ]
    );
}
