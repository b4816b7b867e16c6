//! What a database's migrations say to this build: one a newer runway
//! migrated is refused by name, by `migrate` (a start) and by the
//! read-only check (`prune`), not as a "missing migration file".

use runway_store::{Store, StoreError};
use sea_orm::ConnectionTrait;

pub async fn a_database_a_newer_runway_migrated_is_named_so(store: &Store) {
    assert_eq!(
        store.pending_migrations().await.unwrap(),
        Vec::<String>::new()
    );
    store
        .writer()
        .execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) \
             VALUES ('m20991231_000099_from_the_future', 0)",
        )
        .await
        .unwrap();
    let newer =
        "it was migrated by a newer runway (m20991231_000099_from_the_future): use that one";
    for refused in [
        store.migrate().await.map(drop),
        store.pending_migrations().await.map(drop),
    ] {
        match refused {
            Err(StoreError::Open(reason)) => assert_eq!(reason, newer),
            other => panic!("{other:?}"),
        }
    }
}
