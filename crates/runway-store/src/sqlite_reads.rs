//! Reads of the hottest rows on SQLite without sqlx's connection threads.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement
//! is sent to that thread and its rows sent back, and the pool pings the
//! connection again when it is returned — four thread switches for a point
//! read, the largest single cost of `GET /deployments/{id}` (BENCHMARKS.md,
//! "Where a read's CPU goes now"). SQLite itself is a library: a read of a
//! few indexed rows takes microseconds, less than the switches around it.
//! So the reads the API serves most (a deployment, a run, a page of runs or
//! deployments) run here, on the async worker that asks, through read-only
//! connections of the same SQLite library, each statement compiled once per
//! connection, rows decoded straight into the entity's model
//! ([`SqliteRow`]).
//!
//! Read your writes holds as before: an answered write has committed, and
//! each statement here reads the newest committed snapshot (WAL). Every
//! statement these reads run is bounded (a primary key, or a page of an
//! index range: the plan tests check them), so a worker is never held long.

mod rows;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::{Connection, OpenFlags, config::DbConfig};
use sea_orm::sea_query::{OptionEnum, Value};
use sea_orm::{
    DbBackend, DbErr, EntityTrait, IdenStatic, Iterable, QueryTrait, RuntimeErr, Select,
};

pub use rows::SqliteRow;

use crate::{StoreError, StoreResult};

/// Prepared statements kept per connection: every list filter's shape is
/// one statement, and a connection keeps those it has run.
const STATEMENT_CACHE: usize = 64;

/// The read-only connections of one SQLite database, opened on demand and
/// kept while idle (one per thread reading at once, in practice the async
/// workers).
#[derive(Debug)]
pub(crate) struct SqliteReads {
    path: PathBuf,
    busy_timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReads {
    /// Reads of the database file at `path` (which exists: the writer
    /// opened it first), keeping at most `max_idle` idle connections.
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration, max_idle: usize) -> Self {
        Self {
            path,
            busy_timeout,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Every row `select` reads, decoded.
    pub(crate) fn all<E>(&self, select: Select<E>) -> StoreResult<Vec<E::Model>>
    where
        E: EntityTrait,
        E::Model: SqliteRow,
    {
        let statement = select.build(DbBackend::Sqlite);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        self.with_connection(|connection| {
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
        })
    }

    /// Runs `read` on an idle connection (or a new one), then keeps it.
    fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let taken = self.idle.lock().expect("reader list lock").pop();
        let connection = match taken {
            Some(connection) => connection,
            None => self.open().map_err(store_error)?,
        };
        let result = read(&connection).map_err(store_error);
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
        connection.busy_timeout(self.busy_timeout)?;
        // As on every other connection (sqlite_settings): a statement keeps
        // the plan it was compiled with, whatever a `LIMIT ?` is bound to.
        if !connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)? {
            return Err(rusqlite::Error::InvalidParameterName(
                "SQLite did not enable the query planner stability guarantee".into(),
            ));
        }
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }
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
    use sea_orm::QuerySelect;

    use super::*;
    use crate::entity::deployment;

    /// A select that lists other columns than its entity's is refused, not
    /// decoded by position into the wrong fields.
    #[test]
    fn a_select_of_other_columns_is_refused() {
        let dir = std::env::temp_dir().join(format!("runway-sqlite-reads-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("columns.db");
        let _ = std::fs::remove_file(&path);
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE deployments (id TEXT PRIMARY KEY, name TEXT); INSERT INTO deployments VALUES ('dep_1', 'd')")
            .unwrap();
        let reads = SqliteReads::new(path, Duration::from_secs(1), 1);
        let only_ids = deployment::Entity::find()
            .select_only()
            .column(deployment::Column::Id);
        let err = reads.all(only_ids).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"a read of deployments lists the columns ["id"], not the entity's"#),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
