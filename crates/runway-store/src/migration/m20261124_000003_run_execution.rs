//! What run execution needs on a run: its environment and time limit (as of
//! its trigger), the runner's lease, and when a pending retry may start.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeploymentRuns {
    Table,
    EnvironmentId,
    TimeoutMs,
    LeaseId,
    LeaseExpiresAt,
    ClaimedAt,
    RunnerName,
    StartAfter,
    Status,
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            string_null(DeploymentRuns::EnvironmentId),
            big_integer_null(DeploymentRuns::TimeoutMs),
            string_null(DeploymentRuns::LeaseId),
            big_integer_null(DeploymentRuns::LeaseExpiresAt),
            big_integer_null(DeploymentRuns::ClaimedAt),
            string_null(DeploymentRuns::RunnerName),
            big_integer_null(DeploymentRuns::StartAfter),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(DeploymentRuns::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // Runs recorded before this migration take their deployment's values.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE deployment_runs SET \
                 environment_id = (SELECT d.environment_id FROM deployments d WHERE d.id = deployment_runs.deployment_id), \
                 timeout_ms = (SELECT d.timeout_ms FROM deployments d WHERE d.id = deployment_runs.deployment_id)",
            )
            .await?;
        // Claims: the oldest started, unclaimed turn of an environment.
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_claim")
                    .table(DeploymentRuns::Table)
                    .col(DeploymentRuns::EnvironmentId)
                    .col(DeploymentRuns::Status)
                    .col(DeploymentRuns::ClaimedAt)
                    .col(DeploymentRuns::StartedAt)
                    .to_owned(),
            )
            .await?;
        // The reaper: expired leases, and pending retries whose backoff is over.
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_lease_expiry")
                    .table(DeploymentRuns::Table)
                    .col(DeploymentRuns::Status)
                    .col(DeploymentRuns::LeaseExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_start_after")
                    .table(DeploymentRuns::Table)
                    .col(DeploymentRuns::Status)
                    .col(DeploymentRuns::StartAfter)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in [
            "idx_runs_claim",
            "idx_runs_lease_expiry",
            "idx_runs_start_after",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(DeploymentRuns::Table)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            DeploymentRuns::EnvironmentId,
            DeploymentRuns::TimeoutMs,
            DeploymentRuns::LeaseId,
            DeploymentRuns::LeaseExpiresAt,
            DeploymentRuns::ClaimedAt,
            DeploymentRuns::RunnerName,
            DeploymentRuns::StartAfter,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(DeploymentRuns::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
