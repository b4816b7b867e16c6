//! runway's storage: sea-orm entities, portable migrations, and the
//! repositories that hold every transaction the service runs.
//!
//! One [`Store`] fronts either SQLite (the default, embedded) or PostgreSQL.
//! On SQLite every write goes through one writer connection so writers queue
//! in the process instead of failing with `database is locked`; reads use
//! their own pool, and the hottest (a deployment, a run, a page of either)
//! run on the asking async worker without sqlx's threads
//! (`sqlite_reads`). On PostgreSQL both share one pool and exactness comes from
//! row locks.

pub mod connect;
pub mod entity;
mod error;
pub mod ids;
pub mod json_text;
mod migrating;
pub mod migration;
pub mod page;
mod private_files;
mod reachability;
pub use private_files::narrow_to_owner;
pub mod repo;
pub mod run_changes;
mod sqlite_reads;
pub mod sqlite_settings;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod time;

pub use connect::{Backend, Store, StoreOptions};
pub use error::StoreError;

/// The result of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;
