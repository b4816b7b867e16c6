//! Indexes built while the service keeps writing: PostgreSQL builds them
//! `CONCURRENTLY` (outside a transaction: a migration using this says
//! `use_transaction() = Some(false)`), and every statement is `IF [NOT]
//! EXISTS`, so a build interrupted half-way (a killed process, a full disk)
//! is finished by the next start, and an index PostgreSQL left invalid is
//! rebuilt.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

/// An index of `table` on `columns` (SQL, in order).
pub(super) struct OnlineIndex {
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static str,
}

pub(super) async fn create(manager: &SchemaManager<'_>, index: &OnlineIndex) -> Result<(), DbErr> {
    create_where(manager, index, None).await
}

/// A partial index: [`create`] of the rows `predicate` (SQL) holds for.
pub(super) async fn create_where(
    manager: &SchemaManager<'_>,
    index: &OnlineIndex,
    predicate: Option<&str>,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let only = predicate.map(|p| format!(" WHERE {p}")).unwrap_or_default();
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
                drop(manager, index).await?;
            }
            format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({}){only}",
                index.name, index.table, index.columns
            )
        }
        _ => format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({}){only}",
            index.name, index.table, index.columns
        ),
    };
    db.execute_unprepared(&sql).await.map(|_| ())
}

pub(super) async fn drop(manager: &SchemaManager<'_>, index: &OnlineIndex) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!("DROP INDEX CONCURRENTLY IF EXISTS {}", index.name),
        _ => format!("DROP INDEX IF EXISTS {}", index.name),
    };
    db.execute_unprepared(&sql).await.map(|_| ())
}
