//! Throw-away databases for tests: a SQLite file in a temporary directory,
//! or a fresh PostgreSQL database that is dropped when the test ends.
//!
//! PostgreSQL tests use `RUNWAY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`). When no server answers they fail
//! under `CI=true` and are skipped, loudly, otherwise.

use std::str::FromStr;

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use crate::{Store, StoreOptions};

/// The PostgreSQL server tests create their databases on.
pub fn postgres_base_url() -> String {
    std::env::var("RUNWAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A migrated store on a database that exists only for this test.
pub struct TestDatabase {
    store: Store,
    url: String,
    _cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { name: String },
}

impl TestDatabase {
    /// A migrated SQLite store in a new temporary directory.
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("runway.db").display());
        let store = open(&url).await;
        TestDatabase {
            store,
            url,
            _cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A migrated store on a new PostgreSQL database, or `None` (after a loud
    /// message) when no server answers outside CI.
    pub async fn postgres() -> Option<TestDatabase> {
        let (url, name) = Self::new_postgres_database().await?;
        let store = open(&url).await;
        Some(TestDatabase {
            store,
            url,
            _cleanup: Cleanup::Postgres { name },
        })
    }

    /// The URL of a new, empty PostgreSQL database (no migration applied),
    /// dropped when the guard drops; `None` as for [`Self::postgres`].
    pub async fn postgres_empty() -> Option<EmptyPostgres> {
        let (url, name) = Self::new_postgres_database().await?;
        Some(EmptyPostgres {
            url,
            _cleanup: Cleanup::Postgres { name },
        })
    }

    async fn new_postgres_database() -> Option<(String, String)> {
        let base = postgres_base_url();
        let admin = format!("{base}/postgres");
        let mut conn = match PgConnectOptions::from_str(&admin)
            .expect("RUNWAY_TEST_POSTGRES_URL is a postgres:// URL")
            .connect()
            .await
        {
            Ok(conn) => conn,
            Err(err) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL at {base} is required under CI=true: {err}");
                }
                eprintln!(
                    "\n*** SKIPPING a PostgreSQL test: no server at {base} ({err}).\n\
                     *** Start one or set RUNWAY_TEST_POSTGRES_URL; CI=true makes this a failure.\n"
                );
                return None;
            }
        };
        let name = format!("runway_test_{}", uuid::Uuid::now_v7().simple());
        // `name` is generated above from hex digits only.
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        let _ = conn.close().await;
        Some((format!("{base}/{name}"), name))
    }

    /// The migrated store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database URL, to open more stores (replicas) on the same data.
    pub fn url(&self) -> &str {
        &self.url
    }
}

async fn open(url: &str) -> Store {
    let store = Store::open(&StoreOptions::new(url))
        .await
        .expect("open test store");
    store.migrate().await.expect("migrate test store");
    store
}

/// A new, empty PostgreSQL database: [`TestDatabase::postgres_empty`].
pub struct EmptyPostgres {
    pub url: String,
    _cleanup: Cleanup,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Cleanup::Postgres { name } = &self else {
            return;
        };
        // Drop runs outside any async context we could borrow, and must work
        // even while a failed test unwinds: use a private runtime on a thread.
        let admin = format!("{}/postgres", postgres_base_url());
        let name = name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnectOptions::from_str(&admin)
                    .expect("url")
                    .connect()
                    .await
                {
                    let _ = conn
                        .execute(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Panics unless every deployment's `active_runs` equals its pending and
/// running runs as counted: the slot count must never drift from the runs.
pub async fn assert_slot_counts(store: &Store) {
    use std::collections::HashMap;

    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

    use crate::entity::{deployment, deployment_run};
    use runway_api::enums::RunStatus;

    let counted: HashMap<String, i64> = deployment_run::Entity::find()
        .select_only()
        .column(deployment_run::Column::DeploymentId)
        .column_as(deployment_run::Column::Id.count(), "active")
        .filter(deployment_run::Column::Status.is_in(RunStatus::ACTIVE))
        .group_by(deployment_run::Column::DeploymentId)
        .into_tuple::<(String, i64)>()
        .all(store.writer())
        .await
        .expect("count active runs")
        .into_iter()
        .collect();
    let deployments = deployment::Entity::find()
        .all(store.writer())
        .await
        .expect("read deployments");
    let drifted: Vec<String> = deployments
        .iter()
        .filter(|d| d.active_runs != counted.get(&d.id).copied().unwrap_or(0))
        .map(|d| {
            format!(
                "{}: active_runs {} but {} pending or running",
                d.id,
                d.active_runs,
                counted.get(&d.id).copied().unwrap_or(0)
            )
        })
        .collect();
    assert!(drifted.is_empty(), "slot counts drifted: {drifted:#?}");
}
