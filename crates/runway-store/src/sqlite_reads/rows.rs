//! [`SqliteRow`]: the models the inline reads decode, column by column.
//!
//! Each decoder names every field of its model (a struct literal: a field
//! added to the entity does not compile until it is decoded here) and reads
//! it at its column's position in the entity, which `check_columns` holds
//! the statement to. The test `inline_reads_decode_what_sea_orm_decodes`
//! (tests/repository) compares both decodings of fully populated rows.

use std::str::FromStr;

use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, Type};
use serde::de::DeserializeOwned;

use crate::entity::{deployment, deployment_run};
use crate::json_text::JsonText;

/// A model read from a SQLite row whose columns are its entity's, in order.
pub trait SqliteRow: Sized {
    fn decode(row: &Row<'_>) -> rusqlite::Result<Self>;
}

impl SqliteRow for deployment::Model {
    fn decode(row: &Row<'_>) -> rusqlite::Result<Self> {
        use deployment::Column as C;
        Ok(Self {
            id: value(row, C::Id as usize)?,
            org_id: value(row, C::OrgId as usize)?,
            name: value(row, C::Name as usize)?,
            description: value(row, C::Description as usize)?,
            agent_id: value(row, C::AgentId as usize)?,
            agent_version: value(row, C::AgentVersion as usize)?,
            environment_id: value(row, C::EnvironmentId as usize)?,
            initial_events: json(row, C::InitialEvents as usize)?,
            schedule_expression: value(row, C::ScheduleExpression as usize)?,
            schedule_timezone: value(row, C::ScheduleTimezone as usize)?,
            last_run_at: value(row, C::LastRunAt as usize)?,
            next_fire_at: value(row, C::NextFireAt as usize)?,
            status: named(row, C::Status as usize)?,
            paused_reason: optional(row, C::PausedReason as usize, named)?,
            archived_at: value(row, C::ArchivedAt as usize)?,
            resources: json(row, C::Resources as usize)?,
            vault_ids: json(row, C::VaultIds as usize)?,
            metadata: json(row, C::Metadata as usize)?,
            max_concurrent: value(row, C::MaxConcurrent as usize)?,
            max_retries: value(row, C::MaxRetries as usize)?,
            max_consecutive_failures: value(row, C::MaxConsecutiveFailures as usize)?,
            timeout_ms: value(row, C::TimeoutMs as usize)?,
            session_strategy: named(row, C::SessionStrategy as usize)?,
            total_runs: value(row, C::TotalRuns as usize)?,
            total_failures: value(row, C::TotalFailures as usize)?,
            consecutive_failures: value(row, C::ConsecutiveFailures as usize)?,
            last_triggered_at: value(row, C::LastTriggeredAt as usize)?,
            missed_fires: value(row, C::MissedFires as usize)?,
            active_runs: value(row, C::ActiveRuns as usize)?,
            retention: optional(row, C::Retention as usize, json)?,
            created_at: value(row, C::CreatedAt as usize)?,
            updated_at: value(row, C::UpdatedAt as usize)?,
        })
    }
}

impl SqliteRow for deployment_run::Model {
    fn decode(row: &Row<'_>) -> rusqlite::Result<Self> {
        use deployment_run::Column as C;
        Ok(Self {
            id: value(row, C::Id as usize)?,
            org_id: value(row, C::OrgId as usize)?,
            deployment_id: value(row, C::DeploymentId as usize)?,
            agent_id: value(row, C::AgentId as usize)?,
            agent_version: value(row, C::AgentVersion as usize)?,
            status: named(row, C::Status as usize)?,
            error_type: optional(row, C::ErrorType as usize, named)?,
            error_message: value(row, C::ErrorMessage as usize)?,
            trigger_type: named(row, C::TriggerType as usize)?,
            retry_of: value(row, C::RetryOf as usize)?,
            scheduled_for: value(row, C::ScheduledFor as usize)?,
            attempt: value(row, C::Attempt as usize)?,
            session_id: value(row, C::SessionId as usize)?,
            turn_id: value(row, C::TurnId as usize)?,
            started_at: value(row, C::StartedAt as usize)?,
            completed_at: value(row, C::CompletedAt as usize)?,
            duration_ms: value(row, C::DurationMs as usize)?,
            triggered_at: value(row, C::TriggeredAt as usize)?,
            created_at: value(row, C::CreatedAt as usize)?,
            environment_id: value(row, C::EnvironmentId as usize)?,
            timeout_ms: value(row, C::TimeoutMs as usize)?,
            lease_id: value(row, C::LeaseId as usize)?,
            lease_expires_at: value(row, C::LeaseExpiresAt as usize)?,
            claimed_at: value(row, C::ClaimedAt as usize)?,
            runner_name: value(row, C::RunnerName as usize)?,
            start_after: value(row, C::StartAfter as usize)?,
        })
    }
}

/// A plain column (text, integer, or either as an `Option`).
fn value<T: FromSql>(row: &Row<'_>, column: usize) -> rusqlite::Result<T> {
    row.get(column)
}

/// `None` for NULL, else what `decode` makes of the column.
fn optional<T>(
    row: &Row<'_>,
    column: usize,
    decode: fn(&Row<'_>, usize) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    if row.get_ref(column)?.data_type() == Type::Null {
        Ok(None)
    } else {
        decode(row, column).map(Some)
    }
}

/// A member of a closed set, stored by its name.
fn named<T>(row: &Row<'_>, column: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text = row
        .get_ref(column)?
        .as_str()
        .map_err(|e| failed(column, e))?;
    text.parse()
        .map_err(|e| failed(column, FromSqlError::Other(Box::new(e))))
}

/// A [`JsonText`] column.
fn json<T: DeserializeOwned>(row: &Row<'_>, column: usize) -> rusqlite::Result<JsonText<T>> {
    let text = row
        .get_ref(column)?
        .as_str()
        .map_err(|e| failed(column, e))?;
    serde_json::from_str(text)
        .map(JsonText)
        .map_err(|e| failed(column, FromSqlError::Other(Box::new(e))))
}

fn failed(column: usize, err: FromSqlError) -> rusqlite::Error {
    let source: Box<dyn std::error::Error + Send + Sync> = match err {
        FromSqlError::Other(source) => source,
        other => Box::new(other),
    };
    rusqlite::Error::FromSqlConversionFailure(column, Type::Text, source)
}
