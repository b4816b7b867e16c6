//! Webhooks: the endpoints an organization registers, the deliveries of
//! events to them (written in the transaction that causes the event), the
//! attempts at sending each, and a deployment's consecutive-failure limit.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    OrgId,
    Url,
    Description,
    EventTypes,
    Enabled,
    DisabledReason,
    FailingSince,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    OrgId,
    EndpointId,
    EventId,
    EventType,
    Body,
    Status,
    AttemptCount,
    NextAttemptAt,
    RedeliveryOf,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    DeliveryId,
    Number,
    OrgId,
    AttemptedAt,
    StatusCode,
    LatencyMs,
    ResponseBody,
    Error,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    MaxConsecutiveFailures,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WebhookDeliveries as D;
        use WebhookEndpoints as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(string(E::Id).primary_key())
                    .col(string(E::OrgId))
                    .col(text(E::Url))
                    .col(text_null(E::Description))
                    .col(text(E::EventTypes))
                    .col(boolean(E::Enabled))
                    .col(string_null(E::DisabledReason))
                    .col(big_integer_null(E::FailingSince))
                    .col(string(E::Secret))
                    .col(string_null(E::PreviousSecret))
                    .col(big_integer_null(E::PreviousSecretExpiresAt))
                    .col(big_integer(E::CreatedAt))
                    .col(big_integer(E::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Keyset paging of an organization's endpoints; emission reads them
        // by organization.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_endpoints_org_created")
                    .table(E::Table)
                    .col(E::OrgId)
                    .col(E::CreatedAt)
                    .col(E::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(string(D::Id).primary_key())
                    .col(string(D::OrgId))
                    .col(string(D::EndpointId))
                    .col(string(D::EventId))
                    .col(string(D::EventType))
                    .col(text(D::Body))
                    .col(string(D::Status))
                    .col(integer(D::AttemptCount))
                    .col(big_integer_null(D::NextAttemptAt))
                    .col(string_null(D::RedeliveryOf))
                    .col(big_integer(D::CreatedAt))
                    .col(big_integer(D::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Keyset paging of an endpoint's deliveries.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_endpoint_created")
                    .table(D::Table)
                    .col(D::EndpointId)
                    .col(D::CreatedAt)
                    .col(D::Id)
                    .to_owned(),
            )
            .await?;
        // The delivery workers' claim: pending deliveries by due time (a
        // finished delivery has no next attempt, so it leaves the index).
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(D::Table)
                    .col(D::NextAttemptAt)
                    .and_where(Expr::col(D::NextAttemptAt).is_not_null())
                    .to_owned(),
            )
            .await?;
        use WebhookAttempts as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(string(A::DeliveryId))
                    .col(integer(A::Number))
                    .col(string(A::OrgId))
                    .col(big_integer(A::AttemptedAt))
                    .col(integer_null(A::StatusCode))
                    .col(big_integer(A::LatencyMs))
                    .col(text(A::ResponseBody))
                    .col(text_null(A::Error))
                    .primary_key(Index::create().col(A::DeliveryId).col(A::Number))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deployments::Table)
                    .add_column(integer_null(Deployments::MaxConsecutiveFailures))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Deployments::Table)
                    .drop_column(Deployments::MaxConsecutiveFailures)
                    .to_owned(),
            )
            .await?;
        for table in [
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
