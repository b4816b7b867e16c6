//! Run lists and the run queries of claims and the reaper.

use runway_api::enums::{RunStatus, TriggerType};
use runway_store::Store;
use runway_store::entity::deployment_run::Column as C;
use runway_store::page::{self, Cursor, Key, PageQuery};
use runway_store::repo::retention::{self, RunCutoffs};
use runway_store::repo::runs::{self, RunFilter, RunScope};
use runway_store::repo::{deployments, history, reaping, turns};
use sea_orm::QueryTrait;

use super::{
    HISTORY, ROW_BOUND, SECOND, Sorting, analyze, backend_of, delete_faults, filters, plan_faults,
    table_scans,
};

pub async fn hot_run_queries_read_index_ranges(store: &Store) {
    let org = crate::org(store).await;
    let mut deps = Vec::new();
    for _ in 0..4 {
        let id = crate::deployment(store, &org, 1).await;
        deps.push(deployments::get(store, &org, &id).await.unwrap().unwrap());
    }
    let now = crate::now();
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
    for query in reaping::reap_queries(now, now, 10 * SECOND, 100) {
        faults.extend(plan_faults(store, &query, Sorting::Allowed, &["status"]).await);
    }
    let next_retry = reaping::next_retry_query();
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
    let org = crate::org(store).await;
    let mut deps = Vec::new();
    for _ in 0..3 {
        let id = crate::deployment(store, &org, 1).await;
        deps.push(deployments::get(store, &org, &id).await.unwrap().unwrap());
    }
    let now = crate::now();
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
