//! The closed sets of sessions and their transcripts.

use super::InitialEventType;

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

impl EventType {
    /// Whether a runner may record this type: the agent's side of the
    /// transcript (`agent.*`, `span.*`). What users say (`user.*`), the
    /// deployment's `system.message` and the server's `session.status_*`
    /// come from elsewhere; a runner recording them would put words in
    /// another's mouth.
    pub fn runner_may_record(self) -> bool {
        matches!(
            self,
            EventType::SpanModelRequestStart
                | EventType::SpanModelRequestEnd
                | EventType::AgentThinking
                | EventType::AgentMessage
                | EventType::AgentToolUse
                | EventType::AgentToolResult
                | EventType::AgentCustomToolUse
                | EventType::AgentArtifactDelivered
        )
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

impl InitialEventType {
    /// The initial event type `kind` is, if it is one.
    pub fn of_event(kind: EventType) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|initial| EventType::from(*initial) == kind)
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
