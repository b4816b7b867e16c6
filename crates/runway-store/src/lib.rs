//! runway's storage: sea-orm entities, portable migrations, and the
//! repositories that hold every transaction the service runs.
//!
//! One [`Store`] fronts either SQLite (the default, embedded) or PostgreSQL.
//! On SQLite every write goes through one writer connection so writers queue
//! in the process instead of failing with `database is locked`; reads use
//! their own pool. On PostgreSQL both share one pool and exactness comes from
//! row locks.

pub mod connect;
pub mod entity;
mod error;
pub mod ids;
pub mod json_text;
pub mod migration;
pub mod page;
mod private_files;
pub mod repo;
pub mod run_changes;
pub mod sqlite_settings;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod time;

pub use connect::{Backend, Store, StoreOptions};
pub use error::StoreError;

/// The result of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;
