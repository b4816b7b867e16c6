//! How replicas tell each other a session has new events (PostgreSQL's
//! `NOTIFY`; SQLite has one process).

use sea_orm::ConnectionTrait;

use crate::{Store, StoreResult};

/// The PostgreSQL channel on which every append announces its session, so
/// the streams of every replica wake (the payload is the session id).
pub const NOTIFY_CHANNEL: &str = "runway_session_events";

/// Announces new events of `session_id` to every replica on PostgreSQL,
/// delivered when the caller's transaction commits (and only then). A no-op
/// on SQLite, where one process serves the database.
pub(crate) async fn announce(db: &impl ConnectionTrait, session_id: &str) -> StoreResult<()> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [NOTIFY_CHANNEL.into(), session_id.into()],
    ))
    .await?;
    Ok(())
}

/// The sessions with new events, as any replica announces them: `None` on
/// SQLite (one process; it wakes its streams itself).
pub async fn listen(store: &Store) -> StoreResult<Option<EventAnnouncements>> {
    if store.backend() != crate::Backend::Postgres {
        return Ok(None);
    }
    let pool = store.writer().get_postgres_connection_pool();
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(pool)
        .await
        .map_err(|e| crate::StoreError::Open(e.to_string()))?;
    listener
        .listen(NOTIFY_CHANNEL)
        .await
        .map_err(|e| crate::StoreError::Open(e.to_string()))?;
    Ok(Some(EventAnnouncements { listener }))
}

/// A PostgreSQL listener on [`NOTIFY_CHANNEL`].
pub struct EventAnnouncements {
    listener: sea_orm::sqlx::postgres::PgListener,
}

impl EventAnnouncements {
    /// The next session with new events. A lost connection is re-established
    /// by sqlx; announcements made meanwhile are lost, so the caller wakes
    /// every stream after an error (`Err`).
    pub async fn next(&mut self) -> Result<String, String> {
        self.listener
            .recv()
            .await
            .map(|n| n.payload().to_string())
            .map_err(|e| e.to_string())
    }
}
