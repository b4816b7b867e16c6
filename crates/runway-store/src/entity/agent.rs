//! An agent at its latest version; older versions live in `agent_versions`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: Option<String>,
    pub model: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub system: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub instructions: Option<String>,
    /// JSON array of tool objects.
    #[sea_orm(column_type = "Text")]
    pub tools: String,
    /// JSON object of string values.
    #[sea_orm(column_type = "Text")]
    pub metadata: String,
    pub version: i32,
    pub archived_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
