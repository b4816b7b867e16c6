//! How a run ends: the state it must be in for an ending to apply (the
//! compare of compare-and-set), the terminal state it moves to, and whether
//! a failure is retried and when.

use runway_api::enums::{
    DeploymentStatus, EventType, PausedReasonType, RunErrorType, RunStatus, SessionStatus,
    StopReasonType,
};
use runway_store::entity::{deployment, deployment_run};
use runway_store::repo::events::NewEvent;
use runway_store::repo::turns::{FinishDecision, NANOS_PER_MS};

use crate::error::ServiceResult;

/// How a run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed {
        error_type: RunErrorType,
        message: String,
    },
}

/// What must hold for an ending to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Running, under this lease (a runner's report), in one of
    /// `environments` when the caller's token names them (`None`: any).
    Lease {
        lease: String,
        environments: Option<Vec<String>>,
    },
    /// Running, claimed, with a lease that expired before this instant.
    LeaseExpiredBefore(i64),
    /// Running, unclaimed, started more than its time limit before this instant.
    UnclaimedPastTimeout(i64),
    /// Running, claimed, started more than its time limit plus `grace`
    /// before `now` (the runner neither finished nor stopped it).
    ClaimedPastTimeout { now: i64, grace: i64 },
    /// Pending or running (a cancel).
    Active,
}

impl Expect {
    /// True when `run` is in the state this expectation names.
    pub fn holds(&self, run: &deployment_run::Model) -> bool {
        let running = run.status == RunStatus::Running;
        let deadline = |grace: i64| {
            run.started_at.unwrap_or(run.triggered_at)
                + run.timeout_ms.unwrap_or(0) * NANOS_PER_MS
                + grace
        };
        match self {
            Expect::Lease {
                lease,
                environments,
            } => {
                running
                    && run.lease_id.as_deref() == Some(lease.as_str())
                    && environments.as_ref().is_none_or(|envs| {
                        run.environment_id
                            .as_ref()
                            .is_some_and(|env| envs.contains(env))
                    })
            }
            Expect::LeaseExpiredBefore(t) => {
                running && run.claimed_at.is_some() && run.lease_expires_at.is_some_and(|e| e < *t)
            }
            Expect::UnclaimedPastTimeout(t) => {
                running && run.claimed_at.is_none() && deadline(0) < *t
            }
            Expect::ClaimedPastTimeout { now, grace } => {
                running && run.claimed_at.is_some() && deadline(*grace) < *now
            }
            Expect::Active => run.status.is_active(),
        }
    }
}

/// Whether a failure may be retried, and after how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Never (a cancel: the user asked for the run to stop).
    Never,
    /// When the deployment has attempts left, after an exponential backoff:
    /// `base` after attempt 1, doubling per attempt, at most `cap` (nanoseconds).
    Backoff { base: i64, cap: i64 },
}

impl RetryPolicy {
    /// How long the retry of a failed attempt `attempt` waits.
    pub fn delay(&self, attempt: i32) -> i64 {
        match *self {
            RetryPolicy::Never => 0,
            RetryPolicy::Backoff { base, cap } => {
                let doublings = Ord::min(u32::try_from(attempt.saturating_sub(1)).unwrap_or(0), 40);
                Ord::min(base.saturating_mul(1i64 << doublings), cap)
            }
        }
    }

    /// When the retry of failed `run` starts, if it is retried: the
    /// deployment allows `max_retries` retries after the first attempt.
    pub fn retry_at(&self, run: &deployment_run::Model, max_retries: i32, now: i64) -> Option<i64> {
        match self {
            RetryPolicy::Never => None,
            RetryPolicy::Backoff { .. } if run.attempt <= max_retries => {
                Some(now.saturating_add(self.delay(run.attempt)))
            }
            RetryPolicy::Backoff { .. } => None,
        }
    }
}

/// `run` as it is once it ended with `outcome` at `now`.
pub fn ended(run: &deployment_run::Model, outcome: &Outcome, now: i64) -> deployment_run::Model {
    let mut ended = run.clone();
    ended.completed_at = Some(now);
    ended.lease_expires_at = None;
    ended.start_after = None;
    if let Some(started) = run.started_at {
        ended.duration_ms = Some(Ord::max(now - started, 0) / NANOS_PER_MS);
    }
    match outcome {
        Outcome::Completed => ended.status = RunStatus::Completed,
        Outcome::Failed {
            error_type,
            message,
        } => {
            ended.status = RunStatus::Failed;
            ended.error_type = Some(*error_type);
            ended.error_message = Some(message.clone());
        }
    }
    ended
}

/// The session status that goes with an ended run: idle, whatever the
/// outcome (the stop reason says how the turn ended).
pub fn session_status(_outcome: &Outcome) -> SessionStatus {
    SessionStatus::Idle
}

/// The `session.status_idle` that closes the run's turn: why the session
/// stopped (`stop_reason.type`) and, for a failure, the run's error.
pub fn closing_event(outcome: &Outcome, retried: bool) -> NewEvent {
    let reason = match outcome {
        Outcome::Completed => StopReasonType::EndTurn,
        Outcome::Failed {
            error_type: RunErrorType::Canceled,
            ..
        } => StopReasonType::Interrupted,
        Outcome::Failed { .. } if retried => StopReasonType::Error,
        Outcome::Failed { .. } => StopReasonType::RetriesExhausted,
    };
    let mut stop_reason = serde_json::Map::new();
    stop_reason.insert("type".into(), reason.name().into());
    if let Outcome::Failed {
        error_type,
        message,
    } = outcome
    {
        stop_reason.insert(
            "error".into(),
            serde_json::json!({"type": error_type.name(), "message": message}),
        );
    }
    let mut fields = serde_json::Map::new();
    fields.insert("stop_reason".into(), serde_json::Value::Object(stop_reason));
    NewEvent {
        kind: EventType::SessionStatusIdle,
        fields,
    }
}

/// The decision `runway_store::repo::turns::finish` applies: end the run
/// with `outcome` at `now` if `expect` holds, and retry it under `retry`.
pub fn finish(
    expect: Expect,
    outcome: Outcome,
    retry: RetryPolicy,
    now: i64,
) -> impl FnOnce(&deployment::Model, &deployment_run::Model) -> ServiceResult<FinishDecision> {
    move |dep, run| {
        if !expect.holds(run) {
            return Ok(FinishDecision::Refuse);
        }
        let retry_after = match outcome {
            Outcome::Failed { .. } => retry.retry_at(run, dep.max_retries, now),
            Outcome::Completed => None,
        };
        Ok(FinishDecision::End {
            ended: Box::new(ended(run, &outcome, now)),
            session: session_status(&outcome),
            interjected: Vec::new(),
            closing: closing_event(&outcome, retry_after.is_some()),
            retry_after,
            pause: pause_after(dep, &outcome),
        })
    }
}

/// Whether ending a run with `outcome` pauses its deployment: a failure
/// that brings its failed runs in a row to `max_consecutive_failures` pauses
/// an active deployment (`consecutive_failures`); nothing else does.
pub fn pause_after(dep: &deployment::Model, outcome: &Outcome) -> Option<PausedReasonType> {
    let limit = i64::from(dep.max_consecutive_failures?);
    let failed = matches!(outcome, Outcome::Failed { .. });
    let live = dep.status == DeploymentStatus::Active && dep.archived_at.is_none();
    (failed && live && dep.consecutive_failures + 1 >= limit)
        .then_some(PausedReasonType::ConsecutiveFailures)
}

/// How a user's cancel ends a run.
pub fn canceled() -> Outcome {
    Outcome::Failed {
        error_type: RunErrorType::Canceled,
        message: "The run was canceled.".to_string(),
    }
}

/// A user's `user.interrupt` of a session's running turn: the run ends as a
/// cancel ends it (never retried), with `interrupt` recorded just before
/// the closing event.
pub fn interrupt(
    interrupt: NewEvent,
    now: i64,
) -> impl FnOnce(&deployment::Model, &deployment_run::Model) -> ServiceResult<FinishDecision> {
    let cancel = finish(Expect::Active, canceled(), RetryPolicy::Never, now);
    move |dep, run| {
        Ok(match cancel(dep, run)? {
            FinishDecision::End {
                ended,
                session,
                closing,
                retry_after,
                pause,
                ..
            } => FinishDecision::End {
                ended,
                session,
                interjected: vec![interrupt],
                closing,
                retry_after,
                pause,
            },
            FinishDecision::Refuse => FinishDecision::Refuse,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{deployment, run};

    const MS: i64 = NANOS_PER_MS;

    fn running(started_at: i64, timeout_ms: i64) -> deployment_run::Model {
        let mut r = run();
        r.status = RunStatus::Running;
        r.started_at = Some(started_at);
        r.timeout_ms = Some(timeout_ms);
        r
    }

    fn lease(id: &str) -> Expect {
        Expect::Lease {
            lease: id.into(),
            environments: None,
        }
    }

    #[test]
    fn only_the_lease_holder_reports() {
        let mut r = running(0, 1000);
        r.lease_id = Some("a".into());
        assert!(lease("a").holds(&r));
        assert!(!lease("b").holds(&r));
        let only = |envs: &[&str]| Expect::Lease {
            lease: "a".into(),
            environments: Some(envs.iter().map(|e| e.to_string()).collect()),
        };
        assert!(
            only(&["env_1", "env_2"]).holds(&r),
            "its environment is env_1"
        );
        assert!(
            !only(&["env_2"]).holds(&r),
            "a runner token of another environment cannot report, even with the lease"
        );
        r.status = RunStatus::Failed;
        assert!(
            !lease("a").holds(&r),
            "a late report cannot resurrect a failed run"
        );
    }

    #[test]
    fn leases_and_time_limits_expire_strictly_after_their_instant() {
        let mut r = running(0, 1000);
        assert!(!Expect::UnclaimedPastTimeout(1000 * MS).holds(&r));
        assert!(Expect::UnclaimedPastTimeout(1000 * MS + 1).holds(&r));
        r.claimed_at = Some(1);
        r.lease_expires_at = Some(500);
        assert!(!Expect::UnclaimedPastTimeout(i64::MAX).holds(&r));
        assert!(!Expect::LeaseExpiredBefore(500).holds(&r));
        assert!(Expect::LeaseExpiredBefore(501).holds(&r));
        let past = |now| Expect::ClaimedPastTimeout { now, grace: 10 };
        assert!(!past(1000 * MS + 10).holds(&r));
        assert!(past(1000 * MS + 11).holds(&r));
    }

    #[test]
    fn cancel_applies_to_pending_and_running_only() {
        let mut r = run();
        for status in RunStatus::ALL {
            r.status = *status;
            assert_eq!(Expect::Active.holds(&r), status.is_active(), "{status}");
        }
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap() {
        let policy = RetryPolicy::Backoff {
            base: 1000,
            cap: 5000,
        };
        let delays: Vec<i64> = (1..=5).map(|a| policy.delay(a)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
        assert_eq!(policy.delay(i32::MAX), 5000, "no overflow");
        assert_eq!(RetryPolicy::Never.delay(3), 0);
    }

    #[test]
    fn a_failure_is_retried_while_attempts_are_left() {
        let policy = RetryPolicy::Backoff {
            base: 10,
            cap: 1000,
        };
        let mut r = run();
        r.attempt = 1;
        assert_eq!(policy.retry_at(&r, 0, 100), None, "max_retries 0");
        assert_eq!(policy.retry_at(&r, 2, 100), Some(110));
        r.attempt = 2;
        assert_eq!(policy.retry_at(&r, 2, 100), Some(120));
        r.attempt = 3;
        assert_eq!(
            policy.retry_at(&r, 2, 100),
            None,
            "3 attempts = 1 + 2 retries"
        );
        assert_eq!(RetryPolicy::Never.retry_at(&r, 10, 100), None);
    }

    #[test]
    fn the_stop_reason_says_how_the_turn_ended() {
        let failed = |error_type| Outcome::Failed {
            error_type,
            message: "m".into(),
        };
        let reason = |outcome: &Outcome, retried| {
            closing_event(outcome, retried).fields["stop_reason"]["type"].clone()
        };
        assert_eq!(reason(&Outcome::Completed, false), "end_turn");
        assert_eq!(reason(&failed(RunErrorType::Timeout), true), "error");
        assert_eq!(
            reason(&failed(RunErrorType::RunnerLost), false),
            "retries_exhausted"
        );
        assert_eq!(
            reason(&failed(RunErrorType::Canceled), false),
            "interrupted"
        );
    }

    #[test]
    fn consecutive_failures_pause_a_live_deployment_at_the_limit() {
        let failed = Outcome::Failed {
            error_type: RunErrorType::Agent,
            message: "exit 1".into(),
        };
        let mut dep = deployment();
        assert_eq!(pause_after(&dep, &failed), None, "no limit, no pause");
        dep.max_consecutive_failures = Some(3);
        dep.consecutive_failures = 1;
        assert_eq!(
            pause_after(&dep, &failed),
            None,
            "the second failure in a row"
        );
        dep.consecutive_failures = 2;
        assert_eq!(
            pause_after(&dep, &failed),
            Some(PausedReasonType::ConsecutiveFailures),
            "the third"
        );
        assert_eq!(pause_after(&dep, &Outcome::Completed), None);
        dep.status = DeploymentStatus::Paused;
        assert_eq!(pause_after(&dep, &failed), None, "already paused");
        dep.status = DeploymentStatus::Active;
        dep.archived_at = Some(1);
        assert_eq!(pause_after(&dep, &failed), None, "archived");
    }

    #[test]
    fn finishing_ends_the_run_and_its_session() {
        let mut dep = deployment();
        dep.max_retries = 1;
        let r = running(1_000 * MS, 60_000);
        let outcome = Outcome::Failed {
            error_type: RunErrorType::Agent,
            message: "exit 1".into(),
        };
        let policy = RetryPolicy::Backoff { base: 5, cap: 5 };
        let decision = finish(Expect::Active, outcome, policy, 3_500 * MS)(&dep, &r).unwrap();
        let FinishDecision::End {
            ended,
            session,
            closing,
            retry_after,
            ..
        } = decision
        else {
            panic!("refused");
        };
        assert_eq!(closing.kind, EventType::SessionStatusIdle);
        assert_eq!(
            serde_json::Value::Object(closing.fields),
            serde_json::json!({"stop_reason": {
                "type": "error",
                "error": {"type": "agent_error", "message": "exit 1"}
            }}),
            "a failure that is retried"
        );
        assert_eq!(ended.status, RunStatus::Failed);
        assert_eq!(ended.error_type, Some(RunErrorType::Agent));
        assert_eq!(ended.error_message.as_deref(), Some("exit 1"));
        assert_eq!(ended.completed_at, Some(3_500 * MS));
        assert_eq!(ended.duration_ms, Some(2_500));
        assert_eq!(session, SessionStatus::Idle);
        assert_eq!(retry_after, Some(3_500 * MS + 5));

        let done = finish(Expect::Active, Outcome::Completed, policy, 2_000 * MS)(&dep, &r);
        match done.unwrap() {
            FinishDecision::End {
                ended,
                session,
                closing,
                retry_after,
                ..
            } => {
                assert_eq!(
                    serde_json::Value::Object(closing.fields),
                    serde_json::json!({"stop_reason": {"type": "end_turn"}})
                );
                assert_eq!(ended.status, RunStatus::Completed);
                assert_eq!(ended.error_type, None);
                assert_eq!(session, SessionStatus::Idle);
                assert_eq!(retry_after, None, "a completed run is never retried");
            }
            FinishDecision::Refuse => panic!("refused"),
        }
        let refused = finish(lease("x"), Outcome::Completed, policy, 0)(&dep, &r);
        assert_eq!(refused.unwrap(), FinishDecision::Refuse);
    }
}
