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
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

struct RunIndex {
    name: &'static str,
    columns: &'static str,
}

const NEW: [RunIndex; 3] = [
    RunIndex {
        name: "idx_runs_org_facets",
        columns: "org_id, status, trigger_type, triggered_at, id",
    },
    RunIndex {
        name: "idx_runs_deployment_facets",
        columns: "deployment_id, status, trigger_type, triggered_at, id",
    },
    RunIndex {
        name: "idx_runs_active",
        columns: "status, claimed_at, environment_id, started_at",
    },
];

const OLD: [RunIndex; 2] = [
    RunIndex {
        name: "idx_runs_deployment_status",
        columns: "deployment_id, status",
    },
    RunIndex {
        name: "idx_runs_claim",
        columns: "environment_id, status, claimed_at, started_at",
    },
];

async fn create_index(manager: &SchemaManager<'_>, index: &RunIndex) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            // An interrupted concurrent build leaves an invalid index that
            // IF NOT EXISTS would keep: drop it first.
            let invalid = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT 1 AS invalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE c.relname = $1 AND NOT i.indisvalid",
                    [index.name.into()],
                ))
                .await?;
            if invalid.is_some() {
                drop_index(manager, index).await?;
            }
            format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON deployment_runs ({})",
                index.name, index.columns
            )
        }
        _ => format!(
            "CREATE INDEX IF NOT EXISTS {} ON deployment_runs ({})",
            index.name, index.columns
        ),
    };
    db.execute_unprepared(&sql).await.map(|_| ())
}

async fn drop_index(manager: &SchemaManager<'_>, index: &RunIndex) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!("DROP INDEX CONCURRENTLY IF EXISTS {}", index.name),
        _ => format!("DROP INDEX IF EXISTS {}", index.name),
    };
    db.execute_unprepared(&sql).await.map(|_| ())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CONCURRENTLY` cannot run inside a transaction; each statement is
    /// idempotent instead.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in &NEW {
            create_index(manager, index).await?;
        }
        for index in &OLD {
            drop_index(manager, index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in &OLD {
            create_index(manager, index).await?;
        }
        for index in &NEW {
            drop_index(manager, index).await?;
        }
        Ok(())
    }
}
