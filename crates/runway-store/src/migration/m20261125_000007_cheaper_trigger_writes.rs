//! A trigger writes less.
//!
//! The run indexes that only ever look up set values hold only rows where
//! the value is set: a manual trigger inserts its run with no lease, no
//! backoff and no scheduled instant, so it no longer adds an entry to each
//! of those three indexes (measured: the entries cost the trigger path
//! about as much as the session's opening events added). Every query that
//! reads them compares the column (`<`, `<=`, `=`), which implies `IS NOT
//! NULL`, so both SQLite and PostgreSQL still use them.
//!
//! On PostgreSQL, session events lose their foreign key to the session: it
//! ran a `SELECT … FOR KEY SHARE` of the session for every event inserted
//! (a started run's opening events, every runner batch), which cost the
//! trigger path ~5 % here. Events are only ever written by transactions
//! that hold their session's run, and nothing deletes sessions, so the key
//! guarded nothing those transactions do not. SQLite keeps it: dropping a
//! key there means rebuilding the table, and its check is an in-process
//! index probe.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum SessionEvents {
    Table,
    SessionId,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
}

/// The key migration 5 made.
const EVENTS_SESSION_KEY: &str = "fk_session_events_session";

#[derive(DeriveIden, Clone, Copy)]
enum DeploymentRuns {
    Table,
    DeploymentId,
    Status,
    LeaseExpiresAt,
    StartAfter,
    ScheduledFor,
}

/// One index, as migration 1 or 3 made it and as this one makes it.
struct RunIndex {
    name: &'static str,
    columns: [DeploymentRuns; 2],
    /// The column that must be set for a row to be indexed.
    set: DeploymentRuns,
    unique: bool,
}

const INDEXES: [RunIndex; 3] = [
    RunIndex {
        name: "idx_runs_lease_expiry",
        columns: [DeploymentRuns::Status, DeploymentRuns::LeaseExpiresAt],
        set: DeploymentRuns::LeaseExpiresAt,
        unique: false,
    },
    RunIndex {
        name: "idx_runs_start_after",
        columns: [DeploymentRuns::Status, DeploymentRuns::StartAfter],
        set: DeploymentRuns::StartAfter,
        unique: false,
    },
    RunIndex {
        name: "uq_runs_deployment_scheduled_for",
        columns: [DeploymentRuns::DeploymentId, DeploymentRuns::ScheduledFor],
        set: DeploymentRuns::ScheduledFor,
        unique: true,
    },
];

async fn recreate(manager: &SchemaManager<'_>, partial: bool) -> Result<(), DbErr> {
    for index in INDEXES {
        manager
            .drop_index(
                Index::drop()
                    .name(index.name)
                    .table(DeploymentRuns::Table)
                    .to_owned(),
            )
            .await?;
        let mut create = Index::create();
        create
            .name(index.name)
            .table(DeploymentRuns::Table)
            .col(index.columns[0])
            .col(index.columns[1]);
        if index.unique {
            create.unique();
        }
        if partial {
            create.and_where(Expr::col(index.set).is_not_null());
        }
        manager.create_index(create.to_owned()).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, true).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .drop_foreign_key(
                    ForeignKey::drop()
                        .name(EVENTS_SESSION_KEY)
                        .table(SessionEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .create_foreign_key(
                    ForeignKey::create()
                        .name(EVENTS_SESSION_KEY)
                        .from(SessionEvents::Table, SessionEvents::SessionId)
                        .to(Sessions::Table, Sessions::Id)
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .await?;
        }
        recreate(manager, false).await
    }
}
