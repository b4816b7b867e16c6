//! An immutable snapshot of an agent at one version, as deployments pin it.

use std::collections::BTreeMap;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::entity::agent;
use crate::json_text::JsonText;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub agent_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    pub org_id: String,
    #[sea_orm(column_type = "Text")]
    pub snapshot: JsonText<AgentSnapshot>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The editable fields of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFields {
    pub name: String,
    pub description: Option<String>,
    pub model: String,
    pub system: Option<String>,
    pub instructions: Option<String>,
    /// Tool objects.
    pub tools: Vec<serde_json::Map<String, serde_json::Value>>,
    pub metadata: BTreeMap<String, String>,
}

impl AgentFields {
    /// The fields of a stored agent row.
    pub fn of(row: &agent::Model) -> AgentFields {
        AgentFields {
            name: row.name.clone(),
            description: row.description.clone(),
            model: row.model.clone(),
            system: row.system.clone(),
            instructions: row.instructions.clone(),
            tools: row.tools.0.clone(),
            metadata: row.metadata.0.clone(),
        }
    }
}

/// One version of an agent as sessions run it (stored in `agent_versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    pub id: String,
    pub version: i32,
    #[serde(flatten)]
    pub fields: AgentFields,
}
