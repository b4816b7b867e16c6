//! Whether the database can be reached: the errors that mean it did not
//! answer (an outage, a failover, a server starting up) rather than that
//! it refused a statement — a caller may retry those — and the first
//! connection to PostgreSQL, which names the cause when it cannot be made.

use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::sqlx::postgres::PgConnectOptions;

use crate::{StoreError, StoreResult};

/// SQLSTATEs of a server that did not serve: the connection exceptions
/// (class 08, by prefix), an administrator's or a crash's shutdown, one
/// starting up or in recovery, too many clients; and SQLite's busy
/// database (past its busy timeout).
const UNAVAILABLE_STATES: [&str; 5] = ["57P01", "57P02", "57P03", "53300", "5"];

/// Whether `err` says the database did not answer, rather than refused.
pub(crate) fn did_not_answer(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || UNAVAILABLE_STATES.contains(&code.as_ref())
        }),
        _ => false,
    }
}

/// Connects to PostgreSQL once, retrying for up to `patience` while it
/// does not answer (refused, unreachable, a name not resolved yet, starting
/// up), so a server that cannot be reached is named with its cause — a pool
/// would wait out its timeout and say only that it timed out. A refusal
/// (an unknown database, a wrong password) ends it at once.
pub(crate) async fn first_connection(
    connect: &PgConnectOptions,
    patience: Duration,
) -> StoreResult<()> {
    use sea_orm::sqlx::Connection;
    const RETRY_PAUSE: Duration = Duration::from_millis(500);
    let server = format!(
        "PostgreSQL at {}:{} (database {:?})",
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or_default()
    );
    let deadline = tokio::time::Instant::now() + patience;
    let mut last: Option<String> = None;
    loop {
        let tried =
            tokio::time::timeout_at(deadline, sqlx::PgConnection::connect_with(connect)).await;
        let (err, transient) = match tried {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Ok(Err(err)) => (err.to_string(), did_not_answer(&err)),
            Err(_) => (
                last.take().unwrap_or_else(|| "no answer".to_string()),
                false,
            ),
        };
        if !transient || tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
            return Err(StoreError::Open(format!(
                "cannot connect to {server}: {err}"
            )));
        }
        if last.is_none() {
            tracing::warn!(%server, %err, patience_s = patience.as_secs(), "cannot connect to PostgreSQL yet; retrying");
        }
        last = Some(err);
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
