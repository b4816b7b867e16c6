//! Each endpoint's due deliveries, oldest first:
//! `webhook_deliveries (endpoint_id, next_attempt_at) WHERE next_attempt_at
//! IS NOT NULL AND parked_at IS NULL`.
//!
//! A delivery worker sends at most a share of its attempts to one endpoint.
//! When the claim's walk of the due index meets an endpoint past its share,
//! it looks for the other endpoints' due deliveries one endpoint at a time
//! through this index, so one endpoint's backlog — however long, and ahead
//! of everyone's in the due order — is never walked to find them. As in
//! `m20261201_000010_run_list_indexes`, PostgreSQL builds it
//! `CONCURRENTLY`, outside a transaction, idempotently.

use sea_orm_migration::prelude::*;

use super::online_index::{self, OnlineIndex};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ENDPOINT_DUE: OnlineIndex = OnlineIndex {
    name: "idx_webhook_deliveries_endpoint_due",
    table: "webhook_deliveries",
    columns: "endpoint_id, next_attempt_at",
};
const CLAIMABLE_ROWS: &str = "next_attempt_at IS NOT NULL AND parked_at IS NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CONCURRENTLY` cannot run inside a transaction; each statement is
    /// idempotent instead.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        online_index::create_where(manager, &ENDPOINT_DUE, Some(CLAIMABLE_ROWS)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        online_index::drop(manager, &ENDPOINT_DUE).await
    }
}
