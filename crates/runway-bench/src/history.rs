//! A history to measure against: `--history N` finished runs written
//! straight into the server's database (runway-store's bulk writer), spread
//! over `--history-deployments` deployments of the bench's organization.

use std::time::Instant;

use anyhow::Context;
use runway_store::repo::{deployments, history, tenants};
use runway_store::{Store, StoreOptions};
use serde_json::{Value, json};

use crate::server::{Server, setup};

/// What the fill made.
pub struct History {
    /// The deployments holding the history (the first holds the most recent run).
    pub deployments: Vec<String>,
    /// How long writing took.
    pub seconds: f64,
}

/// Seconds between two historical runs: 10 M runs span about a year.
const SPACING_NANOS: i64 = 3_000_000_000;

/// Creates `deployments` deployments and writes `runs` finished runs of
/// them, the newest a minute ago.
pub async fn fill(
    client: &reqwest::Client,
    server: &Server,
    deployments: usize,
    runs: u64,
) -> anyhow::Result<History> {
    let (_, ids) = setup(client, server, deployments.max(1)).await?;
    let store = Store::open(&StoreOptions::new(&server.database_url))
        .await
        .context("opening the server's database")?;
    let org = tenants::find_organization(&store, "default")
        .await?
        .context("the bootstrapped organization")?;
    let mut models = Vec::new();
    for id in &ids {
        models.push(
            deployments::get(&store, &org.id, id)
                .await?
                .context("a deployment just created")?,
        );
    }
    let until = runway_store::time::now_nanos() - 60_000_000_000;
    let start = Instant::now();
    let mut last_report = Instant::now();
    history::fill(&store, &models, runs, until, SPACING_NANOS, |written| {
        if last_report.elapsed().as_secs() >= 10 {
            eprintln!("runway-bench: {written} of {runs} historical runs written");
            last_report = Instant::now();
        }
    })
    .await?;
    let seconds = start.elapsed().as_secs_f64();
    store.close().await;
    Ok(History {
        deployments: ids,
        seconds,
    })
}

/// The database's size on disk, in MiB (SQLite: the file and its WAL;
/// PostgreSQL: `pg_database_size`).
pub async fn database_mib(server: &Server) -> anyhow::Result<f64> {
    let bytes = if server.backend() == "sqlite" {
        let path = server
            .database_url
            .trim_start_matches("sqlite://")
            .to_string();
        let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        size(&path) + size(&format!("{path}-wal"))
    } else {
        use sea_orm::ConnectionTrait;
        let store = Store::open(&StoreOptions::new(&server.database_url)).await?;
        let row = store
            .reader()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_database_size(current_database()) AS size",
            ))
            .await?
            .context("a size")?;
        let size: i64 = row.try_get("", "size")?;
        store.close().await;
        size as u64
    };
    Ok((bytes as f64 / 1048576.0 * 10.0).round() / 10.0)
}

/// The fill's figures for a report.
pub fn report(history: &History, runs: u64) -> Value {
    json!({
        "runs": runs,
        "deployments": history.deployments.len(),
        "fill_seconds": (history.seconds * 10.0).round() / 10.0,
        "fill_runs_per_second": if history.seconds > 0.0 { (runs as f64 / history.seconds).round() } else { 0.0 },
    })
}
