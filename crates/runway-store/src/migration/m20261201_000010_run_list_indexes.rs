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

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum DeploymentRuns {
    Table,
    OrgId,
    DeploymentId,
    EnvironmentId,
    Status,
    TriggerType,
    TriggeredAt,
    Id,
    ClaimedAt,
    StartedAt,
}

use DeploymentRuns as R;

struct RunIndex {
    name: &'static str,
    columns: &'static [DeploymentRuns],
}

const NEW: [RunIndex; 3] = [
    RunIndex {
        name: "idx_runs_org_facets",
        columns: &[R::OrgId, R::Status, R::TriggerType, R::TriggeredAt, R::Id],
    },
    RunIndex {
        name: "idx_runs_deployment_facets",
        columns: &[
            R::DeploymentId,
            R::Status,
            R::TriggerType,
            R::TriggeredAt,
            R::Id,
        ],
    },
    RunIndex {
        name: "idx_runs_active",
        columns: &[R::Status, R::ClaimedAt, R::EnvironmentId, R::StartedAt],
    },
];

const OLD: [RunIndex; 2] = [
    RunIndex {
        name: "idx_runs_deployment_status",
        columns: &[R::DeploymentId, R::Status],
    },
    RunIndex {
        name: "idx_runs_claim",
        columns: &[R::EnvironmentId, R::Status, R::ClaimedAt, R::StartedAt],
    },
];

async fn create(manager: &SchemaManager<'_>, index: &RunIndex) -> Result<(), DbErr> {
    let mut create = Index::create();
    create.name(index.name).table(R::Table);
    for column in index.columns {
        create.col(*column);
    }
    manager.create_index(create.to_owned()).await
}

async fn drop(manager: &SchemaManager<'_>, index: &RunIndex) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(index.name).table(R::Table).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in &NEW {
            create(manager, index).await?;
        }
        for index in &OLD {
            drop(manager, index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in &OLD {
            create(manager, index).await?;
        }
        for index in &NEW {
            drop(manager, index).await?;
        }
        Ok(())
    }
}
