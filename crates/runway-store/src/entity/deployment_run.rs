//! One trigger of a deployment and where it is in its life.

use runway_api::enums::{RunErrorType, RunStatus, TriggerType};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub deployment_id: String,
    pub agent_id: String,
    pub agent_version: i32,
    pub status: RunStatus,
    pub error_type: Option<RunErrorType>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    pub trigger_type: TriggerType,
    pub retry_of: Option<String>,
    /// For scheduled runs, the instant fired: unique per deployment.
    pub scheduled_for: Option<i64>,
    pub attempt: i32,
    pub session_id: Option<String>,
    pub turn_id: Option<String>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub triggered_at: i64,
    pub created_at: i64,
    /// The environment whose runners execute the run (as of its trigger).
    pub environment_id: Option<String>,
    /// The run's time limit (as of its trigger).
    pub timeout_ms: Option<i64>,
    /// The lease of the runner executing the turn; null until claimed.
    pub lease_id: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub claimed_at: Option<i64>,
    pub runner_name: Option<String>,
    /// A pending retry starts once this instant has passed.
    pub start_after: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
