//! Every run list and every hot run query reads an index range, however
//! long the history grows (issue: flat at 10 M runs).
//!
//! - `(org_id | deployment_id, status, trigger_type, triggered_at, id)`: a
//!   list filtered by status, trigger type or error (which is a set of
//!   statuses) is the union of a few ranges of these, each read up to a
//!   page (`repo::runs::list_selects`). The deployment one replaces
//!   `(deployment_id, status)`, a prefix of it.
//! - `(status, claimed_at, environment_id, started_at)`: claims (of one
//!   environment, several or any) and the reaper's running-run queries read
//!   only the running, unclaimed or claimed, runs. It replaces
//!   `(environment_id, status, claimed_at, started_at)`, which a claim of
//!   any environment and the reaper could not use.
//!
//! Lists without a filter keep `(org_id | deployment_id, triggered_at, id)`.
//!
//! On a long history these builds take a while: PostgreSQL builds them
//! `CONCURRENTLY` (outside a transaction), so triggers, heartbeats and
//! reads go on meanwhile; every statement is `IF [NOT] EXISTS`, so a build
//! interrupted half-way (a killed process, a full disk) is finished by the
//! next start, and an index PostgreSQL left invalid is rebuilt.

use sea_orm_migration::prelude::*;

use super::online_index::{self, OnlineIndex};

#[derive(DeriveMigrationName)]
pub struct Migration;

const fn run_index(name: &'static str, columns: &'static str) -> OnlineIndex {
    OnlineIndex {
        name,
        table: "deployment_runs",
        columns,
    }
}

const NEW: [OnlineIndex; 3] = [
    run_index(
        "idx_runs_org_facets",
        "org_id, status, trigger_type, triggered_at, id",
    ),
    run_index(
        "idx_runs_deployment_facets",
        "deployment_id, status, trigger_type, triggered_at, id",
    ),
    run_index(
        "idx_runs_active",
        "status, claimed_at, environment_id, started_at",
    ),
];

const OLD: [OnlineIndex; 2] = [
    run_index("idx_runs_deployment_status", "deployment_id, status"),
    run_index(
        "idx_runs_claim",
        "environment_id, status, claimed_at, started_at",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CONCURRENTLY` cannot run inside a transaction; each statement is
    /// idempotent instead.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in &NEW {
            online_index::create(manager, index).await?;
        }
        for index in &OLD {
            online_index::drop(manager, index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in &OLD {
            online_index::create(manager, index).await?;
        }
        for index in &NEW {
            online_index::drop(manager, index).await?;
        }
        Ok(())
    }
}
