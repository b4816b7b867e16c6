//! The one error type of the services, mapped to `tonic::Status` once, with
//! a `google.rpc.ErrorInfo` always and a `google.rpc.BadRequest` for field
//! errors.

use std::collections::HashMap;

use runway_api::ERROR_DOMAIN;
pub use runway_api::enums::ErrorReason as Reason;
use runway_api::enums::{RunErrorType, RunStatus};
use runway_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The kinds of resources a NOT_FOUND names: the word in its message and
/// its `ErrorInfo.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Deployment,
    DeploymentRun,
    Agent,
    AgentVersion,
    Environment,
    Session,
    WebhookEndpoint,
    WebhookDelivery,
    Token,
}

impl ResourceKind {
    /// Every kind, for tests that walk them all.
    pub const ALL: [ResourceKind; 9] = [
        ResourceKind::Deployment,
        ResourceKind::DeploymentRun,
        ResourceKind::Agent,
        ResourceKind::AgentVersion,
        ResourceKind::Environment,
        ResourceKind::Session,
        ResourceKind::WebhookEndpoint,
        ResourceKind::WebhookDelivery,
        ResourceKind::Token,
    ];

    /// The kind as a message names it (`Deployment run dep_… not found`).
    pub const fn label(self) -> &'static str {
        match self {
            ResourceKind::Deployment => "Deployment",
            ResourceKind::DeploymentRun => "Deployment run",
            ResourceKind::Agent => "Agent",
            ResourceKind::AgentVersion => "Agent version",
            ResourceKind::Environment => "Environment",
            ResourceKind::Session => "Session",
            ResourceKind::WebhookEndpoint => "Webhook endpoint",
            ResourceKind::WebhookDelivery => "Webhook delivery",
            ResourceKind::Token => "Token",
        }
    }

    /// The `ErrorInfo.reason` of its NOT_FOUND.
    pub const fn not_found_reason(self) -> Reason {
        match self {
            ResourceKind::Deployment => Reason::DeploymentNotFound,
            ResourceKind::DeploymentRun => Reason::DeploymentRunNotFound,
            ResourceKind::Agent => Reason::AgentNotFound,
            ResourceKind::AgentVersion => Reason::AgentVersionNotFound,
            ResourceKind::Environment => Reason::EnvironmentNotFound,
            ResourceKind::Session => Reason::SessionNotFound,
            ResourceKind::WebhookEndpoint => Reason::WebhookEndpointNotFound,
            ResourceKind::WebhookDelivery => Reason::WebhookDeliveryNotFound,
            ResourceKind::Token => Reason::TokenNotFound,
        }
    }
}

/// Everything an RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No token, a malformed one, or one nobody issued.
    #[error("Invalid API key or token.")]
    Unauthenticated,
    /// The request is malformed; `param` names the field to blame, if one is.
    #[error("{message}")]
    InvalidArgument {
        param: Option<String>,
        reason: Reason,
        message: String,
    },
    /// The token may not make this call (its scope, or a runner token's
    /// environments).
    #[error("{message}")]
    PermissionDenied { reason: Reason, message: String },
    /// The resource does not exist in the caller's organization.
    #[error("{} {id} not found", kind.label())]
    NotFound {
        kind: ResourceKind,
        id: String,
        param: &'static str,
    },
    /// The resource is in a state that forbids the call (paused, archived…).
    #[error("{message}")]
    FailedPrecondition { reason: Reason, message: String },
    /// A concurrent request holds what this one needs; retry later.
    #[error("{message}")]
    Aborted { reason: Reason, message: String },
    /// The token's requests exceed its rate limit; the next one is allowed
    /// after `retry_after`.
    #[error("Too many requests for this token: retry in {:.3} s.", retry_after.as_secs_f64())]
    RateLimited { retry_after: std::time::Duration },
    /// A runner's call under a lease the run no longer holds; `ended` says
    /// how the run ended, when it did and the token may see it (a report
    /// whose answer was lost, resent: the runner learns it was recorded).
    #[error("{}", not_leased_message(run_id, *ended))]
    RunNotLeased {
        run_id: String,
        ended: Option<(RunStatus, Option<RunErrorType>)>,
    },
    /// The server is stopping; an open stream ends with this.
    #[error("{}", runway_api::error_code::SHUTTING_DOWN_MESSAGE)]
    ShuttingDown,
    /// The database did not answer in time; the details go to the log.
    #[error("The database did not answer this server in time; retry (here or on another replica).")]
    DatabaseUnavailable(String),
    /// A bug or an outage; the details go to the log, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

fn not_leased_message(run_id: &str, ended: Option<(RunStatus, Option<RunErrorType>)>) -> String {
    let how = match ended {
        None => String::new(),
        Some((status, None)) => format!(": it is {status}"),
        Some((status, Some(error))) => format!(": it is {status} ({error})"),
    };
    format!(
        "Run {run_id} is no longer running under this lease{how}; stop its work and report nothing."
    )
}

impl ServiceError {
    /// A field error.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::InvalidArgument {
            param: Some(param.into()),
            reason: Reason::InvalidField,
            message: message.into(),
        }
    }

    /// A request error no single field is to blame for.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ServiceError::InvalidArgument {
            param: None,
            reason: Reason::InvalidRequest,
            message: message.into(),
        }
    }

    /// No `kind` called `id` in the caller's organization; `param` names
    /// the request field that carried the id.
    pub fn not_found(kind: ResourceKind, id: impl Into<String>, param: &'static str) -> Self {
        ServiceError::NotFound {
            kind,
            id: id.into(),
            param,
        }
    }

    /// A conflict with the resource's state.
    pub fn precondition(reason: Reason, message: impl Into<String>) -> Self {
        ServiceError::FailedPrecondition {
            reason,
            message: message.into(),
        }
    }

    fn code(&self) -> Code {
        match self {
            ServiceError::Unauthenticated => Code::Unauthenticated,
            ServiceError::InvalidArgument { .. } => Code::InvalidArgument,
            ServiceError::PermissionDenied { .. } => Code::PermissionDenied,
            ServiceError::NotFound { .. } => Code::NotFound,
            ServiceError::FailedPrecondition { .. } => Code::FailedPrecondition,
            ServiceError::Aborted { .. } => Code::Aborted,
            ServiceError::RateLimited { .. } => Code::ResourceExhausted,
            ServiceError::RunNotLeased { .. } => Code::FailedPrecondition,
            ServiceError::ShuttingDown | ServiceError::DatabaseUnavailable(_) => Code::Unavailable,
            ServiceError::Internal(_) => Code::Internal,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            // Only reaches a client if a replay could not be resolved.
            StoreError::IdempotencyKeyTaken => ServiceError::Aborted {
                reason: Reason::IdempotencyKeyInFlight,
                message: "A request with this Idempotency-Key is still in progress.".into(),
            },
            other if other.is_unavailable() => ServiceError::DatabaseUnavailable(other.to_string()),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Status {
        let code = err.code();
        let mut metadata = HashMap::new();
        let mut details = ErrorDetails::new();
        let (reason, message) = match &err {
            ServiceError::Unauthenticated => (Reason::InvalidToken, err.to_string()),
            ServiceError::InvalidArgument {
                param,
                reason,
                message,
            } => {
                if let Some(param) = param {
                    metadata.insert("param".to_string(), param.clone());
                    details.add_bad_request_violation(param.clone(), message.clone());
                }
                (*reason, message.clone())
            }
            ServiceError::NotFound { kind, id, param } => {
                metadata.insert("param".to_string(), param.to_string());
                metadata.insert("id".to_string(), id.clone());
                (kind.not_found_reason(), err.to_string())
            }
            ServiceError::FailedPrecondition { reason, message }
            | ServiceError::Aborted { reason, message }
            | ServiceError::PermissionDenied { reason, message } => (*reason, message.clone()),
            ServiceError::RateLimited { retry_after } => {
                details.set_retry_info(Some(*retry_after));
                (Reason::RateLimited, err.to_string())
            }
            ServiceError::RunNotLeased { ended, .. } => {
                if let Some((status, error)) = ended {
                    metadata.insert("status".to_string(), status.name().to_string());
                    if let Some(error) = error {
                        metadata.insert("error_type".to_string(), error.name().to_string());
                    }
                }
                (Reason::RunNotLeased, err.to_string())
            }
            ServiceError::ShuttingDown => (Reason::ShuttingDown, err.to_string()),
            ServiceError::DatabaseUnavailable(detail) => {
                tracing::warn!(error = %detail, "the database did not answer");
                (Reason::DatabaseUnavailable, err.to_string())
            }
            ServiceError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    Reason::Internal,
                    "An internal error occurred; it has been logged.".to_string(),
                )
            }
        };
        details.set_error_info(reason.name(), ERROR_DOMAIN, metadata);
        Status::with_error_details(code, message, details)
    }
}

/// The result of every service function.
pub type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use runway_store::StoreError;
    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
    use tonic_types::StatusExt;

    use super::*;

    fn status_of(err: DbErr) -> Status {
        Status::from(ServiceError::from(StoreError::Database(err)))
    }

    #[test]
    fn a_database_that_does_not_answer_is_unavailable_and_a_failed_statement_internal() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for unreachable in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(
                sea_orm::sqlx::Error::Io(io),
            ))),
        ] {
            let status = status_of(unreachable);
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            assert_eq!(
                status.get_error_details().error_info().unwrap().reason,
                "DATABASE_UNAVAILABLE"
            );
            assert_eq!(
                status.message(),
                "The database did not answer this server in time; retry (here or on another replica)."
            );
        }
        let refused = status_of(DbErr::Custom("no such column".into()));
        assert_eq!(refused.code(), Code::Internal);
        assert_eq!(
            refused.message(),
            "An internal error occurred; it has been logged."
        );
    }
}
