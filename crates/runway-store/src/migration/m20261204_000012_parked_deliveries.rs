//! A disabled endpoint's pending deliveries are parked (`parked_at`, when
//! its endpoint was disabled) and keep their due time: the delivery
//! workers' claim walks a due index of unparked deliveries only, so it
//! never meets them, and enabling the endpoint unparks them as they were —
//! a delivery in flight when its endpoint was disabled keeps its lease, so
//! it is not taken again while its answer is on the way.
//!
//! - `webhook_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT
//!   NULL AND parked_at IS NULL`: the claim's index; it replaces the one
//!   without `parked_at`.
//! - `webhook_deliveries (endpoint_id, status, created_at, id)`: disabling
//!   an endpoint finds its pending deliveries (an endpoint's deliveries
//!   include every one it was ever sent), and an endpoint's deliveries
//!   listed by status, newest first; the unfiltered list keeps
//!   `(endpoint_id, created_at, id)`.
//! - `webhook_deliveries (endpoint_id) WHERE parked_at IS NOT NULL`:
//!   enabling an endpoint finds its parked deliveries, and the delivery
//!   workers' repair finds those of every enabled endpoint (none, unless a
//!   replica of an earlier version enabled one during a rollout).
//!
//! `up` converges whatever it finds: it parks the pending deliveries of
//! every disabled endpoint and unparks those of every enabled one. As in
//! `m20261201_000010_run_list_indexes`, PostgreSQL builds the indexes
//! `CONCURRENTLY` and every statement is idempotent. Replicas of an
//! earlier version still running once it has dropped the old due index
//! claim by a scan of the deliveries: roll them over promptly.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use super::online_column;
use super::online_index::{self, OnlineIndex};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "webhook_deliveries";

const CLAIMABLE: OnlineIndex = OnlineIndex {
    name: "idx_webhook_deliveries_claimable",
    table: TABLE,
    columns: "next_attempt_at",
};
const CLAIMABLE_ROWS: &str = "next_attempt_at IS NOT NULL AND parked_at IS NULL";

/// The claim's index before parking.
const DUE: OnlineIndex = OnlineIndex {
    name: "idx_webhook_deliveries_due",
    table: TABLE,
    columns: "next_attempt_at",
};
const DUE_ROWS: &str = "next_attempt_at IS NOT NULL";

const BY_STATUS: OnlineIndex = OnlineIndex {
    name: "idx_webhook_deliveries_endpoint_status",
    table: TABLE,
    columns: "endpoint_id, status, created_at, id",
};

const PARKED: OnlineIndex = OnlineIndex {
    name: "idx_webhook_deliveries_parked",
    table: TABLE,
    columns: "endpoint_id",
};
const PARKED_ROWS: &str = "parked_at IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CONCURRENTLY` cannot run inside a transaction; each statement is
    /// idempotent instead.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        online_column::add(manager, TABLE, "parked_at", "BIGINT NULL").await?;
        online_index::create(manager, &BY_STATUS).await?;
        online_index::create_where(manager, &PARKED, Some(PARKED_ROWS)).await?;
        let db = manager.get_connection();
        let now = crate::time::now_nanos();
        db.execute_unprepared(&format!(
            "UPDATE webhook_deliveries SET parked_at = {now} \
             WHERE status = 'pending' AND parked_at IS NULL AND endpoint_id IN \
             (SELECT id FROM webhook_endpoints WHERE enabled = false)"
        ))
        .await?;
        db.execute_unprepared(
            "UPDATE webhook_deliveries SET parked_at = NULL \
             WHERE parked_at IS NOT NULL AND endpoint_id IN \
             (SELECT id FROM webhook_endpoints WHERE enabled = true)",
        )
        .await?;
        online_index::create_where(manager, &CLAIMABLE, Some(CLAIMABLE_ROWS)).await?;
        online_index::drop(manager, &DUE).await
    }

    /// Back to due times alone: parked deliveries are claimed again once
    /// their time has come (and skipped while their endpoint is disabled).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        online_index::create_where(manager, &DUE, Some(DUE_ROWS)).await?;
        online_index::drop(manager, &BY_STATUS).await?;
        online_index::drop(manager, &PARKED).await?;
        online_index::drop(manager, &CLAIMABLE).await?;
        online_column::drop(manager, TABLE, "parked_at").await
    }
}
