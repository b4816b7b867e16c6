//! `webhook_endpoints.last_failed_at`: when an attempt to the endpoint last
//! failed. A failing streak (`failing_since`) that an endpoint's retries
//! did not keep going — every delivery finished, nothing called for days —
//! is over: the next failure starts a new one, where it disabled the
//! endpoint at once. Null on the endpoints before it: their next failure
//! starts a new streak.

use sea_orm_migration::prelude::*;

use super::online_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// As the other column migrations: each statement checks first.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        online_column::add(manager, "webhook_endpoints", "last_failed_at", "BIGINT").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        online_column::drop(manager, "webhook_endpoints", "last_failed_at").await
    }
}
