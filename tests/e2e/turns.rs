//! A runner's side of a turn, for tests that play the runner over the real
//! RunnerService: claim the next turn, fail it.

use runway_api::v1::*;

use crate::support::TestApp;

/// Claims the next turn of any environment (there must be one).
pub async fn claim(app: &TestApp) -> Turn {
    let request = ClaimTurnRequest {
        environment_id: String::new(),
        runner_name: "test".into(),
        wait_ms: 0,
    };
    app.runner_client()
        .await
        .claim_turn(app.authed(request))
        .await
        .unwrap()
        .into_inner()
        .turn
        .expect("a turn to claim")
}

/// Claims the next turn and reports it failed (`agent_error`).
pub async fn claim_and_fail(app: &TestApp) -> FailTurnResponse {
    let turn = claim(app).await;
    let fail = FailTurnRequest {
        run_id: turn.run.as_ref().unwrap().id.clone(),
        lease_id: turn.lease_id.clone(),
        error: Some(RunError {
            r#type: "agent_error".into(),
            message: "exit status 3".into(),
        }),
    };
    app.runner_client()
        .await
        .fail_turn(app.authed(fail))
        .await
        .unwrap()
        .into_inner()
}
