//! What a runner's calls are checked against, and what a refused one is
//! told: its events (the catalog, numbers, sizes), its lease ids, and how
//! a run it no longer holds ended.

use runway_api::enums::EventType;
use runway_api::json_value;
use runway_api::v1::{DeploymentRun, RunnerEvent as ProtoRunnerEvent};
use runway_store::entity::deployment_run;
use runway_store::ids::IdKind;
use runway_store::repo::events::{NewEvent, RunnerEvent};
use runway_store::repo::turns::Finish;

use crate::convert;
use crate::error::{ResourceKind, ServiceError, ServiceResult};
use crate::validate;

/// Events one `AppendEvents` call may carry.
pub const MAX_EVENTS_PER_APPEND: usize = 1000;

/// A runner's events, checked: the agent's side of the catalog, positive
/// numbers increasing through the batch (a repeat or a step back is a
/// runner's bug, refused rather than half recorded), at most
/// [`validate::MAX_EVENT_BYTES`] each.
pub(super) fn runner_events(
    events: &[ProtoRunnerEvent],
    now: i64,
) -> ServiceResult<Vec<RunnerEvent>> {
    if events.len() > MAX_EVENTS_PER_APPEND {
        return Err(ServiceError::invalid(
            "events",
            format!(
                "events may hold at most {MAX_EVENTS_PER_APPEND} events, got {}",
                events.len()
            ),
        ));
    }
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let kind = EventType::from_proto(e.r#type)
                .filter(|k| k.runner_may_record())
                .ok_or_else(|| {
                    ServiceError::invalid(
                        format!("events[{i}].type"),
                        "type must be an agent.* or span.* event type: user.*, system.message and session.status_* events are not a runner's to record",
                    )
                })?;
            if e.sequence < 1 {
                return Err(ServiceError::invalid(
                    format!("events[{i}].sequence"),
                    "sequence must be 1 or more",
                ));
            }
            if let Some(before) = i.checked_sub(1).map(|j| events[j].sequence)
                && e.sequence <= before
            {
                return Err(ServiceError::invalid(
                    format!("events[{i}].sequence"),
                    format!(
                        "sequence must increase through the batch: {} follows {before}",
                        e.sequence
                    ),
                ));
            }
            let mut fields = e
                .fields
                .as_ref()
                .map(json_value::struct_to_object)
                .unwrap_or_default();
            validate::object_depth(&format!("events[{i}].fields"), &fields)?;
            // What the service stamps is not the runner's to say.
            for stamped in runway_api::STAMPED_EVENT_FIELDS {
                fields.remove(stamped);
            }
            validate::event_size(&format!("events[{i}].fields"), &fields)?;
            let created_at = match &e.created_at {
                Some(at) => convert::stored_nanos(&format!("events[{i}].created_at"), at)?,
                None => now,
            };
            Ok(RunnerEvent {
                runner_seq: e.sequence,
                event: NewEvent { kind, fields },
                created_at,
            })
        })
        .collect()
}

pub(super) fn not_leased(run_id: &str) -> ServiceError {
    ServiceError::RunNotLeased {
        run_id: run_id.to_string(),
        ended: None,
    }
}

/// A refusal under a lease, telling how `run` ended when it has and is in
/// an environment the token may reach (`environments`, `None`: all).
pub(super) fn not_leased_as(
    run_id: &str,
    run: Option<&deployment_run::Model>,
    environments: Option<&[String]>,
) -> ServiceError {
    let ended = run
        .filter(|run| !run.status.is_active())
        .filter(|run| {
            environments.is_none_or(|envs| {
                run.environment_id
                    .as_ref()
                    .is_some_and(|env| envs.contains(env))
            })
        })
        .map(|run| (run.status, run.error_type));
    ServiceError::RunNotLeased {
        run_id: run_id.to_string(),
        ended,
    }
}

/// A run id that cannot name a run, or a lease id holding a NUL, holds no
/// lease: answered without a read (no database text can hold a NUL).
pub(super) fn lease_ids(run_id: &str, lease_id: &str) -> ServiceResult<()> {
    if IdKind::Run.is_valid(run_id) && !lease_id.contains('\0') {
        Ok(())
    } else {
        Err(not_leased(run_id))
    }
}

pub(super) fn finish_answer(
    result: Finish,
    run_id: &str,
    environments: Option<&[String]>,
) -> ServiceResult<(DeploymentRun, Option<DeploymentRun>)> {
    match result {
        Finish::NotFound => Err(ServiceError::not_found(
            ResourceKind::DeploymentRun,
            run_id.to_string(),
            "run_id",
        )),
        Finish::Refused(run) => Err(not_leased_as(run_id, Some(&run), environments)),
        Finish::Finished { run, retry, .. } => {
            Ok((convert::run(*run), retry.map(|retry| convert::run(*retry))))
        }
    }
}
