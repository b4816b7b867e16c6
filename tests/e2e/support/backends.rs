//! Each test on SQLite and on PostgreSQL, with the system clock or a
//! manual one.

/// Runs each named `async fn(&TestApp)` once on SQLite and once on
/// PostgreSQL, each on its own fresh database and server.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let app = $crate::support::TestApp::sqlite().await;
                super::$name(&app).await;
                app.shutdown().await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(app) = $crate::support::TestApp::postgres().await else { return };
                super::$name(&app).await;
                app.shutdown().await;
            })*
        }
    };
}

/// Like [`on_every_backend!`] with a manual clock: each named
/// `async fn(&TestApp, Arc<ManualClock>)` runs on both backends, the
/// server's "now" set by the test.
#[macro_export]
macro_rules! on_every_backend_with_clock {
    ($($name:ident),* $(,)?) => {
        mod sqlite_with_clock {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let clock = runway_server::ManualClock::new(runway_store::time::now_nanos());
                let db = runway_store::testing::TestDatabase::sqlite().await;
                let app = $crate::support::TestApp::start(db, clock.clone()).await;
                super::$name(&app, clock).await;
                app.shutdown().await;
            })*
        }
        mod postgres_with_clock {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = runway_store::testing::TestDatabase::postgres().await else { return };
                let clock = runway_server::ManualClock::new(runway_store::time::now_nanos());
                let app = $crate::support::TestApp::start(db, clock.clone()).await;
                super::$name(&app, clock).await;
                app.shutdown().await;
            })*
        }
    };
}
