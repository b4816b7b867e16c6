//! Webhook deliveries' claims, an endpoint's deletion, switch and lists,
//! and a runner's resent events.

use runway_store::page::{self, Cursor, PageQuery};
use runway_store::repo::webhooks::{self, deliveries};
use runway_store::{Backend, Store};
use sea_orm::QueryTrait;

use super::{PricedOut, backend_of, explain};

/// The delivery workers' claim walks the due index in order (no sort, no
/// seek by endpoint: an endpoint's deliveries include every one it was
/// ever sent).
pub async fn webhook_claims_walk_the_due_index(store: &Store) {
    let claim = deliveries::due_select(crate::now(), 256).build(backend_of(store));
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
    let probe = deliveries::endpoints_due_select(crate::now(), &busy).build(backend_of(store));
    let seek = deliveries::endpoint_due_select("whep_x", crate::now(), 64).build(backend_of(store));
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
