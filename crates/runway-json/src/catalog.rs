//! Agents and environments as the REST API renders them.

use std::collections::BTreeMap;

use runway_api::enums::EnvironmentStatus;
use runway_api::v1;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::{AgentTag, EnvironmentTag, member, objects, ts, ts_or_empty};

/// An agent at its latest version.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Agent)]
pub struct AgentJson {
    #[schema(required = true, format = DateTime)]
    pub archived_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(pattern = "^agent_[0-9a-f]{32}$")]
    pub id: String,
    #[schema(required = true)]
    pub instructions: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub model: String,
    pub name: String,
    #[schema(required = true)]
    pub system: Option<String>,
    #[schema(schema_with = crate::typed_objects)]
    pub tools: Vec<Map<String, Value>>,
    #[serde(rename = "type")]
    pub kind: AgentTag,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(minimum = 1)]
    pub version: i32,
}

pub fn agent(a: &v1::Agent) -> AgentJson {
    AgentJson {
        archived_at: ts(a.archived_at.as_ref()),
        created_at: ts_or_empty(a.created_at.as_ref()),
        description: a.description.clone(),
        id: a.id.clone(),
        instructions: a.instructions.clone(),
        metadata: a.metadata.clone(),
        model: a.model.clone(),
        name: a.name.clone(),
        system: a.system.clone(),
        tools: objects(&a.tools),
        kind: AgentTag,
        updated_at: ts_or_empty(a.updated_at.as_ref()),
        version: a.version,
    }
}

/// An environment: the pool of runners that execute its runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Environment)]
pub struct EnvironmentJson {
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(pattern = "^env_[0-9a-f]{32}$")]
    pub id: String,
    pub name: String,
    pub status: EnvironmentStatus,
    #[serde(rename = "type")]
    pub kind: EnvironmentTag,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

pub fn environment(e: &v1::Environment) -> EnvironmentJson {
    let status = member(
        e.status,
        EnvironmentStatus::from_proto,
        EnvironmentStatus::ALL,
    );
    EnvironmentJson {
        created_at: ts_or_empty(e.created_at.as_ref()),
        description: e.description.clone(),
        id: e.id.clone(),
        name: e.name.clone(),
        status,
        kind: EnvironmentTag,
        updated_at: ts_or_empty(e.updated_at.as_ref()),
    }
}
