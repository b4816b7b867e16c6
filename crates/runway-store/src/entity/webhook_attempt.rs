//! One try at sending a delivery, and how the endpoint answered.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    /// 1 for the delivery's first attempt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    pub org_id: String,
    pub attempted_at: i64,
    /// Null when no answer came.
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// The first 1 KiB of the answer.
    #[sea_orm(column_type = "Text")]
    pub response_body: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
