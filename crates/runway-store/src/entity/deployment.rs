//! A deployment: its configuration, status, schedule and stats.

use std::collections::BTreeMap;

use runway_api::enums::{DeploymentStatus, InitialEventType, PausedReasonType, SessionStrategy};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::json_text::JsonText;

/// An event every run of the deployment starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialEvent {
    #[serde(rename = "type")]
    pub kind: InitialEventType,
    /// A string, or a list of content blocks.
    pub content: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub agent_id: String,
    pub agent_version: i32,
    pub environment_id: String,
    #[sea_orm(column_type = "Text")]
    pub initial_events: JsonText<Vec<InitialEvent>>,
    pub schedule_expression: Option<String>,
    pub schedule_timezone: Option<String>,
    /// When the schedule last fired.
    pub last_run_at: Option<i64>,
    /// When the schedule fires next (null: no schedule, paused or archived).
    pub next_fire_at: Option<i64>,
    pub status: DeploymentStatus,
    /// Null when active.
    pub paused_reason: Option<PausedReasonType>,
    pub archived_at: Option<i64>,
    /// Resource objects, each with a `type`.
    #[sea_orm(column_type = "Text")]
    pub resources: JsonText<Vec<serde_json::Map<String, serde_json::Value>>>,
    #[sea_orm(column_type = "Text")]
    pub vault_ids: JsonText<Vec<String>>,
    /// The user's metadata keys (never `cas_config`).
    #[sea_orm(column_type = "Text")]
    pub metadata: JsonText<BTreeMap<String, String>>,
    pub max_concurrent: i32,
    pub max_retries: i32,
    /// Failed runs in a row after which the service pauses it; null: never.
    pub max_consecutive_failures: Option<i32>,
    pub timeout_ms: i64,
    pub session_strategy: SessionStrategy,
    pub total_runs: i64,
    pub total_failures: i64,
    pub consecutive_failures: i64,
    pub last_triggered_at: Option<i64>,
    /// Scheduled instants that passed while nothing fired (downtime), in all.
    pub missed_fires: i64,
    /// Its pending and running runs: the concurrency slots taken. Changed in
    /// the same transaction as every run that takes or gives back a slot.
    pub active_runs: i64,
    /// Its own retention rules; null: its organization's policy.
    #[sea_orm(column_type = "Text", nullable)]
    pub retention: Option<JsonText<super::organization::RetentionRules>>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
