//! Query plans: every run list (each filter and their combinations, first
//! and later pages), every claim and the reaper's queries read index
//! ranges, never the whole runs table, and lists never sort (the index
//! gives their order) and bound by every equality they have. Checked with
//! the databases' own EXPLAIN on 20,000 historical runs; a query whose
//! index is missing or unusable fails here, on either backend. The webhook
//! delivery claim walks its due index; an endpoint's deletion, its switch
//! on or off and its deliveries' list seek its deliveries; a runner's
//! resent events are found by session.

use runway_api::enums::{RunStatus, TriggerType};
use runway_store::entity::deployment_run::Entity as DeploymentRun;
use runway_store::repo::runs::RunFilter;
use runway_store::{Backend, Store};
use sea_orm::{ConnectionTrait, QueryTrait, Select, Statement, TransactionTrait};

mod run_lists;
mod seeks;

pub use run_lists::*;
pub use seeks::*;

const HISTORY: u64 = 20_000;
/// In a `seek` list: the page's `(triggered_at, id)` bound (a cursor or a
/// window) must bound the index range too, or a deep page walks the rows
/// before it.
const ROW_BOUND: &str = "(triggered_at, id)";
const SECOND: i64 = 1_000_000_000;

/// Whether a query may sort what its index range yields: lists may not
/// (their order is the index's); a claim sorts the few running unclaimed
/// runs it found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sorting {
    Forbidden,
    Allowed,
}

/// Whether PostgreSQL's planner may choose sequential scans and sorts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PricedOut {
    /// Sequential scans and sorts priced out: if an index can serve the
    /// query, the plan uses it.
    Yes,
    No,
}

/// The lines of the database's own plan of `statement` (SQLite's `EXPLAIN
/// QUERY PLAN` details, PostgreSQL's `EXPLAIN`).
async fn explain(store: &Store, statement: &Statement, priced_out: PricedOut) -> Vec<String> {
    let (prefix, column) = match store.backend() {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
        Backend::Postgres => ("EXPLAIN", "QUERY PLAN"),
    };
    let explain = Statement::from_sql_and_values(
        statement.db_backend,
        format!("{prefix} {}", statement.sql),
        statement.values.clone().map(|v| v.0).unwrap_or_default(),
    );
    let txn = store.reader().begin().await.unwrap();
    if store.backend() == Backend::Postgres && priced_out == PricedOut::Yes {
        for setting in [
            "SET LOCAL enable_seqscan = off",
            "SET LOCAL enable_sort = off",
        ] {
            txn.execute_unprepared(setting).await.unwrap();
        }
    }
    let lines = txn
        .query_all_raw(explain)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", column).unwrap())
        .collect();
    txn.rollback().await.unwrap();
    lines
}

/// What is wrong with the plan of `select`, if anything. `seek` names the
/// columns its index range must be bounded by (every equality the query
/// has), so an index that only gives the order, filtering the rest as it
/// walks, is a fault too.
async fn plan_faults(
    store: &Store,
    select: &Select<DeploymentRun>,
    sorting: Sorting,
    seek: &[&str],
) -> Vec<String> {
    let statement = select.build(backend_of(store));
    let mut faults = Vec::new();
    match store.backend() {
        Backend::Sqlite => {
            for detail in explain(store, &statement, PricedOut::No).await {
                // `SCAN t` reads the table, `SCAN t USING INDEX i` a whole
                // index; only `SEARCH` seeks a range. (`SCAN p0`, a union
                // part's few rows, is no table.)
                if detail.starts_with("SCAN deployment_runs") {
                    faults.push(detail.clone());
                }
                if sorting == Sorting::Forbidden && detail.contains("TEMP B-TREE") {
                    faults.push(detail.clone());
                }
                if detail.starts_with("SEARCH") {
                    for column in seek {
                        let bound = match *column {
                            ROW_BOUND => "(triggered_at,id)".to_string(),
                            column => format!("{column}=?"),
                        };
                        if !detail.contains(&bound) {
                            faults.push(format!("{detail} (not bounded by {column})"));
                        }
                    }
                }
            }
        }
        Backend::Postgres => {
            let lines = explain(store, &statement, PricedOut::Yes).await;
            let plan = lines.join("\n");
            if plan.contains("Seq Scan") {
                faults.push(plan.clone());
            }
            if sorting == Sorting::Forbidden && plan.contains("Sort") {
                faults.push(plan.clone());
            }
            // An index scan without a condition walks the whole index.
            let bounds: Vec<&String> = lines.iter().filter(|l| l.contains("Index Cond")).collect();
            if bounds.is_empty() {
                faults.push(plan.clone());
            }
            for column in seek {
                let bounded = |l: &&&String| match *column {
                    ROW_BOUND => l.contains("ROW(triggered_at, "),
                    column => {
                        l.contains(&format!("({column}")) || l.contains(&format!(" {column} "))
                    }
                };
                if !bounds.iter().any(|l| bounded(&l)) {
                    faults.push(format!("{plan}\n(not bounded by {column})"));
                }
            }
        }
    }
    if !faults.is_empty() {
        faults.insert(0, statement.to_string());
    }
    faults
}

fn backend_of(store: &Store) -> sea_orm::DbBackend {
    match store.backend() {
        Backend::Sqlite => sea_orm::DbBackend::Sqlite,
        Backend::Postgres => sea_orm::DbBackend::Postgres,
    }
}

/// What is wrong with the plan of a DELETE of runs by id: anything but the
/// primary key.
async fn delete_faults(store: &Store, statement: Statement) -> Vec<String> {
    let plan = explain(store, &statement, PricedOut::No).await;
    let text = plan.join("\n");
    let by_key = text.contains("sqlite_autoindex_deployment_runs_1 (id=?)")
        || text.contains("deployment_runs_pkey");
    if by_key {
        Vec::new()
    } else {
        vec![format!("{}\n{text}", statement.sql)]
    }
}

/// Whether `select` reads the runs table whole (the merged statement:
/// its parts are checked one by one; here only that nothing around them
/// scans, and its sort of a page's keys is allowed).
async fn table_scans(store: &Store, select: &Select<DeploymentRun>) -> Vec<String> {
    let faults = plan_faults(store, select, Sorting::Allowed, &[]).await;
    faults
        .into_iter()
        .filter(|f| f.contains("SCAN deployment_runs") || f.contains("Seq Scan"))
        .collect()
}

/// Gives the planner what it has in production: PostgreSQL's autovacuum
/// keeps statistics; runway's SQLite has none (nothing runs ANALYZE), so
/// its planner prefers the index matching the most constraints.
async fn analyze(store: &Store) {
    if store.backend() == Backend::Postgres {
        store
            .writer()
            .execute_unprepared("ANALYZE deployment_runs")
            .await
            .unwrap();
    }
}

/// Every filter the API offers, alone and combined; the time range holds
/// the older half of the history.
fn filters(deployment_id: &str, now: i64) -> Vec<RunFilter> {
    let mut statuses: Vec<Option<RunStatus>> = vec![None];
    statuses.extend(RunStatus::ALL.iter().copied().map(Some));
    let mut triggers: Vec<Option<TriggerType>> = vec![None];
    triggers.extend(TriggerType::ALL.iter().copied().map(Some));
    let mut all = Vec::new();
    for deployment in [None, Some(deployment_id.to_string())] {
        for status in &statuses {
            for trigger_type in &triggers {
                for has_error in [None, Some(true), Some(false)] {
                    let older_half = (
                        now - HISTORY as i64 * SECOND,
                        now - HISTORY as i64 / 2 * SECOND,
                    );
                    for range in [None, Some(older_half)] {
                        all.push(RunFilter {
                            deployment_id: deployment.clone(),
                            status: *status,
                            trigger_type: *trigger_type,
                            has_error,
                            triggered_after: range.map(|r| r.0),
                            triggered_before: range.map(|r| r.1),
                        });
                    }
                }
            }
        }
    }
    all
}
