//! The closed sets of deployments, their runs and environments.

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
    /// Which way a list reads.
    pub enum SortOrder: proto SortOrder {
        /// Oldest first.
        Asc = "asc",
        /// Newest first.
        Desc = "desc",
    }
}
