//! The session a started run executes in, with the agent snapshot it uses.

use runway_api::enums::SessionStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub deployment_run_id: String,
    pub deployment_id: String,
    pub environment_id: String,
    pub agent_id: String,
    /// The agent version the session runs; versions are immutable, so the
    /// snapshot is the `agent_versions` row, not a copy.
    pub agent_version: i32,
    pub status: SessionStatus,
    /// The `seq` of its last event (0 before the first).
    pub event_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
