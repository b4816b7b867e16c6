//! A store's migrations: which the database has applied, whether a newer
//! runway migrated it, and applying the pending ones (on PostgreSQL under
//! an advisory lock, so replicas started at once take turns).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;

use crate::connect::{Backend, Store, WRITER_TEMP_STORE};
use crate::migration::Migrator;
use crate::{StoreError, StoreResult};

/// The PostgreSQL advisory lock key migrations hold ("runway" and 1, as
/// bytes), so that no other application's lock is likely to share it.
const MIGRATION_LOCK: i64 = 0x7275_6e77_6179_0001;

impl Store {
    /// The migrations the database has applied; `None` when it holds no
    /// migrations' table (no runway schema). Reads only.
    async fn applied_migrations(&self) -> StoreResult<Option<Vec<String>>> {
        let applied = self
            .writer()
            .query_all_raw(sea_orm::Statement::from_string(
                self.writer().get_database_backend(),
                "SELECT version FROM seaql_migrations",
            ))
            .await;
        let applied = match applied {
            Ok(rows) => rows,
            // No migrations' table (PostgreSQL: 42P01, "does not exist";
            // SQLite: "no such table"). Any other failure is itself.
            Err(err)
                if ["42P01", "does not exist", "no such table"]
                    .iter()
                    .any(|sign| err.to_string().contains(sign)) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(err.into()),
        };
        let applied = applied
            .iter()
            .map(|row| row.try_get_by_index::<String>(0))
            .collect::<Result<_, _>>()?;
        Ok(Some(applied))
    }

    /// This build's migrations, oldest first; an error when the database
    /// has applied one it does not know (a newer runway migrated it).
    fn known_migrations(applied: &[String]) -> StoreResult<Vec<String>> {
        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        if let Some(newer) = applied.iter().find(|v| !known.contains(v)) {
            return Err(StoreError::Open(format!(
                "it was migrated by a newer runway ({newer}): use that one"
            )));
        }
        Ok(known)
    }

    /// The migrations this build has that the database has not applied;
    /// an error when it holds no runway schema at all. Reads only (unlike
    /// [`Store::migrate`], which creates the migrations' table first).
    pub async fn pending_migrations(&self) -> StoreResult<Vec<String>> {
        let applied = self.applied_migrations().await?.ok_or_else(|| {
            StoreError::Open("it holds no runway schema (`runway migrate` makes one)".into())
        })?;
        Ok(Self::known_migrations(&applied)?
            .into_iter()
            .filter(|name| !applied.contains(name))
            .collect())
    }

    /// Applies every pending migration.
    ///
    /// On PostgreSQL under a session advisory lock, on a connection of its
    /// own: replicas started at once on an empty database take turns, and
    /// the later ones find nothing left to do (without it, all but one
    /// failed on the catalog's unique indexes as they created the same
    /// tables). The lock is polled, never waited for inside a statement: a
    /// waiting statement holds a snapshot, and `CREATE INDEX CONCURRENTLY`
    /// in the holder's migrations waits for every older snapshot — a
    /// deadlock (as would a lock held by an open transaction).
    pub async fn migrate(&self) -> StoreResult<()> {
        // A database a newer runway migrated is said to be so (sea-orm's
        // own refusal names a "missing migration file", twice).
        if let Some(applied) = self.applied_migrations().await? {
            Self::known_migrations(&applied)?;
        }
        if self.backend() != Backend::Sqlite {
            use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
            let lost = |err| sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(err)));
            let options = self
                .writer()
                .get_postgres_connection_pool()
                .connect_options();
            let mut lock = options.connect().await.map_err(lost)?;
            let mut polls = 0u32;
            loop {
                let (taken,): (bool,) = sea_orm::sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                    .bind(MIGRATION_LOCK)
                    .fetch_one(&mut lock)
                    .await
                    .map_err(lost)?;
                if taken {
                    break;
                }
                // Once, then every 30 s: a holder whose host vanished keeps
                // the lock until its connection is known dead.
                if polls.is_multiple_of(150) {
                    tracing::info!("waiting for another process's migrations to end");
                }
                polls += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let migrated = Migrator::up(self.writer(), None).await;
            // Released now, whatever the migrations did (closing the
            // connection would too, but a pooler could keep it open).
            let released = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut lock)
                .await
                .map_err(lost);
            let _ = lock.close().await;
            migrated?;
            released?;
            return Ok(());
        }
        // Index builds over a long history sort on disk, not in memory (the
        // writer is its pool's one connection, so this reaches it).
        self.writer()
            .execute_unprepared("PRAGMA temp_store = FILE")
            .await?;
        let migrated = Migrator::up(self.writer(), None).await;
        let restored = self
            .writer()
            .execute_unprepared(&format!("PRAGMA temp_store = {WRITER_TEMP_STORE}"))
            .await;
        // A failed migration is the error to report, not what followed it.
        migrated?;
        restored?;
        Ok(())
    }
}
