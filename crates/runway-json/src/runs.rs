//! Runs, and the sessions they execute in, as the REST API renders them.

use runway_api::enums::{RunErrorType, RunStatus, SessionStatus, TriggerType};
use runway_api::v1;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    AgentJson, AgentRefJson, DeploymentRunTag, SessionTag, agent, agent_ref, member, ts,
    ts_or_empty,
};

/// What caused a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TriggerContext)]
pub struct TriggerContextJson {
    /// For a retry: the run it retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^drun_[0-9a-f]{32}$")]
    pub retry_of: Option<String>,
    #[serde(rename = "type")]
    pub kind: TriggerType,
}

/// Why a run failed or was skipped.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = RunError)]
pub struct RunErrorJson {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: RunErrorType,
}

/// Run details of runway's execution model.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CasRunExtras)]
pub struct CasRunExtrasJson {
    /// 1 for the first attempt; a retry has its predecessor's + 1.
    #[schema(minimum = 1)]
    pub attempt: i32,
    /// Present once the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub started_at: Option<String>,
    /// Present once the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^turn_[0-9a-f]{32}$")]
    pub turn_id: Option<String>,
    /// The runner that claimed the run, as it named itself; present once
    /// a runner claimed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub runner_name: Option<String>,
}

/// A deployment run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DeploymentRun)]
pub struct RunJson {
    pub agent: AgentRefJson,
    pub cas_run_extras: CasRunExtrasJson,
    /// Present once terminal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(pattern = "^dep_[0-9a-f]{32}$")]
    pub deployment_id: String,
    /// Present once completed or failed after starting.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0)]
    pub duration_ms: Option<i64>,
    /// Why the run failed or was skipped; null otherwise.
    #[schema(required = true)]
    pub error: Option<RunErrorJson>,
    #[schema(pattern = "^drun_[0-9a-f]{32}$")]
    pub id: String,
    /// Present once the session is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^sess_[0-9a-f]{32}$")]
    pub session_id: Option<String>,
    pub status: RunStatus,
    pub trigger_context: TriggerContextJson,
    #[schema(format = DateTime)]
    pub triggered_at: String,
    #[serde(rename = "type")]
    pub kind: DeploymentRunTag,
}

pub fn run(r: v1::DeploymentRun) -> RunJson {
    // Taken by value: a page's strings move into the JSON shape uncopied.
    let context = r.trigger_context.unwrap_or_default();
    let extras = r.cas_run_extras.unwrap_or_default();
    RunJson {
        agent: agent_ref(r.agent),
        cas_run_extras: CasRunExtrasJson {
            attempt: extras.attempt,
            started_at: ts(extras.started_at.as_ref()),
            turn_id: extras.turn_id,
            runner_name: extras.runner_name,
        },
        completed_at: ts(r.completed_at.as_ref()),
        created_at: ts_or_empty(r.created_at.as_ref()),
        deployment_id: r.deployment_id,
        duration_ms: r.duration_ms,
        error: r.error.map(|e| RunErrorJson {
            kind: RunErrorType::from_name(&e.r#type).unwrap_or(RunErrorType::ALL[0]),
            message: e.message,
        }),
        id: r.id,
        session_id: r.session_id,
        status: member(r.status, RunStatus::from_proto, RunStatus::ALL),
        trigger_context: TriggerContextJson {
            retry_of: context.retry_of,
            kind: member(context.r#type, TriggerType::from_proto, TriggerType::ALL),
        },
        triggered_at: ts_or_empty(r.triggered_at.as_ref()),
        kind: DeploymentRunTag,
    }
}

/// The session a started run executes in.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionJson {
    /// The agent version the session runs.
    pub agent: AgentJson,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(pattern = "^drun_[0-9a-f]{32}$")]
    pub deployment_run_id: String,
    #[schema(pattern = "^env_[0-9a-f]{32}$")]
    pub environment_id: String,
    #[schema(pattern = "^sess_[0-9a-f]{32}$")]
    pub id: String,
    pub status: SessionStatus,
    #[serde(rename = "type")]
    pub kind: SessionTag,
}

pub fn session(s: &v1::Session) -> SessionJson {
    let status = member(s.status, SessionStatus::from_proto, SessionStatus::ALL);
    SessionJson {
        agent: agent(&s.agent.clone().unwrap_or_default()),
        created_at: ts_or_empty(s.created_at.as_ref()),
        deployment_run_id: s.deployment_run_id.clone(),
        environment_id: s.environment_id.clone(),
        id: s.id.clone(),
        status,
        kind: SessionTag,
    }
}
