//! Every closed set of names the API uses — statuses, trigger types, error
//! types — each one Rust type, defined once here. Each type knows its JSON
//! name (which is also its stored form), its proto enum where the proto has
//! one, its serde form, its OpenAPI enum (feature `openapi`) and its
//! database column type (feature `sea-orm`); nothing else spells the names.

use crate::v1;

/// A name that is not in a closed set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The name that was given.
    pub given: String,
    /// The names the set holds.
    pub expected: &'static [&'static str],
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not one of {}",
            self.given,
            one_of(self.expected)
        )
    }
}

impl std::error::Error for UnknownName {}

/// `a, b or c`: the names of a set, as messages list them.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: proto $proto:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        closed_set! {
            $(#[$meta])*
            pub enum $name { $( $(#[$vmeta])* $variant = $wire ),+ }
        }

        impl From<$name> for v1::$proto {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => v1::$proto::$variant ),+
                }
            }
        }

        impl $name {
            /// The proto enum's number.
            pub fn to_proto(self) -> i32 {
                v1::$proto::from(self) as i32
            }

            /// The member a proto enum number stands for; `None` for
            /// `…_UNSPECIFIED` and numbers this build does not know.
            pub fn from_proto(number: i32) -> Option<Self> {
                match v1::$proto::try_from(number) {
                    $( Ok(v1::$proto::$variant) => Some($name::$variant), )+
                    _ => None,
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "sea-orm", derive(sea_orm::DeriveValueType))]
        #[cfg_attr(feature = "sea-orm", sea_orm(value_type = "String"))]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every member's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The name: the JSON value, and the stored one.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire ),+
                }
            }

            /// The member called `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $wire => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// `a, b or c`, for messages.
            pub fn expected() -> String {
                one_of(Self::NAMES)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                Self::from_name(s).ok_or_else(|| UnknownName {
                    given: s.to_string(),
                    expected: Self::NAMES,
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "one of {}", $name::expected())
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_name(v).ok_or_else(|| {
                            E::custom(format_args!(
                                "{v:?} is not one of {}",
                                $name::expected()
                            ))
                        })
                    }
                }
                d.deserialize_str(Visitor)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::NAMES.iter().copied()))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

    };
}

closed_set! {
    /// Where a run is in its life.
    pub enum RunStatus: proto DeploymentRunStatus {
        /// Recorded, no session yet (e.g. a retry waiting for its backoff).
        Pending = "pending",
        /// Session and turn created; a runner executes it.
        Running = "running",
        /// Finished successfully.
        Completed = "completed",
        /// Finished with an error.
        Failed = "failed",
        /// Recorded but never started (e.g. at the concurrency limit).
        Skipped = "skipped",
    }
}

impl RunStatus {
    /// The statuses that hold one of the deployment's concurrency slots.
    pub const ACTIVE: [RunStatus; 2] = [RunStatus::Pending, RunStatus::Running];

    /// True while the run holds a concurrency slot (pending or running).
    pub const fn is_active(self) -> bool {
        matches!(self, RunStatus::Pending | RunStatus::Running)
    }
}

closed_set! {
    /// Whether a deployment takes triggers (archiving is separate).
    pub enum DeploymentStatus: proto DeploymentStatus {
        /// Takes manual and scheduled triggers.
        Active = "active",
        /// Triggers are refused and schedules do not fire.
        Paused = "paused",
    }
}

closed_set! {
    /// What caused a run.
    pub enum TriggerType: proto TriggerType {
        /// `POST /deployments/{id}/run` (RunDeployment).
        Manual = "manual",
        /// The deployment's schedule.
        Schedule = "schedule",
        /// A retry of a failed run.
        Retry = "retry",
    }
}

closed_set! {
    /// Why a run failed or was skipped (`error.type` of a run).
    pub enum RunErrorType {
        /// Recorded `skipped`: the deployment had `max_concurrent` runs in flight.
        ConcurrencyLimit = "concurrency_limit_error",
        /// Not claimed, or not finished, within `timeout_ms`.
        Timeout = "timeout_error",
        /// The agent failed (a non-zero exit).
        Agent = "agent_error",
        /// The runner executing it stopped heartbeating.
        RunnerLost = "runner_lost_error",
        /// Canceled by a user.
        Canceled = "canceled_error",
        /// A retry whose deployment was archived before it started.
        DeploymentArchived = "deployment_archived_error",
        /// A retry whose deployment was paused before it started.
        DeploymentPaused = "deployment_paused_error",
        /// Recorded `skipped` for scheduled instants that passed while no
        /// scheduler ran (downtime); the message says how many and when.
        ScheduleMissed = "schedule_missed_error",
    }
}

closed_set! {
    /// Where a session is in its life: `idle → processing → (canceling →)
    /// idle`, and `archived`.
    pub enum SessionStatus: proto SessionStatus {
        /// Not working on a turn: its run ended.
        Idle = "idle",
        /// Working on a turn: its run is executing.
        Processing = "processing",
        /// Stopping its turn after an interrupt. runway stops a turn at once
        /// (the run fails `canceled_error` in the same transaction), so a
        /// deployment session passes through it without resting there.
        Canceling = "canceling",
        /// Archived: it takes no more events.
        Archived = "archived",
    }
}

closed_set! {
    /// The kind of an event a run starts with.
    pub enum InitialEventType: proto InitialEventType {
        /// A message from the user.
        UserMessage = "user.message",
        /// The outcome the user wants.
        UserDefineOutcome = "user.define_outcome",
        /// A system message.
        SystemMessage = "system.message",
    }
}

closed_set! {
    /// The kind of a schedule.
    pub enum ScheduleType: proto ScheduleType {
        /// A 5-field cron expression in an IANA time zone.
        Cron = "cron",
    }
}

closed_set! {
    /// Why a deployment is paused.
    pub enum PausedReasonType: proto PausedReasonType {
        /// Paused by a user (`POST /deployments/{id}/pause`).
        Manual = "manual",
        /// Paused by the service: `max_consecutive_failures` runs failed in a row.
        ConsecutiveFailures = "consecutive_failures",
    }
}

closed_set! {
    /// How a deployment's runs get their sessions.
    pub enum SessionStrategy: proto SessionStrategy {
        /// Every run starts a new session.
        NewSession = "new_session",
    }
}

closed_set! {
    /// Whether an environment takes new deployments.
    pub enum EnvironmentStatus: proto EnvironmentStatus {
        /// In use.
        Ready = "ready",
        /// Archived: no new deployments may use it.
        Archived = "archived",
    }
}

closed_set! {
    /// The `error.type` of the REST error envelope.
    pub enum ApiErrorType {
        /// 400 (and 405, 431): the request is malformed.
        InvalidRequest = "invalid_request_error",
        /// 401: no valid token.
        Authentication = "authentication_error",
        /// 403: the token may not do this.
        Permission = "permission_error",
        /// 404: no such resource in the caller's organization.
        NotFound = "not_found_error",
        /// 409: the resource's state forbids the call.
        Conflict = "conflict_error",
        /// 429: too many requests.
        RateLimit = "rate_limit_error",
        /// 500, 504: the service failed.
        Api = "api_error",
        /// 501: not implemented.
        FeatureNotAvailable = "feature_not_available",
        /// 503: the service cannot answer now.
        Overloaded = "overloaded_error",
    }
}

closed_set! {
    /// The kind of a session event: the catalog a transcript is made of.
    pub enum EventType: proto SessionEventType {
        /// A message from the user.
        UserMessage = "user.message",
        /// The user stops the running turn.
        UserInterrupt = "user.interrupt",
        /// The outcome the user wants.
        UserDefineOutcome = "user.define_outcome",
        /// A system message.
        SystemMessage = "system.message",
        /// The session started working on a turn.
        SessionStatusRunning = "session.status_running",
        /// The session stopped working (with a `stop_reason`).
        SessionStatusIdle = "session.status_idle",
        /// A model request began.
        SpanModelRequestStart = "span.model_request_start",
        /// A model request ended (with its `usage`).
        SpanModelRequestEnd = "span.model_request_end",
        /// The agent's reasoning.
        AgentThinking = "agent.thinking",
        /// A message from the agent.
        AgentMessage = "agent.message",
        /// The agent calls a tool.
        AgentToolUse = "agent.tool_use",
        /// A tool's answer, paired with its call by `tool_use_id`.
        AgentToolResult = "agent.tool_result",
        /// The agent calls a custom tool.
        AgentCustomToolUse = "agent.custom_tool_use",
        /// The agent delivered an artifact.
        AgentArtifactDelivered = "agent.artifact_delivered",
    }
}

impl From<InitialEventType> for EventType {
    fn from(kind: InitialEventType) -> Self {
        match kind {
            InitialEventType::UserMessage => EventType::UserMessage,
            InitialEventType::UserDefineOutcome => EventType::UserDefineOutcome,
            InitialEventType::SystemMessage => EventType::SystemMessage,
        }
    }
}

closed_set! {
    /// Which way a list reads.
    pub enum SortOrder: proto SortOrder {
        /// Oldest first.
        Asc = "asc",
        /// Newest first.
        Desc = "desc",
    }
}

closed_set! {
    /// Why a session stopped working (`stop_reason.type` of `session.status_idle`).
    pub enum StopReasonType {
        /// The turn completed.
        EndTurn = "end_turn",
        /// The turn failed and its run is retried (the retry has its own session).
        Error = "error",
        /// The turn failed and no attempt is left.
        RetriesExhausted = "retries_exhausted",
        /// The turn was stopped by a user (cancel or `user.interrupt`).
        Interrupted = "interrupted",
    }
}

closed_set! {
    /// What a webhook tells: the `type` of its event, and what an endpoint
    /// subscribes to.
    pub enum WebhookEventType: proto WebhookEventType {
        /// Every type (a subscription only; no event has it).
        All = "*",
        /// A run started: its session opened and runners may claim it.
        DeploymentRunStarted = "deployment_run.started",
        /// A run completed.
        DeploymentRunCompleted = "deployment_run.completed",
        /// A run failed (a retry, if any, is its own run).
        DeploymentRunFailed = "deployment_run.failed",
        /// A run was recorded `skipped`, or scheduled instants were missed.
        DeploymentRunSkipped = "deployment_run.skipped",
        /// A deployment was paused (by a user, or after consecutive failures).
        DeploymentPaused = "deployment.paused",
        /// A deployment was unpaused.
        DeploymentUnpaused = "deployment.unpaused",
        /// A deployment was archived.
        DeploymentArchived = "deployment.archived",
        /// An endpoint was disabled after failing for too long.
        WebhookEndpointDisabled = "webhook_endpoint.disabled",
        /// A test event (`POST /webhooks/endpoints/{id}/test`), sent only to that endpoint.
        WebhookTest = "webhook.test",
    }
}

closed_set! {
    /// Where a webhook delivery is.
    pub enum WebhookDeliveryStatus: proto WebhookDeliveryStatus {
        /// Not yet answered with a 2xx, and attempts are left.
        Pending = "pending",
        /// An attempt was answered with a 2xx.
        Succeeded = "succeeded",
        /// Every attempt failed.
        Failed = "failed",
    }
}

closed_set! {
    /// Why a webhook endpoint is disabled.
    pub enum WebhookDisabledReason: proto WebhookDisabledReason {
        /// A user set `enabled` to false.
        Manual = "manual",
        /// Its deliveries failed for longer than the service allows.
        Failing = "failing",
    }
}

closed_set! {
    /// What a token may do.
    pub enum TokenScope: proto TokenScope {
        /// Everything, tokens included.
        Admin = "admin",
        /// Every resource but tokens; not RunnerService.
        Write = "write",
        /// Only the calls that read.
        Read = "read",
        /// Only RunnerService, for the environments named on the token.
        Runner = "runner",
    }
}

closed_set! {
    /// `google.rpc.ErrorInfo.reason` of every runway error (domain `runway`):
    /// UPPER_SNAKE, stable, for clients to branch on.
    pub enum ErrorReason {
        /// No token, a malformed one, or one nobody issued.
        InvalidToken = "INVALID_TOKEN",
        /// A field is malformed (the field is in `BadRequest`).
        InvalidField = "INVALID_FIELD",
        /// The request is malformed as a whole.
        InvalidRequest = "INVALID_REQUEST",
        /// No such deployment in the caller's organization.
        DeploymentNotFound = "DEPLOYMENT_NOT_FOUND",
        /// No such run in the caller's organization.
        DeploymentRunNotFound = "DEPLOYMENT_RUN_NOT_FOUND",
        /// No such agent in the caller's organization.
        AgentNotFound = "AGENT_NOT_FOUND",
        /// The agent has no such version.
        AgentVersionNotFound = "AGENT_VERSION_NOT_FOUND",
        /// No such environment in the caller's organization.
        EnvironmentNotFound = "ENVIRONMENT_NOT_FOUND",
        /// No such session in the caller's organization.
        SessionNotFound = "SESSION_NOT_FOUND",
        /// No such event in the session (an `after_id` / `before_id`).
        SessionEventNotFound = "SESSION_EVENT_NOT_FOUND",
        /// A session of this kind does not take events of this type.
        SessionEventNotAccepted = "SESSION_EVENT_NOT_ACCEPTED",
        /// An interrupt of a session that is not working on a turn.
        SessionNotProcessing = "SESSION_NOT_PROCESSING",
        /// The deployment is archived.
        DeploymentArchived = "DEPLOYMENT_ARCHIVED",
        /// The deployment is paused.
        DeploymentPaused = "DEPLOYMENT_PAUSED",
        /// Pause of a paused deployment.
        DeploymentAlreadyPaused = "DEPLOYMENT_ALREADY_PAUSED",
        /// Unpause of a deployment that is not paused.
        DeploymentNotPaused = "DEPLOYMENT_NOT_PAUSED",
        /// Archive of an archived deployment.
        DeploymentAlreadyArchived = "DEPLOYMENT_ALREADY_ARCHIVED",
        /// The agent is archived.
        AgentArchived = "AGENT_ARCHIVED",
        /// Archive of an archived agent.
        AgentAlreadyArchived = "AGENT_ALREADY_ARCHIVED",
        /// The environment is archived.
        EnvironmentArchived = "ENVIRONMENT_ARCHIVED",
        /// Archive of an archived environment.
        EnvironmentAlreadyArchived = "ENVIRONMENT_ALREADY_ARCHIVED",
        /// No such webhook endpoint in the caller's organization.
        WebhookEndpointNotFound = "WEBHOOK_ENDPOINT_NOT_FOUND",
        /// No such webhook delivery in the caller's organization.
        WebhookDeliveryNotFound = "WEBHOOK_DELIVERY_NOT_FOUND",
        /// A webhook URL the service may not call (scheme, or a non-public address).
        WebhookUrlNotAllowed = "WEBHOOK_URL_NOT_ALLOWED",
        /// A test of a disabled endpoint.
        WebhookEndpointDisabled = "WEBHOOK_ENDPOINT_DISABLED",
        /// Redelivery of a delivery that is still being attempted.
        WebhookDeliveryPending = "WEBHOOK_DELIVERY_PENDING",
        /// A replayed creation of a webhook endpoint whose signing secret
        /// was rotated since (the secret is shown once).
        WebhookSecretRotated = "WEBHOOK_SECRET_ROTATED",
        /// Cancel of a run that already ended.
        RunAlreadyTerminal = "RUN_ALREADY_TERMINAL",
        /// A runner's call under a lease it no longer holds.
        RunNotLeased = "RUN_NOT_LEASED",
        /// A request with the same `Idempotency-Key` is still in progress.
        IdempotencyKeyInFlight = "IDEMPOTENCY_KEY_IN_FLIGHT",
        /// The `Idempotency-Key` was used with a different request.
        IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED",
        /// The token made more requests than its rate limit allows; retry
        /// after the `RetryInfo` delay (REST: the `Retry-After` header).
        RateLimited = "RATE_LIMITED",
        /// The token's scope does not allow the call (PERMISSION_DENIED).
        ScopeInsufficient = "SCOPE_INSUFFICIENT",
        /// A runner token named an environment that is not on it
        /// (PERMISSION_DENIED).
        EnvironmentNotAllowed = "ENVIRONMENT_NOT_ALLOWED",
        /// No such token in the caller's organization.
        TokenNotFound = "TOKEN_NOT_FOUND",
        /// The token is revoked already.
        TokenAlreadyRevoked = "TOKEN_ALREADY_REVOKED",
        /// A bug or an outage (details are logged, not returned).
        Internal = "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_every_mapping() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::from_name(status.name()), Some(*status));
            assert_eq!(RunStatus::from_proto(status.to_proto()), Some(*status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, serde_json::json!(status.name()));
            assert_eq!(serde_json::from_value::<RunStatus>(json).unwrap(), *status);
        }
        for kind in InitialEventType::ALL {
            assert_eq!(
                InitialEventType::from_proto(kind.to_proto()),
                Some(*kind),
                "{kind}"
            );
        }
        assert_eq!(RunStatus::from_proto(0), None, "UNSPECIFIED is no status");
        assert_eq!(RunStatus::from_proto(99), None);
    }

    #[test]
    fn unknown_names_are_refused_in_api_words() {
        let err = serde_json::from_value::<TriggerType>(serde_json::json!("cron")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"cron\" is not one of manual, schedule or retry"
        );
        let err = "x".parse::<DeploymentStatus>().unwrap_err();
        assert_eq!(err.to_string(), "\"x\" is not one of active or paused");
        assert_eq!(one_of(&["a"]), "a");
    }

    #[test]
    fn error_reasons_are_upper_snake() {
        for reason in ErrorReason::NAMES {
            assert!(
                !reason.is_empty()
                    && reason.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                    && !reason.starts_with('_')
                    && !reason.ends_with('_'),
                "{reason}"
            );
        }
    }

    #[test]
    fn active_statuses_hold_slots() {
        let active: Vec<_> = RunStatus::ALL
            .iter()
            .filter(|s| s.is_active())
            .copied()
            .collect();
        assert_eq!(active, RunStatus::ACTIVE);
    }
}
