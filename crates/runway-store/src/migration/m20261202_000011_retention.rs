//! Retention: an organization's policy, a deployment's override of it, and
//! the indexes the pruner reads so each of its batches costs the same
//! however long the history:
//!
//! - `sessions (deployment_run_id)`: deleting a run checks its session
//!   foreign key; without it every deleted run would scan the sessions.
//! - `idempotency_keys (created_at)`: the keys past 24 h, oldest first.
//! - `webhook_deliveries (org_id, status, updated_at)`: an organization's
//!   finished deliveries past its retention.
//!
//! As in `m20261201_000010_run_list_indexes`, PostgreSQL builds them
//! `CONCURRENTLY` and every statement is idempotent, so a long history is
//! indexed while the service keeps writing.

use sea_orm_migration::prelude::*;

use super::online_column;
use super::online_index::{self, OnlineIndex};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [OnlineIndex; 3] = [
    OnlineIndex {
        name: "idx_sessions_run",
        table: "sessions",
        columns: "deployment_run_id",
    },
    OnlineIndex {
        name: "idx_idempotency_keys_created",
        table: "idempotency_keys",
        columns: "created_at",
    },
    OnlineIndex {
        name: "idx_webhook_deliveries_finished",
        table: "webhook_deliveries",
        columns: "org_id, status, updated_at",
    },
];

/// `(table, column, definition)`: the policy as JSON text (`{}`: keep
/// everything), when it last changed, and a deployment's override (null:
/// its organization's policy).
const COLUMNS: [(&str, &str, &str); 3] = [
    ("organizations", "retention", "TEXT NOT NULL DEFAULT '{}'"),
    ("organizations", "retention_updated_at", "BIGINT NULL"),
    ("deployments", "retention", "TEXT NULL"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CONCURRENTLY` cannot run inside a transaction; each statement is
    /// idempotent instead.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column, definition) in COLUMNS {
            online_column::add(manager, table, column, definition).await?;
        }
        for index in &INDEXES {
            online_index::create(manager, index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in &INDEXES {
            online_index::drop(manager, index).await?;
        }
        for (table, column, _) in COLUMNS.iter().rev() {
            online_column::drop(manager, table, column).await?;
        }
        Ok(())
    }
}
