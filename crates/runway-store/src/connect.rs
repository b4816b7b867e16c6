//! Opening the database: pools, pragmas and migrations.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, QuerySelect, QueryTrait, Select,
    SqlxPostgresConnector, SqlxSqliteConnector,
};

use crate::sqlite_reads::{Inline, SqliteRow};
use crate::{StoreError, StoreResult};

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// Connections in the PostgreSQL pool, or SQLite reader connections.
    pub max_connections: u32,
    /// SQLite only: `synchronous=FULL` (a committed write survives power loss)
    /// when true, `NORMAL` (survives a process crash) when false.
    pub sqlite_durable: bool,
    /// SQLite only: refuse a file that does not exist instead of creating
    /// it (an operator's command on the data must not make an empty one).
    pub must_exist: bool,
}

impl StoreOptions {
    /// Defaults for `url`: 8 connections, durable SQLite, created if missing.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            sqlite_durable: true,
            must_exist: false,
        }
    }
}

/// The database, opened: a reader and a writer handle, and the backend.
#[derive(Debug, Clone)]
pub struct Store {
    read: DatabaseConnection,
    write: DatabaseConnection,
    /// SQLite (a file): the hottest reads, without sqlx's threads.
    inline_reads: Option<std::sync::Arc<crate::sqlite_reads::SqliteReads>>,
    backend: Backend,
    max_connections: u32,
    webhooks: std::sync::Arc<crate::repo::webhooks::WebhookHub>,
    pub(crate) run_changes: std::sync::Arc<crate::run_changes::RunChanges>,
}

/// How long a SQLite connection waits for another process's lock (for
/// example `runway token create` while `runway serve` runs).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The writer's temporary storage: memory, for statement journals. Every
/// multi-row insert of a trigger batch keeps a copy of each page it changes
/// until it ends, so it can be undone alone; by default past 64 KiB that copy
/// goes to a temporary file, and those writes were a tenth of the server's
/// CPU under trigger load (BENCHMARKS.md, "What a trigger costs"). Memory also
/// lifts the bound on the sorter, so only the writer has it (its statements
/// are bounded; readers keep the default), and migrations, whose index builds
/// sort a whole history, run with files ([`Store::migrate`]).
pub(crate) const WRITER_TEMP_STORE: &str = "MEMORY";

/// Whether a SQLite URL names a database in memory.
fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Whether a SQLite URL names a plain file, one this process may open again
/// by its path alone: not in memory, and no option but the open mode (a
/// `vfs`, `immutable` or shared cache changes how the file is read and
/// locked).
fn plain_sqlite_file(url: &str) -> bool {
    if in_memory(url) {
        return false;
    }
    let Some((_, options)) = url.split_once('?') else {
        return true;
    };
    options
        .split('&')
        .all(|option| matches!(option, "mode=ro" | "mode=rw" | "mode=rwc"))
}

/// How long a caller waits for a pooled connection before giving up.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

impl Store {
    /// Opens the database named by `options.url`, creating a SQLite file if
    /// it does not exist. Does not migrate: call [`Store::migrate`].
    pub async fn open(options: &StoreOptions) -> StoreResult<Store> {
        let url = options.url.as_str();
        if url.starts_with("sqlite:") {
            Self::open_sqlite(options).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(options).await
        } else {
            Err(StoreError::Open(format!(
                "unsupported database URL {url:?}: use sqlite://FILE or postgres://…"
            )))
        }
    }

    async fn open_sqlite(options: &StoreOptions) -> StoreResult<Store> {
        crate::sqlite_settings::configure_process();
        let base = SqliteConnectOptions::from_str(&options.url)
            .map_err(|e| StoreError::Open(e.to_string()))?
            .create_if_missing(!options.must_exist)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if options.sqlite_durable {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        if !in_memory(&options.url) {
            if options.must_exist && !base.get_filename().exists() {
                return Err(StoreError::Open(format!(
                    "no database at {}",
                    base.get_filename().display()
                )));
            }
            crate::private_files::secure(base.get_filename()).map_err(|e| {
                StoreError::Open(format!(
                    "making {} private: {e}",
                    base.get_filename().display()
                ))
            })?;
        }
        // Neither pool pings a connection before handing it out (sqlx's
        // default, for servers that may hang up): a SQLite connection is a
        // thread of this process, and the ping a round trip to it — one more
        // thread wake-up for every statement.
        // One writer: transactions queue for this connection in the process.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .after_connect(|connection, _| {
                Box::pin(crate::sqlite_settings::enable_stable_plans(connection))
            })
            // Takes effect when the writer creates the file (a database
            // created before keeps its mode: its free pages are reused in
            // place). The pruner hands the pages it frees back with
            // incremental_vacuum. Readers cannot set it (read-only).
            .connect_with(
                base.clone()
                    .auto_vacuum(SqliteAutoVacuum::Incremental)
                    .pragma("temp_store", WRITER_TEMP_STORE),
            )
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .after_connect(|connection, _| {
                Box::pin(crate::sqlite_settings::enable_stable_plans(connection))
            })
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        // The hottest reads open the file again by its path, which is only
        // the same database for a plain file.
        let inline_reads = plain_sqlite_file(&options.url).then(|| {
            std::sync::Arc::new(crate::sqlite_reads::SqliteReads::new(
                base.get_filename().to_path_buf(),
                options.max_connections as usize,
            ))
        });
        Ok(Store {
            read: SqlxSqliteConnector::from_sqlx_sqlite_pool(reader),
            write: SqlxSqliteConnector::from_sqlx_sqlite_pool(writer),
            inline_reads,
            backend: Backend::Sqlite,
            max_connections: options.max_connections.max(1),
            webhooks: Default::default(),
            run_changes: Default::default(),
        })
    }

    async fn open_postgres(options: &StoreOptions) -> StoreResult<Store> {
        let connect = PgConnectOptions::from_str(&options.url)
            .map_err(|e| StoreError::Open(e.to_string()))?;
        crate::reachability::first_connection(&connect, ACQUIRE_TIMEOUT).await?;
        let max_connections = options.max_connections.max(2);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(connect)
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        Ok(Store {
            read: db.clone(),
            write: db,
            inline_reads: None,
            backend: Backend::Postgres,
            max_connections,
            webhooks: Default::default(),
            run_changes: Default::default(),
        })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The size of the PostgreSQL pool, or of the SQLite reader pool.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// The handle for reads that need no transaction.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    /// Every row `select` (a short read: see `sqlite_reads`) reads,
    /// outside a transaction: from a SQLite file on the asking worker, else
    /// (PostgreSQL, or SQLite busy) through the reader pool.
    pub(crate) async fn read_all<E>(&self, select: Select<E>) -> StoreResult<Vec<E::Model>>
    where
        E: EntityTrait,
        E::Model: SqliteRow,
    {
        let Some(reads) = &self.inline_reads else {
            return Ok(select.all(&self.read).await?);
        };
        let statement = crate::sqlite_reads::sqlite_statement(select.as_query());
        match reads.all::<E>(&statement)? {
            Inline::Read(models) => Ok(models),
            Inline::Busy => Ok(E::find().from_raw_sql(statement).all(&self.read).await?),
        }
    }

    /// The first row `select` reads, as [`Store::read_all`] reads it.
    pub(crate) async fn read_one<E>(&self, select: Select<E>) -> StoreResult<Option<E::Model>>
    where
        E: EntityTrait,
        E::Model: SqliteRow,
    {
        Ok(self.read_all(select.limit(1)).await?.into_iter().next())
    }

    /// Whether the hottest reads skip sqlx's threads (a SQLite file; for
    /// tests).
    #[doc(hidden)]
    pub fn reads_sqlite_inline(&self) -> bool {
        self.inline_reads.is_some()
    }

    /// The handle every write transaction starts from.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    /// What webhook emission needs from the process: the renderer of event
    /// bodies and the delivery workers' wake-up.
    pub fn webhooks(&self) -> &crate::repo::webhooks::WebhookHub {
        &self.webhooks
    }

    pub(crate) fn webhook_hub(&self) -> std::sync::Arc<crate::repo::webhooks::WebhookHub> {
        self.webhooks.clone()
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        self.read.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(self) {
        let _ = self.read.close().await;
        if self.backend == Backend::Sqlite {
            let _ = self.write.close().await;
        }
    }
}
