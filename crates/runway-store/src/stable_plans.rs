//! SQLite's query planner stability guarantee (QPSG), on every connection.
//!
//! By default SQLite compiles a cached statement again, SQL parsed anew, at
//! every execution whose plan once looked at a bound value: whenever a value
//! is bound to such a parameter the statement is marked expired. Every
//! `LIMIT ?` is one (sea-orm binds the 1 of `.one()` and each page's size),
//! so nearly every read and the lookups inside every trigger batch were
//! parsed each time: a quarter of the server's CPU under point reads
//! (BENCHMARKS.md, "Statements compiled once"). With the guarantee a
//! statement keeps the plan it was prepared with. The planner then no longer
//! looks at bound values: our partial indexes are all `… IS NOT NULL`, which
//! a comparison implies whatever its value, and the plan tests check that
//! every hot query still uses its index.
//!
//! sqlx has no option for it, so it is set through the raw handle once a
//! connection opens.

use std::ffi::c_int;

use libsqlite3_sys::{SQLITE_DBCONFIG_ENABLE_QPSG, SQLITE_OK, sqlite3, sqlite3_db_config};
use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::SqliteConnection;

/// Turns the guarantee on for `connection` (a pool's `after_connect`).
pub(crate) async fn enable(connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    match qpsg(handle.as_raw_handle().as_ptr(), 1) {
        Ok(true) => Ok(()),
        Ok(false) => Err(sqlx::Error::Configuration(
            "SQLite did not enable the query planner stability guarantee".into(),
        )),
        Err(rc) => Err(sqlx::Error::Configuration(
            format!("enabling the query planner stability guarantee: SQLite error {rc}").into(),
        )),
    }
}

/// Whether `connection` has the guarantee on (for tests).
pub async fn enabled(connection: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    qpsg(handle.as_raw_handle().as_ptr(), -1).map_err(|rc| {
        sqlx::Error::Configuration(
            format!("reading the query planner stability guarantee: SQLite error {rc}").into(),
        )
    })
}

/// Sets the guarantee (`on` 1 or 0; -1 leaves it) and answers whether it is
/// on, or SQLite's error code.
fn qpsg(db: *mut sqlite3, on: c_int) -> Result<bool, c_int> {
    let mut now: c_int = 0;
    // SAFETY: `db` comes from a locked handle (the connection's worker is
    // not using it meanwhile), and SQLITE_DBCONFIG_ENABLE_QPSG takes
    // exactly an int and an int* to write the resulting setting to.
    let rc =
        unsafe { sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_QPSG, on, &mut now as *mut c_int) };
    if rc == SQLITE_OK {
        Ok(now != 0)
    } else {
        Err(rc)
    }
}
