//! Organizations, access tokens, agents and their versions, environments,
//! deployments, runs, sessions and idempotency keys, with the indexes every
//! hot query needs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    Id,
    OrgId,
    TokenHash,
    Name,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
    OrgId,
    Name,
    Description,
    Model,
    System,
    Instructions,
    Tools,
    Metadata,
    Version,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgentVersions {
    Table,
    AgentId,
    Version,
    OrgId,
    Snapshot,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Environments {
    Table,
    Id,
    OrgId,
    Name,
    Description,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
    OrgId,
    Name,
    Description,
    AgentId,
    AgentVersion,
    EnvironmentId,
    InitialEvents,
    ScheduleExpression,
    ScheduleTimezone,
    LastRunAt,
    NextFireAt,
    Status,
    PausedReason,
    ArchivedAt,
    Resources,
    VaultIds,
    Metadata,
    MaxConcurrent,
    MaxRetries,
    TimeoutMs,
    SessionStrategy,
    TotalRuns,
    TotalFailures,
    ConsecutiveFailures,
    LastTriggeredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeploymentRuns {
    Table,
    Id,
    OrgId,
    DeploymentId,
    AgentId,
    AgentVersion,
    Status,
    ErrorType,
    ErrorMessage,
    TriggerType,
    RetryOf,
    ScheduledFor,
    Attempt,
    SessionId,
    TurnId,
    StartedAt,
    CompletedAt,
    DurationMs,
    TriggeredAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    OrgId,
    DeploymentRunId,
    DeploymentId,
    EnvironmentId,
    AgentId,
    AgentVersion,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    OrgId,
    Key,
    RequestHash,
    ResourceId,
    CreatedAt,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(string(Organizations::Id).primary_key())
                    .col(string_uniq(Organizations::Name))
                    .col(big_integer(Organizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessTokens::Table)
                    .col(string(AccessTokens::Id).primary_key())
                    .col(string(AccessTokens::OrgId))
                    .col(string_uniq(AccessTokens::TokenHash))
                    .col(string(AccessTokens::Name))
                    .col(big_integer(AccessTokens::CreatedAt))
                    .col(big_integer_null(AccessTokens::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_access_tokens_org",
                        (AccessTokens::Table, AccessTokens::OrgId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Agents::Table)
                    .col(string(Agents::Id).primary_key())
                    .col(string(Agents::OrgId))
                    .col(string(Agents::Name))
                    .col(text_null(Agents::Description))
                    .col(string(Agents::Model))
                    .col(text_null(Agents::System))
                    .col(text_null(Agents::Instructions))
                    .col(text(Agents::Tools))
                    .col(text(Agents::Metadata))
                    .col(integer(Agents::Version))
                    .col(big_integer_null(Agents::ArchivedAt))
                    .col(big_integer(Agents::CreatedAt))
                    .col(big_integer(Agents::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_agents_org",
                        (Agents::Table, Agents::OrgId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_agents_org_created")
                    .table(Agents::Table)
                    .col(Agents::OrgId)
                    .col(Agents::CreatedAt)
                    .col(Agents::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AgentVersions::Table)
                    .col(string(AgentVersions::AgentId))
                    .col(integer(AgentVersions::Version))
                    .col(string(AgentVersions::OrgId))
                    .col(text(AgentVersions::Snapshot))
                    .col(big_integer(AgentVersions::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(AgentVersions::AgentId)
                            .col(AgentVersions::Version),
                    )
                    .foreign_key(&mut fk(
                        "fk_agent_versions_agent",
                        (AgentVersions::Table, AgentVersions::AgentId),
                        (Agents::Table, Agents::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Environments::Table)
                    .col(string(Environments::Id).primary_key())
                    .col(string(Environments::OrgId))
                    .col(string(Environments::Name))
                    .col(text_null(Environments::Description))
                    .col(big_integer_null(Environments::ArchivedAt))
                    .col(big_integer(Environments::CreatedAt))
                    .col(big_integer(Environments::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_environments_org",
                        (Environments::Table, Environments::OrgId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_environments_org_created")
                    .table(Environments::Table)
                    .col(Environments::OrgId)
                    .col(Environments::CreatedAt)
                    .col(Environments::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deployments::Table)
                    .col(string(Deployments::Id).primary_key())
                    .col(string(Deployments::OrgId))
                    .col(string(Deployments::Name))
                    .col(text_null(Deployments::Description))
                    .col(string(Deployments::AgentId))
                    .col(integer(Deployments::AgentVersion))
                    .col(string(Deployments::EnvironmentId))
                    .col(text(Deployments::InitialEvents))
                    .col(string_null(Deployments::ScheduleExpression))
                    .col(string_null(Deployments::ScheduleTimezone))
                    .col(big_integer_null(Deployments::LastRunAt))
                    .col(big_integer_null(Deployments::NextFireAt))
                    .col(string(Deployments::Status))
                    .col(string_null(Deployments::PausedReason))
                    .col(big_integer_null(Deployments::ArchivedAt))
                    .col(text(Deployments::Resources))
                    .col(text(Deployments::VaultIds))
                    .col(text(Deployments::Metadata))
                    .col(integer(Deployments::MaxConcurrent))
                    .col(integer(Deployments::MaxRetries))
                    .col(big_integer(Deployments::TimeoutMs))
                    .col(string(Deployments::SessionStrategy))
                    .col(big_integer(Deployments::TotalRuns))
                    .col(big_integer(Deployments::TotalFailures))
                    .col(big_integer(Deployments::ConsecutiveFailures))
                    .col(big_integer_null(Deployments::LastTriggeredAt))
                    .col(big_integer(Deployments::CreatedAt))
                    .col(big_integer(Deployments::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_deployments_org",
                        (Deployments::Table, Deployments::OrgId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_deployments_agent",
                        (Deployments::Table, Deployments::AgentId),
                        (Agents::Table, Agents::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_deployments_environment",
                        (Deployments::Table, Deployments::EnvironmentId),
                        (Environments::Table, Environments::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deployments_org_created")
                    .table(Deployments::Table)
                    .col(Deployments::OrgId)
                    .col(Deployments::CreatedAt)
                    .col(Deployments::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deployments_next_fire")
                    .table(Deployments::Table)
                    .col(Deployments::NextFireAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeploymentRuns::Table)
                    .col(string(DeploymentRuns::Id).primary_key())
                    .col(string(DeploymentRuns::OrgId))
                    .col(string(DeploymentRuns::DeploymentId))
                    .col(string(DeploymentRuns::AgentId))
                    .col(integer(DeploymentRuns::AgentVersion))
                    .col(string(DeploymentRuns::Status))
                    .col(string_null(DeploymentRuns::ErrorType))
                    .col(text_null(DeploymentRuns::ErrorMessage))
                    .col(string(DeploymentRuns::TriggerType))
                    .col(string_null(DeploymentRuns::RetryOf))
                    .col(big_integer_null(DeploymentRuns::ScheduledFor))
                    .col(integer(DeploymentRuns::Attempt))
                    .col(string_null(DeploymentRuns::SessionId))
                    .col(string_null(DeploymentRuns::TurnId))
                    .col(big_integer_null(DeploymentRuns::StartedAt))
                    .col(big_integer_null(DeploymentRuns::CompletedAt))
                    .col(big_integer_null(DeploymentRuns::DurationMs))
                    .col(big_integer(DeploymentRuns::TriggeredAt))
                    .col(big_integer(DeploymentRuns::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_deployment_runs_deployment",
                        (DeploymentRuns::Table, DeploymentRuns::DeploymentId),
                        (Deployments::Table, Deployments::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // The concurrency gate counts a deployment's pending + running runs.
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_deployment_status")
                    .table(DeploymentRuns::Table)
                    .col(DeploymentRuns::DeploymentId)
                    .col(DeploymentRuns::Status)
                    .to_owned(),
            )
            .await?;
        // Keyset paging of one deployment's runs and of all runs.
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_deployment_triggered")
                    .table(DeploymentRuns::Table)
                    .col(DeploymentRuns::DeploymentId)
                    .col(DeploymentRuns::TriggeredAt)
                    .col(DeploymentRuns::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_org_triggered")
                    .table(DeploymentRuns::Table)
                    .col(DeploymentRuns::OrgId)
                    .col(DeploymentRuns::TriggeredAt)
                    .col(DeploymentRuns::Id)
                    .to_owned(),
            )
            .await?;
        // A scheduled instant fires once per deployment, whatever the replicas.
        manager
            .create_index(
                Index::create()
                    .name("uq_runs_deployment_scheduled_for")
                    .table(DeploymentRuns::Table)
                    .col(DeploymentRuns::DeploymentId)
                    .col(DeploymentRuns::ScheduledFor)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string(Sessions::Id).primary_key())
                    .col(string(Sessions::OrgId))
                    .col(string(Sessions::DeploymentRunId))
                    .col(string(Sessions::DeploymentId))
                    .col(string(Sessions::EnvironmentId))
                    .col(string(Sessions::AgentId))
                    .col(integer(Sessions::AgentVersion))
                    .col(string(Sessions::Status))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_sessions_run",
                        (Sessions::Table, Sessions::DeploymentRunId),
                        (DeploymentRuns::Table, DeploymentRuns::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(string(IdempotencyKeys::OrgId))
                    .col(string(IdempotencyKeys::Key))
                    .col(string(IdempotencyKeys::RequestHash))
                    .col(string(IdempotencyKeys::ResourceId))
                    .col(big_integer(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::OrgId)
                            .col(IdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            Sessions::Table.into_iden(),
            DeploymentRuns::Table.into_iden(),
            Deployments::Table.into_iden(),
            Environments::Table.into_iden(),
            AgentVersions::Table.into_iden(),
            Agents::Table.into_iden(),
            AccessTokens::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
