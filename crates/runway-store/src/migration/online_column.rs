//! Columns added and dropped by migrations that run outside a transaction
//! (see `online_index`): each statement checks first, so a migration
//! interrupted half-way is finished by the next start.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

async fn exists(
    db: &SchemaManagerConnection<'_>,
    table: &str,
    column: &str,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let statement = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT 1 AS present FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
            [table.into(), column.into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT 1 AS present FROM pragma_table_info(?) WHERE name = ?",
            [table.into(), column.into()],
        ),
    };
    Ok(db.query_one_raw(statement).await?.is_some())
}

/// Adds `column` (`definition`, SQL) to `table` unless it is there.
pub(super) async fn add(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
    definition: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if !exists(db, table, column).await? {
        db.execute_unprepared(&format!(
            "ALTER TABLE {table} ADD COLUMN {column} {definition}"
        ))
        .await?;
    }
    Ok(())
}

/// Drops `column` from `table` if it is there.
pub(super) async fn drop(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if exists(db, table, column).await? {
        db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN {column}"))
            .await?;
    }
    Ok(())
}
