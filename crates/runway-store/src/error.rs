use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no: connection lost, query failed, constraint broken.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// A unique constraint refused the write (the caller decides what it means).
    #[error("unique constraint violated: {0}")]
    Duplicate(String),
    /// Another request already used this `Idempotency-Key` (it committed
    /// while this one ran): the caller replays the first request's result.
    #[error("idempotency key already used")]
    IdempotencyKeyTaken,
    /// Stored data that does not decode (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// An event has subscribers but the process installed no renderer for
    /// its body (a wiring bug).
    #[error("webhooks cannot be rendered: no renderer is installed")]
    NoWebhookRenderer,
    /// A background part of the store (the trigger queue) is no longer
    /// running: the process is shutting down.
    #[error("{0} has stopped")]
    Stopped(&'static str),
    /// The database URL or file could not be used.
    #[error("cannot open database: {0}")]
    Open(String),
}

impl StoreError {
    /// Whether the database could not be reached in time — no pooled
    /// connection within the wait, a connection lost, the pool closed — as
    /// opposed to a statement it refused: a caller may retry.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(err) = self else {
            return false;
        };
        match err {
            DbErr::ConnectionAcquire(_) => true,
            DbErr::Conn(RuntimeErr::SqlxError(err))
            | DbErr::Exec(RuntimeErr::SqlxError(err))
            | DbErr::Query(RuntimeErr::SqlxError(err)) => crate::reachability::did_not_answer(err),
            _ => false,
        }
    }

    /// Turns a unique violation into [`StoreError::Duplicate`]; keeps any
    /// other database error as it is.
    pub(crate) fn classify(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(what)) => StoreError::Duplicate(what),
            _ => StoreError::Database(err),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}
