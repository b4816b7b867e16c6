//! A tenant. Every other row belongs to exactly one organization.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::json_text::JsonText;

/// How long an organization (or one deployment) keeps its runs; each
/// `None` is no limit. Stored as JSON: `{}` keeps everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRules {
    /// Completed and skipped runs go this many days after they were triggered.
    #[serde(default)]
    pub keep_days: Option<i32>,
    /// Failed runs go this many days after they were triggered.
    #[serde(default)]
    pub keep_failed_days: Option<i32>,
    /// Only a deployment's newest this many runs are kept.
    #[serde(default)]
    pub max_runs: Option<i64>,
}

impl RetentionRules {
    /// True when the rules delete nothing.
    pub fn keeps_everything(&self) -> bool {
        *self == RetentionRules::default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub name: String,
    pub created_at: i64,
    /// The retention policy of its deployments without their own.
    #[sea_orm(column_type = "Text")]
    pub retention: JsonText<RetentionRules>,
    pub retention_updated_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
