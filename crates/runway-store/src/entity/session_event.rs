//! One event of a session's transcript: append-only, ordered by `seq`.

use runway_api::enums::EventType;
use sea_orm::entity::prelude::*;

use crate::json_text::JsonText;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub session_id: String,
    /// The event's place in its session, from 1.
    pub seq: i64,
    #[sea_orm(column_name = "type")]
    pub kind: EventType,
    pub turn_id: Option<String>,
    /// The type-specific fields (`content`, `stop_reason`, …).
    #[sea_orm(column_type = "Text")]
    pub fields: JsonText<serde_json::Map<String, serde_json::Value>>,
    /// The appending runner's own number for the event; null for the
    /// server's events.
    pub runner_seq: Option<i64>,
    pub created_at: i64,
    pub processed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
