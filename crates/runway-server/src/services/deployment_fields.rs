//! The checks a deployment's fields pass on create and update: each
//! answers the stored form or an error naming the field.

use runway_api::enums::{InitialEventType, ScheduleType, SessionStrategy};
use runway_api::json_value;
use runway_api::v1::{InitialEvent, Schedule};
use runway_store::entity::deployment::InitialEvent as StoredEvent;
use runway_store::entity::organization::RetentionRules;

use crate::convert;
use crate::domain::retention;
use crate::error::{ServiceError, ServiceResult};
use crate::schedule::CronSchedule;
use crate::validate;

const MAX_INITIAL_EVENTS: usize = 50;
const MAX_VAULT_IDS: usize = 50;
pub(super) const DEFAULT_MAX_CONCURRENT: i32 = 1;
pub(super) const DEFAULT_MAX_RETRIES: i32 = 0;
pub(super) const DEFAULT_TIMEOUT_MS: i64 = 300_000;

pub(super) fn initial_events(events: &[InitialEvent]) -> ServiceResult<Vec<StoredEvent>> {
    if events.is_empty() || events.len() > MAX_INITIAL_EVENTS {
        return Err(ServiceError::invalid(
            "initial_events",
            format!(
                "initial_events must hold 1 to {MAX_INITIAL_EVENTS} events, got {}",
                events.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let kind = InitialEventType::from_proto(event.r#type).ok_or_else(|| {
            ServiceError::invalid(
                format!("initial_events[{i}].type"),
                format!("type must be {}", InitialEventType::expected()),
            )
        })?;
        let content = event
            .content
            .as_ref()
            .map(json_value::from_proto)
            .unwrap_or_default();
        validate::json_depth(&format!("initial_events[{i}].content"), &content)?;
        // As large as an event a runner records may be: each one is part of
        // the turn a runner claims, and of the session's transcript.
        validate::event_size(&format!("initial_events[{i}].content"), &content)?;
        let valid = match &content {
            serde_json::Value::String(s) => !s.is_empty(),
            serde_json::Value::Array(blocks) => {
                !blocks.is_empty()
                    && blocks
                        .iter()
                        .all(|b| b["type"].as_str().is_some_and(|t| !t.is_empty()))
            }
            _ => false,
        };
        if !valid {
            return Err(ServiceError::invalid(
                format!("initial_events[{i}].content"),
                "content must be a non-empty string or a non-empty list of content blocks, each an object with a type",
            ));
        }
        out.push(StoredEvent { kind, content });
    }
    Ok(out)
}

pub(super) fn vault_ids(ids: &[String]) -> ServiceResult<Vec<String>> {
    if ids.len() > MAX_VAULT_IDS {
        return Err(ServiceError::invalid(
            "vault_ids",
            format!(
                "vault_ids may hold at most {MAX_VAULT_IDS} ids, got {}",
                ids.len()
            ),
        ));
    }
    if let Some(i) = ids.iter().position(|id| {
        id.is_empty() || id.chars().count() > 256 || id.chars().any(char::is_control)
    }) {
        return Err(ServiceError::invalid(
            format!("vault_ids[{i}]"),
            "vault ids must be 1 to 256 characters, none of them a control character",
        ));
    }
    Ok(ids.to_vec())
}

pub(super) fn max_concurrent(v: i32) -> ServiceResult<i32> {
    in_range("config.max_concurrent", i64::from(v), 1, 100).map(|_| v)
}

pub(super) fn max_retries(v: i32) -> ServiceResult<i32> {
    in_range("config.max_retries", i64::from(v), 0, 10).map(|_| v)
}

pub(super) fn max_consecutive_failures(v: Option<i32>) -> ServiceResult<Option<i32>> {
    match v {
        Some(v) => {
            in_range("config.max_consecutive_failures", i64::from(v), 1, 1000).map(|_| Some(v))
        }
        None => Ok(None),
    }
}

pub(super) fn timeout_ms(v: i64) -> ServiceResult<i64> {
    in_range("config.timeout_ms", v, 1000, 86_400_000).map(|_| v)
}

fn in_range(param: &str, v: i64, min: i64, max: i64) -> ServiceResult<()> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            param,
            format!("{param} must be between {min} and {max}, got {v}"),
        ))
    }
}

/// A deployment's own retention rules, checked; `None`: its
/// organization's policy.
pub(super) fn own_retention(
    rules: Option<&runway_api::v1::RetentionRules>,
) -> ServiceResult<Option<RetentionRules>> {
    rules
        .map(|r| retention::check("retention.", convert::retention_rules_from(r)))
        .transpose()
}

/// The session strategy; proto's UNSPECIFIED (0) means the default.
pub(super) fn session_strategy(v: i32) -> ServiceResult<SessionStrategy> {
    if v == 0 {
        return Ok(SessionStrategy::NewSession);
    }
    SessionStrategy::from_proto(v).ok_or_else(|| {
        ServiceError::invalid(
            "session_strategy",
            format!("session_strategy must be {}", SessionStrategy::expected()),
        )
    })
}

/// A schedule's expression and zone, validated, or `None` for no schedule.
pub(super) fn schedule(
    s: Option<&Schedule>,
) -> ServiceResult<Option<(String, String, CronSchedule)>> {
    let Some(s) = s else { return Ok(None) };
    // Proto's UNSPECIFIED (0) means the default, cron.
    if s.r#type != 0 && ScheduleType::from_proto(s.r#type).is_none() {
        return Err(ServiceError::invalid(
            "schedule.type",
            format!("schedule.type must be {}", ScheduleType::expected()),
        ));
    }
    // Unset (proto3: empty) means UTC, as REST's absent `timezone` does.
    let timezone = if s.timezone.is_empty() {
        runway_api::DEFAULT_TIMEZONE
    } else {
        s.timezone.as_str()
    };
    let parsed = CronSchedule::parse_new(&s.expression, timezone)?;
    Ok(Some((s.expression.clone(), timezone.to_string(), parsed)))
}
