//! Session events: the append-only transcript of every session, ordered by
//! `seq` within its session (`sessions.event_seq` is the last one given).
//! `runner_seq` is a runner's own number for an event it appended, unique
//! per session, so a resent batch records nothing twice.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SessionEvents {
    Table,
    Id,
    OrgId,
    SessionId,
    Seq,
    Type,
    TurnId,
    Fields,
    RunnerSeq,
    CreatedAt,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    EventSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(big_integer(Sessions::EventSeq).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionEvents::Table)
                    .col(string(SessionEvents::Id).primary_key())
                    .col(string(SessionEvents::OrgId))
                    .col(string(SessionEvents::SessionId))
                    .col(big_integer(SessionEvents::Seq))
                    .col(string(SessionEvents::Type))
                    .col(string_null(SessionEvents::TurnId))
                    .col(text(SessionEvents::Fields))
                    .col(big_integer_null(SessionEvents::RunnerSeq))
                    .col(big_integer(SessionEvents::CreatedAt))
                    .col(big_integer(SessionEvents::ProcessedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_session_events_session")
                            .from(SessionEvents::Table, SessionEvents::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The transcript in order (lists, the stream, paging by seq).
        manager
            .create_index(
                Index::create()
                    .name("ux_session_events_order")
                    .table(SessionEvents::Table)
                    .col(SessionEvents::SessionId)
                    .col(SessionEvents::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A runner's resend is recognised. Partial: the server's own events
        // (no runner number) cost this index nothing.
        manager
            .create_index(
                Index::create()
                    .name("ux_session_events_runner_seq")
                    .table(SessionEvents::Table)
                    .col(SessionEvents::SessionId)
                    .col(SessionEvents::RunnerSeq)
                    .unique()
                    .and_where(Expr::col(SessionEvents::RunnerSeq).is_not_null())
                    .to_owned(),
            )
            .await?;
        // A type filter reads the session's events in order and keeps its
        // types: an index of its own would cost every append (measured:
        // the trigger path writes two events per started run).
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SessionEvents::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::EventSeq)
                    .to_owned(),
            )
            .await
    }
}
