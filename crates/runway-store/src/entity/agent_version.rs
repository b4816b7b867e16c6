//! An immutable snapshot of an agent at one version, as deployments pin it.

use sea_orm::entity::prelude::*;

use crate::json_text::JsonText;
use crate::repo::agents::AgentSnapshot;

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
