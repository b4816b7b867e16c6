//! Tokens get a scope, a runner token its environments, an expiry and a
//! last-use time; tokens issued before are `admin` (what they could do).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    OrgId,
    CreatedAt,
    Scope,
    EnvironmentIds,
    ExpiresAt,
    LastUsedAt,
}

const LIST_INDEX: &str = "idx_access_tokens_org_created";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            string(AccessTokens::Scope).default("admin").to_owned(),
            text(AccessTokens::EnvironmentIds).default("[]").to_owned(),
            big_integer_null(AccessTokens::ExpiresAt).to_owned(),
            big_integer_null(AccessTokens::LastUsedAt).to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(AccessTokens::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // The list of an organization's tokens, newest first.
        manager
            .create_index(
                Index::create()
                    .name(LIST_INDEX)
                    .table(AccessTokens::Table)
                    .col(AccessTokens::OrgId)
                    .col(AccessTokens::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(LIST_INDEX)
                    .table(AccessTokens::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            AccessTokens::LastUsedAt,
            AccessTokens::ExpiresAt,
            AccessTokens::EnvironmentIds,
            AccessTokens::Scope,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AccessTokens::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
