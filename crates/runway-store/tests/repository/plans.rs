//! Query plans: every run list (each filter and their combinations, first
//! and later pages), every claim and the reaper's queries read index
//! ranges, never the whole runs table, and lists never sort (the index
//! gives their order) and bound by every equality they have. Checked with
//! the databases' own EXPLAIN on 20,000 historical runs; a query whose
//! index is missing or unusable fails here, on either backend.

use runway_api::enums::{RunStatus, TriggerType};
use runway_store::entity::deployment_run::Entity as DeploymentRun;
use runway_store::page::{Cursor, Key, PageQuery};
use runway_store::repo::runs::{self, RunFilter, RunScope};
use runway_store::repo::{deployments, history, turns};
use runway_store::{Backend, Store};
use sea_orm::{ConnectionTrait, QueryTrait, Select, Statement, TransactionTrait};

const HISTORY: u64 = 20_000;
const SECOND: i64 = 1_000_000_000;

/// Whether a query may sort what its index range yields: lists may not
/// (their order is the index's); a claim sorts the few running unclaimed
/// runs it found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sorting {
    Forbidden,
    Allowed,
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
    let backend = match store.backend() {
        Backend::Sqlite => sea_orm::DbBackend::Sqlite,
        Backend::Postgres => sea_orm::DbBackend::Postgres,
    };
    let statement = select.build(backend);
    let mut faults = Vec::new();
    match store.backend() {
        Backend::Sqlite => {
            let explain = Statement::from_sql_and_values(
                backend,
                format!("EXPLAIN QUERY PLAN {}", statement.sql),
                statement.values.clone().map(|v| v.0).unwrap_or_default(),
            );
            for row in store.reader().query_all_raw(explain).await.unwrap() {
                let detail: String = row.try_get("", "detail").unwrap();
                // `SCAN t` reads the table, `SCAN t USING INDEX i` a whole
                // index; only `SEARCH` seeks a range.
                if detail.starts_with("SCAN") {
                    faults.push(detail.clone());
                }
                if sorting == Sorting::Forbidden && detail.contains("TEMP B-TREE") {
                    faults.push(detail.clone());
                }
                if detail.starts_with("SEARCH") {
                    for column in seek {
                        if !detail.contains(&format!("{column}=?")) {
                            faults.push(format!("{detail} (not bounded by {column})"));
                        }
                    }
                }
            }
        }
        Backend::Postgres => {
            // Sequential scans and sorts priced out: if an index can serve
            // the query, the plan uses it.
            let txn = store.reader().begin().await.unwrap();
            for setting in [
                "SET LOCAL enable_seqscan = off",
                "SET LOCAL enable_sort = off",
            ] {
                txn.execute_unprepared(setting).await.unwrap();
            }
            let explain = Statement::from_sql_and_values(
                backend,
                format!("EXPLAIN {}", statement.sql),
                statement.values.clone().map(|v| v.0).unwrap_or_default(),
            );
            let lines: Vec<String> = txn
                .query_all_raw(explain)
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get("", "QUERY PLAN").unwrap())
                .collect();
            txn.rollback().await.unwrap();
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
                if !bounds.iter().any(|l| {
                    l.contains(&format!("({column}")) || l.contains(&format!(" {column} "))
                }) {
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

pub async fn hot_run_queries_read_index_ranges(store: &Store) {
    let org = super::org(store).await;
    let mut deps = Vec::new();
    for _ in 0..4 {
        let id = super::deployment(store, &org, 1).await;
        deps.push(deployments::get(store, &org, &id).await.unwrap().unwrap());
    }
    let now = super::now();
    history::fill(store, &deps, HISTORY, now, SECOND, |_| {})
        .await
        .unwrap();
    analyze(store).await;

    let mut faults = Vec::new();
    let pages = [
        PageQuery {
            limit: 20,
            cursor: Cursor::Start,
        },
        PageQuery {
            limit: 20,
            cursor: Cursor::After(Key {
                at: now - 500 * SECOND,
                id: "drun_x".into(),
            }),
        },
        PageQuery {
            limit: 20,
            cursor: Cursor::Before(Key {
                at: now - 500 * SECOND,
                id: "drun_x".into(),
            }),
        },
    ];
    let mut lists = 0;
    for filter in filters(&deps[0].id, now) {
        let scope = match &filter.deployment_id {
            Some(id) => RunScope::Deployment(id),
            None => RunScope::Organization(&org),
        };
        let mut seek = vec![match scope {
            RunScope::Deployment(_) => "deployment_id",
            RunScope::Organization(_) => "org_id",
        }];
        if filter.status.is_some() || filter.trigger_type.is_some() || filter.has_error.is_some() {
            seek.extend(["status", "trigger_type"]);
        }
        for page in &pages {
            for select in runs::list_selects(scope, &filter, page) {
                lists += 1;
                faults.extend(plan_faults(store, &select, Sorting::Forbidden, &seek).await);
            }
        }
    }
    assert!(lists > 1_000, "{lists} list queries explained");

    let envs = [
        deps[0].environment_id.clone(),
        deps[1].environment_id.clone(),
    ];
    for environments in [None, Some(&envs[..1]), Some(&envs[..])] {
        let claim = turns::claim_query(&org, environments, now);
        faults.extend(plan_faults(store, &claim, Sorting::Allowed, &["status"]).await);
    }
    for query in turns::reap_queries(now, 10 * SECOND, 100) {
        faults.extend(plan_faults(store, &query, Sorting::Allowed, &["status"]).await);
    }
    assert!(
        faults.is_empty(),
        "queries that read more than their index range:\n{}",
        faults.join("\n")
    );

    // The lists answer what their filters say, across the merged ranges.
    let page = runs::list(
        store,
        &org,
        &RunFilter {
            has_error: Some(true),
            ..RunFilter::default()
        },
        &pages[0],
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 20);
    assert!(page.has_more);
    assert!(
        page.items.iter().all(|r| r.error_type.is_some()
            && matches!(r.status, RunStatus::Failed | RunStatus::Skipped))
    );
    assert!(
        page.items
            .windows(2)
            .all(|w| (w[0].triggered_at, &w[0].id) > (w[1].triggered_at, &w[1].id)),
        "newest first"
    );
}
