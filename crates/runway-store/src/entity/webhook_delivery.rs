//! One event on its way to one endpoint. The body is rendered once, when the
//! event happens, so every attempt sends (and signs) the same bytes.

use runway_api::enums::{WebhookDeliveryStatus, WebhookEventType};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub endpoint_id: String,
    /// `evt_…`: the `webhook-id` every attempt and redelivery sends.
    pub event_id: String,
    pub event_type: WebhookEventType,
    /// The JSON body, exactly as sent.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub status: WebhookDeliveryStatus,
    pub attempt_count: i32,
    /// When the next attempt is due (while one is in flight: when a worker
    /// may take it over); null once succeeded or failed.
    pub next_attempt_at: Option<i64>,
    /// While its endpoint is disabled: since when. A parked delivery keeps
    /// its due time (or its lease) and is not claimed.
    pub parked_at: Option<i64>,
    pub redelivery_of: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
