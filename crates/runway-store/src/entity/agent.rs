//! An agent at its latest version; older versions live in `agent_versions`.

use std::collections::BTreeMap;

use sea_orm::entity::prelude::*;

use crate::json_text::JsonText;

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
    /// Tool objects.
    #[sea_orm(column_type = "Text")]
    pub tools: JsonText<Vec<serde_json::Map<String, serde_json::Value>>>,
    #[sea_orm(column_type = "Text")]
    pub metadata: JsonText<BTreeMap<String, String>>,
    pub version: i32,
    pub archived_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
