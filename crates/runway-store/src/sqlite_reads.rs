//! Reads of the hottest rows on SQLite without sqlx's connection threads.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement
//! is sent to that thread and its rows sent back, and the pool pings the
//! connection again when it is returned — four thread switches for a point
//! read, the largest single cost of `GET /deployments/{id}` (BENCHMARKS.md,
//! "Where a read's CPU goes now"). SQLite itself is a library: a read of a
//! few indexed rows takes microseconds, less than the switches around it.
//! So the reads the API serves most (a deployment, a run, a page of runs)
//! run here, on the async worker that asks, through read-only connections
//! of the same SQLite library, each statement compiled once per connection,
//! rows decoded straight into the entity's model ([`SqliteRow`]).
//!
//! Read your writes holds as before: an answered write has committed, and
//! each statement here reads the newest committed snapshot (WAL). A worker
//! must never be held long, so only short statements come here: a primary
//! key, or a page of at most [`INLINE_PAGE_ROWS`] runs read from index
//! ranges (the plan tests check each list's ranges); and these connections
//! never wait on a lock: a read SQLite refuses as busy (another process's
//! exclusive lock, a recovery) goes to sqlx's pool, which waits on its own
//! thread.

mod rows;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::{Connection, ErrorCode, OpenFlags, config::DbConfig, ffi};
use sea_orm::sea_query::{
    OptionEnum, QueryBuilder, SelectStatement, SqlWriter, SqliteQueryBuilder, Value,
};
use sea_orm::{DbBackend, DbErr, EntityTrait, IdenStatic, Iterable, RuntimeErr, Statement};

pub use rows::SqliteRow;

use crate::{StoreError, StoreResult};

/// The largest page read here; a longer one (up to the API's 1,000 rows)
/// is read through sqlx, off the async workers.
pub(crate) const INLINE_PAGE_ROWS: u64 = 100;

/// Prepared statements kept per connection: every list filter's shape is
/// one statement, and a connection keeps those it has run.
const STATEMENT_CACHE: usize = 64;

/// A statement slower than this is logged, as sqlx logs its own.
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// Room for the text of the longest statement read here (a page of runs
/// with every filter: ~1.5 KiB), so that building it never regrows it.
const STATEMENT_TEXT_BYTES: usize = 4 * 1024;

/// `select` as SQLite text and values. As sea-orm's `build` does, but into
/// a buffer sized once: its writer starts at 256 bytes, and regrowing it
/// (a page's statement lists two dozen qualified columns) cost as much as
/// building it.
pub(crate) fn sqlite_statement(select: &SelectStatement) -> Statement {
    let mut text = StatementText {
        sql: String::with_capacity(STATEMENT_TEXT_BYTES),
        values: Vec::new(),
    };
    select.build_collect_into(SqliteQueryBuilder, &mut text);
    Statement::from_sql_and_values(DbBackend::Sqlite, text.sql, text.values)
}

/// A statement's text and its values, in order (SQLite numbers `?` by
/// position).
struct StatementText {
    sql: String,
    values: Vec<Value>,
}

impl std::fmt::Write for StatementText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.sql.write_str(s)
    }
}

impl std::fmt::Display for StatementText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql)
    }
}

impl SqlWriter for StatementText {
    fn push_param<T: QueryBuilder>(&mut self, value: Value, _: &T) {
        self.sql.push('?');
        self.values.push(value);
    }

    fn as_writer(&mut self) -> &mut dyn std::fmt::Write {
        self
    }
}

/// What an inline read gives back.
pub(crate) enum Inline<T> {
    Read(T),
    /// SQLite refused the read as busy: read it where waiting is harmless.
    Busy,
}

/// The read-only connections of one SQLite database file, opened on demand
/// and kept while idle (one per thread reading at once, in practice the
/// async workers).
#[derive(Debug)]
pub(crate) struct SqliteReads {
    path: PathBuf,
    max_idle: usize,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReads {
    /// Reads of the database file at `path` (which exists: the writer
    /// opened it first), keeping at most `max_idle` idle connections.
    pub(crate) fn new(path: PathBuf, max_idle: usize) -> Self {
        Self {
            path,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Every row `statement` (a select of entity `E`, built for SQLite)
    /// reads, decoded.
    pub(crate) fn all<E>(&self, statement: &Statement) -> StoreResult<Inline<Vec<E::Model>>>
    where
        E: EntityTrait,
        E::Model: SqliteRow,
    {
        let values = statement.values.as_ref().map_or(&[][..], |v| &v.0[..]);
        let started = Instant::now();
        let read = self.with_connection(|connection| {
            let mut prepared = connection.prepare_cached(&statement.sql)?;
            check_columns::<E>(&prepared)?;
            for (n, value) in values.iter().enumerate() {
                prepared.raw_bind_parameter(n + 1, Bound(value))?;
            }
            let mut rows = prepared.raw_query();
            let mut models = Vec::new();
            while let Some(row) = rows.next()? {
                models.push(E::Model::decode(row)?);
            }
            Ok(models)
        });
        let elapsed = started.elapsed();
        if elapsed >= SLOW_STATEMENT {
            tracing::warn!(sql = %statement.sql, ?elapsed, "slow inline SQLite read");
        }
        match read {
            Ok(models) => Ok(Inline::Read(models)),
            Err(err) if busy(&err) => Ok(Inline::Busy),
            Err(err) => Err(store_error(err)),
        }
    }

    /// Runs `read` on an idle connection (or a new one), then keeps it.
    fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let taken = self.idle.lock().expect("reader list lock").pop();
        let connection = match taken {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = read(&connection);
        let mut idle = self.idle.lock().expect("reader list lock");
        if idle.len() < self.max_idle {
            idle.push(connection);
        }
        result
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait for a lock on an async worker: a busy read is handed
        // to sqlx's pool instead (`Inline::Busy`).
        connection.busy_timeout(Duration::ZERO)?;
        // As on every other connection (sqlite_settings): a statement keeps
        // the plan it was compiled with, whatever a `LIMIT ?` is bound to.
        if !connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)? {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_ERROR),
                Some("SQLite did not enable the query planner stability guarantee".into()),
            ));
        }
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }
}

/// Whether SQLite refused for a lock held elsewhere.
fn busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// The decoders read columns by position: the statement must list the
/// entity's columns in their declared order (sea-orm's select does).
fn check_columns<E: EntityTrait>(statement: &rusqlite::Statement<'_>) -> rusqlite::Result<()> {
    let names = statement.column_names();
    let expected = E::Column::iter();
    if names.len() == E::Column::iter().len()
        && names.iter().zip(expected).all(|(n, c)| *n == c.as_str())
    {
        Ok(())
    } else {
        Err(rusqlite::Error::InvalidColumnName(format!(
            "a read of {} lists the columns {names:?}, not the entity's",
            E::default().table_name()
        )))
    }
}

/// A sea-query value bound to a SQLite parameter.
struct Bound<'a>(&'a Value);

impl rusqlite::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        let integer = |v: Option<i64>| v.map_or(ToSqlOutput::Owned(SqlValue::Null), |v| v.into());
        Ok(match self.0 {
            Value::Bool(v) => integer(v.map(i64::from)),
            Value::TinyInt(v) => integer(v.map(i64::from)),
            Value::SmallInt(v) => integer(v.map(i64::from)),
            Value::Int(v) => integer(v.map(i64::from)),
            Value::BigInt(v) => integer(*v),
            Value::TinyUnsigned(v) => integer(v.map(i64::from)),
            Value::SmallUnsigned(v) => integer(v.map(i64::from)),
            Value::Unsigned(v) => integer(v.map(i64::from)),
            Value::BigUnsigned(v) => match v.map(i64::try_from) {
                None => ToSqlOutput::Owned(SqlValue::Null),
                Some(Ok(v)) => v.into(),
                Some(Err(e)) => return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))),
            },
            Value::String(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Enum(OptionEnum::Some(e)) => {
                ToSqlOutput::Borrowed(ValueRef::Text(e.value.as_bytes()))
            }
            Value::Bytes(Some(b)) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::String(None) | Value::Enum(OptionEnum::None(_)) | Value::Bytes(None) => {
                ToSqlOutput::Owned(SqlValue::Null)
            }
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("runway binds no {other:?} on SQLite").into(),
                ));
            }
        })
    }
}

/// A SQLite failure as the store reports it: a row that does not decode is
/// corrupt, anything else a database error.
fn store_error(err: rusqlite::Error) -> StoreError {
    match err {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(err.to_string()),
        other => StoreError::Database(DbErr::Query(RuntimeErr::Internal(format!(
            "SQLite: {other}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, QuerySelect, QueryTrait};

    use super::*;
    use crate::entity::deployment;

    /// The statement built into one buffer is sea-orm's, text and values.
    #[test]
    fn statements_are_built_as_sea_orm_builds_them() {
        use crate::entity::deployment_run;
        use sea_orm::{ColumnTrait, Order, QueryFilter, QueryOrder};
        let select = deployment_run::Entity::find()
            .filter(deployment_run::Column::OrgId.eq("org_1"))
            .filter(deployment_run::Column::DeploymentId.is_in(["dep_1", "dep_2"]))
            .filter(deployment_run::Column::TriggeredAt.lt(1_700_000_000_000_000_000_i64))
            .filter(deployment_run::Column::ErrorType.is_not_null())
            .order_by(deployment_run::Column::TriggeredAt, Order::Desc)
            .order_by(deployment_run::Column::Id, Order::Desc)
            .limit(21);
        let ours = sqlite_statement(select.as_query());
        let theirs = select.build(DbBackend::Sqlite);
        assert_eq!(ours.sql, theirs.sql);
        assert_eq!(ours.values, theirs.values);
        assert_eq!(ours.values.as_ref().map(|v| v.0.len()), Some(5));
        assert_eq!(ours.db_backend, DbBackend::Sqlite);
    }

    /// A select that lists other columns than its entity's is refused, not
    /// decoded by position into the wrong fields.
    #[test]
    fn a_select_of_other_columns_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("columns.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE deployments (id TEXT PRIMARY KEY, name TEXT); INSERT INTO deployments VALUES ('dep_1', 'd')")
            .unwrap();
        let reads = SqliteReads::new(path, 1);
        let only_ids = deployment::Entity::find()
            .select_only()
            .column(deployment::Column::Id)
            .build(DbBackend::Sqlite);
        let Err(err) = reads.all::<deployment::Entity>(&only_ids) else {
            panic!("read other columns");
        };
        assert!(
            err.to_string()
                .contains(r#"a read of deployments lists the columns ["id"], not the entity's"#),
            "{err}"
        );
    }

    /// A database file with a `deployments` table of one row.
    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reads.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE deployments (id TEXT PRIMARY KEY, name TEXT);
                 INSERT INTO deployments VALUES ('dep_1', 'd')",
            )
            .unwrap();
        (dir, path)
    }

    /// Read-only, stable plans (as on sqlx's pools), and no waiting for a
    /// lock on an async worker.
    #[test]
    fn connections_are_set_up_as_documented() {
        let (_dir, path) = database();
        let reads = SqliteReads::new(path, 1);
        let (read_only, stable, busy_ms) = reads
            .with_connection(|c| {
                Ok((
                    c.is_readonly("main")?,
                    c.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)?,
                    c.pragma_query_value(None, "busy_timeout", |row| row.get::<_, i64>(0))?,
                ))
            })
            .unwrap();
        assert_eq!((read_only, stable, busy_ms), (true, true, 0));
    }

    /// A read SQLite refuses as busy is reported as such, at once, for the
    /// store to read it through sqlx; the connection serves again after.
    #[test]
    fn a_locked_database_is_busy() {
        let (_dir, path) = database();
        let reads = SqliteReads::new(path.clone(), 1);
        let all = deployment::Entity::find().build(DbBackend::Sqlite);
        // A rollback journal (not WAL): an exclusive transaction keeps
        // readers out.
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        assert!(matches!(
            reads.all::<deployment::Entity>(&all),
            Ok(Inline::Busy)
        ));
        holder.execute_batch("COMMIT").unwrap();
        // Past the lock: the statement now meets the table (which lacks the
        // entity's columns).
        let Err(err) = reads.all::<deployment::Entity>(&all) else {
            panic!("decoded a table of two columns as deployments");
        };
        assert!(err.to_string().contains("no such column"), "{err}");
    }
}
