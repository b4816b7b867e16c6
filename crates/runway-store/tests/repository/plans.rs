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
use runway_store::entity::deployment_run::Column as C;
use runway_store::entity::deployment_run::Entity as DeploymentRun;
use runway_store::page::{self, Cursor, Key, PageQuery};
use runway_store::repo::retention::{self, RunCutoffs};
use runway_store::repo::runs::{self, RunFilter, RunScope};
use runway_store::repo::webhooks::{self, deliveries};
use runway_store::repo::{deployments, history, turns};
use runway_store::{Backend, Store};
use sea_orm::{ConnectionTrait, QueryTrait, Select, Statement, TransactionTrait};

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
        let windowed = filter.triggered_after.is_some() || filter.triggered_before.is_some();
        for page in &pages {
            let mut seek = seek.clone();
            if windowed || page.cursor != Cursor::Start {
                seek.push(ROW_BOUND);
            }
            let parts = runs::list_selects(scope, &filter, page);
            for select in &parts {
                lists += 1;
                faults.extend(plan_faults(store, select, Sorting::Forbidden, &seek).await);
            }
            // The statement that runs: the parts' keys, then rows by id.
            if let Some(merged) = page::merged_select(parts, C::TriggeredAt, C::Id, page) {
                faults.extend(table_scans(store, &merged).await);
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
    let next_retry = turns::next_retry_query();
    faults.extend(plan_faults(store, &next_retry, Sorting::Allowed, &["status"]).await);
    // Retention: each expired range (by age, by count and the count's
    // tie), the walk, the count's boundary, the active retries.
    let cutoffs = RunCutoffs {
        keep_before: Some(now - HISTORY as i64 / 2 * SECOND),
        failed_before: Some(now - HISTORY as i64 / 4 * SECOND),
        newest_kept: Some((now - HISTORY as i64 / 3 * SECOND, "drun_x".into())),
    };
    let expired = retention::expired_selects(&deps[0].id, &cutoffs);
    assert!(expired.len() >= 9, "{} ranges", expired.len());
    for select in &expired {
        let seek = ["deployment_id", "status", "trigger_type"];
        faults.extend(plan_faults(store, select, Sorting::Allowed, &seek).await);
    }
    // The walk in time order: from its start, and from a position.
    let walk_until = now - HISTORY as i64 / 2 * SECOND;
    for after in [None, Some((now - HISTORY as i64 * SECOND, "drun_x"))] {
        let walk = retention::runs_in_time_order_select(&org, after, walk_until, 500);
        let seek = ["org_id", ROW_BOUND];
        faults.extend(plan_faults(store, &walk, Sorting::Forbidden, &seek).await);
    }
    let boundary = retention::newest_kept_select(&deps[0].id, 1_000);
    faults.extend(plan_faults(store, &boundary, Sorting::Forbidden, &["deployment_id"]).await);
    // A batch of 200 is deleted through the primary key.
    let batch: Vec<retention::ExpiredRun> = (0..200)
        .map(|i| retention::ExpiredRun {
            id: format!("drun_{i:032x}"),
            org_id: org.clone(),
            session_id: None,
        })
        .collect();
    let delete = runway_store::repo::prune::runs_delete(&batch);
    faults.extend(delete_faults(store, delete.build(backend_of(store))).await);
    let retries = retention::active_retries_select();
    faults.extend(plan_faults(store, &retries, Sorting::Allowed, &["status"]).await);
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

/// Every page of a few filters, forward then backward, against the same
/// filter applied to all the runs: no row twice, none missing, in order.
pub async fn merged_pages_walk_the_filter_exactly(store: &Store) {
    let org = super::org(store).await;
    let mut deps = Vec::new();
    for _ in 0..3 {
        let id = super::deployment(store, &org, 1).await;
        deps.push(deployments::get(store, &org, &id).await.unwrap().unwrap());
    }
    let now = super::now();
    history::fill(store, &deps, 3_000, now, SECOND, |_| {})
        .await
        .unwrap();
    let everything = runs::list(
        store,
        &org,
        &RunFilter::default(),
        &PageQuery {
            limit: 1000,
            cursor: Cursor::Start,
        },
    )
    .await
    .unwrap();
    assert_eq!(everything.items.len(), 1000);
    let mut all = Vec::new();
    let mut cursor = Cursor::Start;
    loop {
        let page = runs::list(
            store,
            &org,
            &RunFilter::default(),
            &PageQuery {
                limit: 1000,
                cursor,
            },
        )
        .await
        .unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(all.len(), 3_000);
    let filters = [
        RunFilter {
            has_error: Some(true),
            ..RunFilter::default()
        },
        RunFilter {
            has_error: Some(false),
            trigger_type: Some(TriggerType::Manual),
            ..RunFilter::default()
        },
        RunFilter {
            deployment_id: Some(deps[1].id.clone()),
            status: Some(RunStatus::Completed),
            triggered_after: Some(now - 2_000 * SECOND),
            triggered_before: Some(now - 500 * SECOND),
            ..RunFilter::default()
        },
    ];
    for filter in filters {
        let expected: Vec<&str> = all
            .iter()
            .filter(|r| {
                filter
                    .deployment_id
                    .as_ref()
                    .is_none_or(|d| *d == r.deployment_id)
                    && filter.status.is_none_or(|s| s == r.status)
                    && filter.trigger_type.is_none_or(|t| t == r.trigger_type)
                    && filter.has_error.is_none_or(|e| e == r.error_type.is_some())
                    && filter.triggered_after.is_none_or(|a| r.triggered_at >= a)
                    && filter.triggered_before.is_none_or(|b| r.triggered_at < b)
            })
            .map(|r| r.id.as_str())
            .collect();
        assert!(
            expected.len() > 40,
            "{} rows for {filter:?}",
            expected.len()
        );
        let mut forward: Vec<String> = Vec::new();
        let mut cursor = Cursor::Start;
        let last_page: Vec<String> = loop {
            let page = runs::list(store, &org, &filter, &PageQuery { limit: 17, cursor })
                .await
                .unwrap();
            let ids: Vec<String> = page.items.iter().map(|r| r.id.clone()).collect();
            forward.extend(ids.iter().cloned());
            match page.next {
                Some(next) => cursor = next,
                None => break ids,
            }
        };
        assert_eq!(forward, expected, "forward pages of {filter:?}");
        // Backward from the oldest page: the pages before it, newest first.
        let mut backward: Vec<String> = last_page.clone();
        let newest = runs::list(
            store,
            &org,
            &filter,
            &PageQuery {
                limit: 1,
                cursor: Cursor::Start,
            },
        )
        .await
        .unwrap();
        assert_eq!(newest.items[0].id, expected[0]);
        let mut cursor = Cursor::Before(Key {
            at: all
                .iter()
                .find(|r| r.id == last_page[0])
                .unwrap()
                .triggered_at,
            id: last_page[0].clone(),
        });
        loop {
            let page = runs::list(store, &org, &filter, &PageQuery { limit: 17, cursor })
                .await
                .unwrap();
            let ids: Vec<String> = page.items.iter().map(|r| r.id.clone()).collect();
            backward.splice(0..0, ids);
            match page.next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        assert_eq!(backward, expected, "backward pages of {filter:?}");
    }
}

/// The delivery workers' claim walks the due index in order (no sort, no
/// seek by endpoint: an endpoint's deliveries include every one it was
/// ever sent).
pub async fn webhook_claims_walk_the_due_index(store: &Store) {
    let claim = deliveries::due_select(super::now(), 256).build(backend_of(store));
    let plan = explain(store, &claim, PricedOut::Yes).await.join("\n");
    let walks_due_index = match store.backend() {
        Backend::Sqlite => {
            plan.contains("SEARCH webhook_deliveries USING INDEX idx_webhook_deliveries_claimable")
                && !plan.contains("TEMP B-TREE")
        }
        Backend::Postgres => {
            plan.contains("idx_webhook_deliveries_claimable")
                && plan.contains("Index Cond: (next_attempt_at <=")
                && !plan.contains("Sort")
                && !plan.contains("Seq Scan")
        }
    };
    assert!(walks_due_index, "{}\n{plan}", claim.sql);
}

/// A claim that meets an endpoint past its share finds the other endpoints
/// with something due by one probe of each one's due index, and seeks each
/// one's due deliveries there, oldest first, without a sort or a walk of
/// other endpoints' deliveries.
pub async fn webhook_claims_seek_an_endpoints_due_deliveries(store: &Store) {
    let busy = std::collections::HashSet::from(["whep_busy"]);
    let probe = deliveries::endpoints_due_select(super::now(), &busy).build(backend_of(store));
    let seek = deliveries::endpoint_due_select("whep_x", super::now(), 64).build(backend_of(store));
    for statement in [&probe, &seek] {
        let plan = explain(store, statement, PricedOut::Yes).await.join("\n");
        let seeks = match store.backend() {
            Backend::Sqlite => plan.contains(
                "INDEX idx_webhook_deliveries_endpoint_due (endpoint_id=? AND next_attempt_at<?)",
            ) && !plan.contains("TEMP B-TREE")
                && !plan.contains("SCAN webhook_deliveries"),
            Backend::Postgres => {
                // The endpoints are read in full (a handful to thousands);
                // each is one probe, never a read of all due deliveries.
                plan.contains("idx_webhook_deliveries_endpoint_due")
                    && (plan.contains("Index Cond: ((endpoint_id =")
                        || plan.contains("Index Cond: (((endpoint_id)::text ="))
                    && !plan.contains("Sort")
                    && !plan.contains("Aggregate")
                    && !plan.contains("Seq Scan on webhook_deliveries")
            }
        };
        assert!(seeks, "{}\n{plan}", statement.sql);
    }
}

/// Deleting an endpoint finds its deliveries' attempts through the
/// endpoint's deliveries, not the organization's.
pub async fn endpoint_deletions_seek_the_endpoint(store: &Store) {
    let delete = webhooks::attempts_delete("we_x").build(backend_of(store));
    let plan = explain(store, &delete, PricedOut::Yes).await.join("\n");
    // Either of the endpoint's indexes, `(endpoint_id, created_at, id)` or
    // `(endpoint_id, status, created_at, id)`, seeks them.
    let by_endpoint = match store.backend() {
        Backend::Sqlite => plan.lines().any(|line| {
            line.contains("SEARCH webhook_deliveries")
                && line.contains("idx_webhook_deliveries_endpoint_")
                && line.ends_with("(endpoint_id=?)")
        }),
        Backend::Postgres => {
            plan.contains("idx_webhook_deliveries_endpoint_")
                && plan.contains("Index Cond: ((endpoint_id)::text =")
                && !plan.contains("Seq Scan")
        }
    };
    assert!(by_endpoint, "{}\n{plan}", delete.sql);
}

/// Switching an endpoint off seeks its pending deliveries, on its parked
/// ones, and the workers' repair the parked ones of each enabled endpoint;
/// its deliveries listed by status seek that status, newest first without
/// a sort; unlisted by status, they walk the endpoint's index in order.
pub async fn endpoint_deliveries_seek_their_status(store: &Store) {
    use runway_api::enums::WebhookDeliveryStatus;
    use runway_store::entity::webhook_delivery::Column as D;
    let backend = backend_of(store);
    let first_page = PageQuery {
        limit: 20,
        cursor: Cursor::Start,
    };
    let list = |status| {
        page::page_select(
            deliveries::list_select("org_x", "we_x", status),
            D::CreatedAt,
            D::Id,
            &first_page,
        )
        .build(backend)
    };
    let by_status = "idx_webhook_deliveries_endpoint_status";
    let statements = [
        (
            deliveries::pending_switch("we_x", false, 1).build(backend),
            by_status,
        ),
        (
            deliveries::pending_switch("we_x", true, 1).build(backend),
            "idx_webhook_deliveries_parked",
        ),
        (list(Some(WebhookDeliveryStatus::Failed)), by_status),
        (list(None), "idx_webhook_deliveries_endpoint_created"),
    ];
    for (statement, index) in statements {
        let plan = explain(store, &statement, PricedOut::Yes).await.join("\n");
        let seeks = match store.backend() {
            Backend::Sqlite => {
                let bound = match index == by_status {
                    true => "(endpoint_id=? AND status=?)",
                    false => "(endpoint_id=?)",
                };
                plan.contains(&format!("USING INDEX {index} {bound}"))
                    && !plan.contains("TEMP B-TREE")
                    && !plan.contains("SCAN webhook_deliveries")
            }
            Backend::Postgres => {
                plan.contains(index) && !plan.contains("Sort") && !plan.contains("Seq Scan")
            }
        };
        assert!(seeks, "{}\n{plan}", statement.sql);
    }
    // The repair's search probes each enabled endpoint's parked deliveries.
    let repair = deliveries::enabled_with_parked(backend);
    let plan = explain(store, &repair, PricedOut::Yes).await.join("\n");
    let probes = match store.backend() {
        Backend::Sqlite => {
            plan.contains("idx_webhook_deliveries_parked (endpoint_id=?)")
                && !plan.contains("SCAN d")
        }
        Backend::Postgres => {
            plan.contains("idx_webhook_deliveries_parked")
                && plan.contains("Index Cond: (endpoint_id = (e.id)::text)")
                && !plan.contains("Seq Scan on webhook_deliveries")
        }
    };
    assert!(probes, "{}\n{plan}", repair.sql);
}

/// A runner's batch of events finds the ones it sent before (a resend)
/// through the session's `(session_id, runner_seq)` index, however long
/// the session.
pub async fn runner_resends_seek_the_session(store: &Store) {
    let lookup = runway_store::repo::events::runner_events_select(
        backend_of(store),
        "sess_x",
        vec![1, 2, 3],
    );
    let plan = explain(store, &lookup, PricedOut::Yes).await.join("\n");
    let seeks = match store.backend() {
        Backend::Sqlite => {
            plan.contains(
                "USING INDEX ux_session_events_runner_seq (session_id=? AND runner_seq=?)",
            ) && !plan.contains("SCAN session_events")
        }
        Backend::Postgres => {
            plan.contains("ux_session_events_runner_seq") && !plan.contains("Seq Scan")
        }
    };
    assert!(seeks, "{}\n{plan}", lookup.sql);
}
