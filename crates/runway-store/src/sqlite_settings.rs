//! SQLite settings sqlx has no option for, made through SQLite's C API: the
//! query planner stability guarantee on every connection, and no memory
//! statistics in the process.
//!
//! **Stable plans.** By default SQLite compiles a cached statement again, its
//! SQL parsed anew, at every execution whose plan once looked at a bound
//! value: binding such a parameter marks the statement expired. Every
//! `LIMIT ?` is one (sea-orm binds the 1 of `.one()` and each page's size),
//! so nearly every read was parsed each time: a quarter of the server's CPU
//! under point reads (BENCHMARKS.md, "The read path"). With the guarantee
//! (QPSG) a statement keeps the plan it was prepared with. The planner then
//! no longer looks at bound values: our partial indexes are all
//! `… IS NOT NULL`, which a comparison implies whatever its value, so each
//! stays usable; an `ORDER BY … LIMIT ?` is costed as if it read every row,
//! which favours walking an index in order over sorting (what we want). The
//! plan tests (tests/repository/plans/) check the runs table's hot queries
//! and the webhook claim.
//!
//! **No memory statistics.** While SQLite counts its memory, every
//! allocation and free of every connection takes one process-wide mutex;
//! with eight reader threads copying each column of each row out of SQLite
//! (sqlx does), that lock was contended. Nothing reads the counts.

use std::ffi::c_int;
use std::sync::Once;

use libsqlite3_sys::{
    SQLITE_CONFIG_MEMSTATUS, SQLITE_DBCONFIG_ENABLE_QPSG, SQLITE_OK, sqlite3, sqlite3_config,
    sqlite3_db_config, sqlite3_memory_used,
};
use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::SqliteConnection;

/// Process-wide settings: call before opening any SQLite connection (they
/// only apply before SQLite initializes, which its first connection does).
pub(crate) fn configure_process() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is not thread-safe; it runs once, before
        // this process opens any connection (every one goes through
        // `Store::open`, which calls this first), with the one int that
        // SQLITE_CONFIG_MEMSTATUS takes.
        let rc = unsafe { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0 as c_int) };
        if rc != SQLITE_OK {
            tracing::warn!(
                rc,
                "SQLite was initialized before runway could turn its memory statistics off"
            );
        }
    });
}

/// Whether SQLite counts its memory in this process (for tests: with a
/// connection open, it has some in use if it counts).
pub fn memory_statistics_kept() -> bool {
    // SAFETY: reads a counter; thread-safe.
    unsafe { sqlite3_memory_used() > 0 }
}

/// Turns the guarantee on for `connection` (a pool's `after_connect`).
pub(crate) async fn enable_stable_plans(
    connection: &mut SqliteConnection,
) -> Result<(), sqlx::Error> {
    if qpsg(connection, 1).await? {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            "SQLite did not enable the query planner stability guarantee".into(),
        ))
    }
}

/// Whether `connection` has the guarantee on (for tests).
pub async fn stable_plans(connection: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    qpsg(connection, -1).await
}

/// Sets the guarantee (`on` 1 or 0; -1 leaves it) and answers whether it is
/// on.
async fn qpsg(connection: &mut SqliteConnection, on: c_int) -> Result<bool, sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    let db: *mut sqlite3 = handle.as_raw_handle().as_ptr();
    let mut now: c_int = 0;
    // SAFETY: `db` comes from a locked handle (the connection's worker is
    // not using it meanwhile), and SQLITE_DBCONFIG_ENABLE_QPSG takes
    // exactly an int and an int* to write the resulting setting to.
    let rc =
        unsafe { sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_QPSG, on, &mut now as *mut c_int) };
    if rc == SQLITE_OK {
        Ok(now != 0)
    } else {
        Err(sqlx::Error::Configuration(
            format!("the query planner stability guarantee: SQLite error {rc}").into(),
        ))
    }
}
