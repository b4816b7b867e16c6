//! The delivery workers' side: record what the endpoints answered (the
//! claims are in `claim.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use runway_api::enums::{WebhookDeliveryStatus, WebhookDisabledReason, WebhookEventType};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IdenStatic,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

use super::pending_switch;
use crate::entity::webhook_attempt::{self, Entity as Attempt};
use crate::entity::webhook_delivery::{self, Entity as Delivery};
use crate::entity::webhook_endpoint::{self, Entity as Endpoint};
use crate::repo::begin;
use crate::repo::webhooks::{Outbox, Subject, Written};
use crate::{Backend, Store, StoreResult};

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub delivery_id: String,
    pub endpoint_id: String,
    pub org_id: String,
    /// The attempt's number (the delivery's attempts before it + 1).
    pub number: i32,
    pub attempted_at: i64,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub response_body: String,
    pub error: Option<String>,
    /// A 2xx in time.
    pub succeeded: bool,
}

/// What recording a round of attempts changed beyond the deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Attempts recorded (an attempt whose delivery was deleted, or taken
    /// over by another worker after its lease, is dropped).
    pub attempts: usize,
    /// Deliveries that succeeded.
    pub succeeded: usize,
    /// Deliveries that failed for good.
    pub failed: usize,
    /// Endpoints disabled for failing too long.
    pub disabled: Vec<String>,
}

/// When a failing endpoint is disabled (nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disabling {
    /// A failing streak this long disables the endpoint.
    pub after: i64,
    /// A failure longer than this after the endpoint's last one starts a
    /// new streak (nothing kept the old one going).
    pub streak_gap: i64,
}

impl Disabling {
    /// No endpoint is ever disabled.
    pub const NEVER: Disabling = Disabling {
        after: i64::MAX,
        streak_gap: i64::MAX,
    };
}

/// Records `outcomes` in one transaction: each attempt, its delivery's new
/// state (succeeded; pending again at `next_attempt(number)`; or failed when
/// that is `None`), and each endpoint's failing streak. An endpoint whose
/// streak reaches `disabling.after` is disabled, which emits
/// `webhook_endpoint.disabled` to the organization's other endpoints.
pub async fn record_attempts(
    store: &Store,
    outcomes: Vec<AttemptOutcome>,
    now: i64,
    next_attempt: impl Fn(i32) -> Option<i64>,
    disabling: Disabling,
) -> StoreResult<Recorded> {
    use webhook_delivery::Column as C;
    let mut recorded = Recorded::default();
    let mut written = Written::default();
    let txn = begin(store).await?;
    if outcomes.is_empty() {
        return Ok(recorded);
    }
    // One answer per attempt: a delivery sent twice (its lease ran out
    // mid-send) counts the answer that came first.
    let mut seen = HashSet::with_capacity(outcomes.len());
    let outcomes: Vec<AttemptOutcome> = outcomes
        .into_iter()
        .filter(|o| seen.insert((o.delivery_id.clone(), o.number)))
        .collect();
    if store.backend() == Backend::Postgres {
        // Every path that changes an endpoint and its deliveries (a user's
        // switch, an auto-disable, a failing streak) locks the endpoint
        // first: two replicas recording, or a recorder and a switch, wait
        // for each other instead of deadlocking.
        let mut touched: Vec<&str> = outcomes.iter().map(|o| o.endpoint_id.as_str()).collect();
        touched.sort_unstable();
        touched.dedup();
        Endpoint::find()
            .filter(webhook_endpoint::Column::Id.is_in(touched))
            .order_by_asc(webhook_endpoint::Column::Id)
            .lock_exclusive()
            .all(&txn)
            .await?;
    }
    // Each delivery's new state; deliveries going to the same state (most
    // often: succeeded at the first attempt) are updated by one statement.
    // An endpoint's failures of one attempt number in a batch retry at one
    // (jittered) instant, so they group too; each endpoint draws its own
    // jitter, so endpoints that failed together do not retry together.
    let mut retry_at: HashMap<(i32, &str), Option<i64>> = HashMap::new();
    let mut states = Vec::with_capacity(outcomes.len());
    let mut groups: BTreeMap<(&'static str, i32, Option<i64>), Vec<&str>> = BTreeMap::new();
    for outcome in &outcomes {
        let (status, next) = if outcome.succeeded {
            (WebhookDeliveryStatus::Succeeded, None)
        } else {
            let next = *retry_at
                .entry((outcome.number, outcome.endpoint_id.as_str()))
                .or_insert_with(|| next_attempt(outcome.number));
            match next {
                Some(at) => (WebhookDeliveryStatus::Pending, Some(at)),
                None => (WebhookDeliveryStatus::Failed, None),
            }
        };
        groups
            .entry((status.name(), outcome.number, next))
            .or_default()
            .push(outcome.delivery_id.as_str());
        states.push(status);
    }
    let mut updated = HashSet::with_capacity(outcomes.len());
    for ((status, number, next), ids) in groups {
        // Only the worker holding the claim records: the attempt count is
        // still the one it claimed, and the delivery is still pending.
        let mut update = sea_orm::sea_query::Query::update()
            .table(Delivery)
            .value(C::Status, status)
            .value(C::AttemptCount, number)
            .value(C::NextAttemptAt, next)
            .value(C::UpdatedAt, now)
            .and_where(C::Id.is_in(ids))
            .and_where(C::AttemptCount.eq(number - 1))
            .and_where(C::Status.eq(WebhookDeliveryStatus::Pending))
            .returning_col(C::Id)
            .to_owned();
        if next.is_none() {
            // Finished: nothing left to park (a retry stays parked).
            update.value(C::ParkedAt, Option::<i64>::None);
        }
        for row in txn.query_all(&update).await? {
            updated.insert(row.try_get::<String>("", C::Id.as_str())?);
        }
    }
    let mut attempts = Vec::with_capacity(updated.len());
    let mut failing: Vec<String> = Vec::new();
    let mut answering: Vec<String> = Vec::new();
    for (outcome, status) in outcomes.into_iter().zip(states) {
        if !updated.contains(&outcome.delivery_id) {
            continue;
        }
        match status {
            WebhookDeliveryStatus::Failed => recorded.failed += 1,
            WebhookDeliveryStatus::Succeeded => recorded.succeeded += 1,
            WebhookDeliveryStatus::Pending => {}
        }
        if outcome.succeeded {
            answering.push(outcome.endpoint_id.clone());
        } else {
            failing.push(outcome.endpoint_id.clone());
        }
        attempts.push(webhook_attempt::ActiveModel::from(webhook_attempt::Model {
            delivery_id: outcome.delivery_id,
            number: outcome.number,
            org_id: outcome.org_id,
            attempted_at: outcome.attempted_at,
            status_code: outcome.status_code,
            latency_ms: outcome.latency_ms,
            response_body: outcome.response_body,
            error: outcome.error,
        }));
    }
    recorded.attempts = attempts.len();
    if !attempts.is_empty() {
        Attempt::insert_many(attempts)
            .exec_without_returning(&txn)
            .await?;
    }
    // One success ends a streak; the first failure after one starts it, and
    // so does a failure long after the last (every delivery had finished:
    // the endpoint was not called, so it was not failing).
    failing.retain(|id| !answering.contains(id));
    failing.sort();
    failing.dedup();
    if !answering.is_empty() {
        Endpoint::update_many()
            .col_expr(
                webhook_endpoint::Column::FailingSince,
                Expr::value(Option::<i64>::None),
            )
            .filter(webhook_endpoint::Column::Id.is_in(answering))
            .filter(webhook_endpoint::Column::FailingSince.is_not_null())
            .exec(&txn)
            .await?;
    }
    if !failing.is_empty() {
        use webhook_endpoint::Column as E;
        Endpoint::update_many()
            .col_expr(E::FailingSince, Expr::value(now))
            .filter(E::Id.is_in(failing.clone()))
            .filter(
                Condition::any()
                    .add(E::FailingSince.is_null())
                    .add(E::LastFailedAt.is_null())
                    .add(E::LastFailedAt.lt(now.saturating_sub(disabling.streak_gap))),
            )
            .exec(&txn)
            .await?;
        Endpoint::update_many()
            .col_expr(E::LastFailedAt, Expr::value(now))
            .filter(E::Id.is_in(failing.clone()))
            .exec(&txn)
            .await?;
        let worn_out = Endpoint::find()
            .filter(webhook_endpoint::Column::Id.is_in(failing))
            .filter(webhook_endpoint::Column::Enabled.eq(true))
            .filter(webhook_endpoint::Column::FailingSince.lte(now.saturating_sub(disabling.after)))
            .order_by_asc(webhook_endpoint::Column::Id)
            .lock_exclusive()
            .all(&txn)
            .await?;
        if !worn_out.is_empty() {
            let mut disabled = Vec::with_capacity(worn_out.len());
            for mut row in worn_out {
                row.enabled = false;
                row.disabled_reason = Some(WebhookDisabledReason::Failing);
                row.updated_at = now;
                let row = row.into_active_model().reset_all().update(&txn).await?;
                pending_switch(&row.id, false, now).exec(&txn).await?;
                disabled.push(row);
            }
            // Loaded after disabling them all: endpoints disabled together
            // are not told about each other.
            let mut outbox =
                Outbox::load(&txn, store, disabled.iter().map(|e| e.org_id.as_str())).await?;
            for row in disabled {
                outbox.emit(
                    &row.org_id,
                    WebhookEventType::WebhookEndpointDisabled,
                    Subject::Endpoint(&row),
                    now,
                )?;
                recorded.disabled.push(row.id);
            }
            written = outbox.write(&txn).await?;
        }
    }
    let changed = store.webhooks().changing(recorded.disabled.clone());
    txn.commit().await?;
    drop(changed);
    store.webhooks().dispatch(written);
    Ok(recorded)
}
