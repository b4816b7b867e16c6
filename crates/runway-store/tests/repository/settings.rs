//! SQLite's connection settings, as documented.

use runway_store::Store;

/// A SQLite `PRAGMA`'s value on `db`'s connection, as text.
pub async fn pragma(db: &sea_orm::DatabaseConnection, name: &str) -> String {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            format!("PRAGMA {name}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0)
        .map(|n| n.to_string())
        .or_else(|_| row.try_get_by_index::<String>(0))
        .unwrap()
}

/// SQLite's settings on both pools: WAL, durable commits, foreign keys;
/// the writer's statement journals in memory (a trigger batch's multi-row
/// inserts otherwise spill them to a temporary file: a tenth of the
/// server's CPU), back after the migrations, which sort on disk; the
/// readers' temporary storage left to files (their sorts stay bounded);
/// every connection with stable query plans (a statement whose plan looked
/// at a bound value, such as any `LIMIT ?`, is otherwise parsed again at
/// each execution); no memory statistics (they serialize every allocation
/// of every connection on one mutex).
pub async fn sqlite_connections_are_set_up_as_documented(store: &Store) {
    if store.backend() != runway_store::Backend::Sqlite {
        return;
    }
    for (pool, db, temp_store) in [("writer", store.writer(), 2), ("reader", store.reader(), 0)] {
        let mut seen = Vec::new();
        for name in ["journal_mode", "synchronous", "foreign_keys", "temp_store"] {
            seen.push(format!("{name}={}", pragma(db, name).await));
        }
        assert_eq!(
            seen.join(" "),
            format!("journal_mode=wal synchronous=2 foreign_keys=1 temp_store={temp_store}"),
            "{pool}"
        );
    }
    // Each pool's every connection at once, so the pool opens all of them.
    for (pool, db, connections) in [
        ("writer", store.writer(), 1),
        ("reader", store.reader(), store.max_connections()),
    ] {
        let sqlite = db.get_sqlite_connection_pool();
        let mut held = Vec::new();
        for _ in 0..connections {
            held.push(sqlite.acquire().await.unwrap());
        }
        for connection in &mut held {
            let stable = runway_store::sqlite_settings::stable_plans(connection)
                .await
                .unwrap();
            assert!(stable, "a {pool} connection plans by bound values");
        }
    }
    assert!(!runway_store::sqlite_settings::memory_statistics_kept());
}
