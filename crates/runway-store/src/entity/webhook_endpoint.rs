//! A URL an organization receives signed events at.

use runway_api::enums::{WebhookDisabledReason, WebhookEventType};
use sea_orm::entity::prelude::*;

use crate::json_text::JsonText;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// What it subscribes to (`*` alone: everything).
    #[sea_orm(column_type = "Text")]
    pub event_types: JsonText<Vec<WebhookEventType>>,
    pub enabled: bool,
    /// Null while enabled.
    pub disabled_reason: Option<WebhookDisabledReason>,
    /// When its deliveries started failing with no success since.
    pub failing_since: Option<i64>,
    /// When an attempt to it last failed: a failure longer after it than a
    /// failing endpoint's retries leave between two attempts starts a new
    /// streak (it was not failing meanwhile, only not called).
    pub last_failed_at: Option<i64>,
    /// `whsec_…`: signs its events. Never listed or logged.
    pub secret: String,
    /// The secret before the last rotation, signing too until
    /// `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Model {
    /// Whether events of `kind` go to it (test events go only where asked).
    pub fn subscribes_to(&self, kind: WebhookEventType) -> bool {
        kind != WebhookEventType::WebhookTest
            && self
                .event_types
                .iter()
                .any(|t| *t == kind || *t == WebhookEventType::All)
    }

    /// The secrets that sign a message at `now`: the current one, and the
    /// one before while the rotation overlaps.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) =
            (&self.previous_secret, self.previous_secret_expires_at)
            && now < until
        {
            secrets.push(previous);
        }
        secrets
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
