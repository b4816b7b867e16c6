//! The delivery workers' claims: due deliveries taken for a lease, oldest
//! due first, endpoints past their share last.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::webhook_delivery::{self, Entity as Delivery};
use crate::entity::webhook_endpoint::{self, Entity as Endpoint};
use crate::repo::begin;
use crate::{Store, StoreResult};

/// A delivery a worker took, with the endpoint it goes to.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: webhook_delivery::Model,
    pub endpoint: webhook_endpoint::Model,
}

/// Up to `limit` due deliveries of enabled endpoints, oldest due first,
/// locked (skipping rows other workers hold, on PostgreSQL). It walks the
/// index of unparked due deliveries in order (parked ones, of disabled
/// endpoints, are not in it). It still tests the endpoint: on PostgreSQL an
/// event's transaction reads the endpoints without locking them, so one
/// committing while an endpoint is disabled may write it an unparked
/// delivery. That test is a correlated `EXISTS`, because as `endpoint_id
/// IN (enabled endpoints)` SQLite's planner seeks each enabled endpoint's
/// deliveries instead — every delivery it ever had, delivered ones
/// included — and sorts them.
pub fn due_select(now: i64, limit: u64) -> sea_orm::Select<Delivery> {
    use webhook_delivery::Column as C;
    let enabled = sea_orm::sea_query::Query::select()
        .expr(Expr::val(1))
        .from(Endpoint)
        .and_where(
            Expr::col((Endpoint, webhook_endpoint::Column::Id)).equals((Delivery, C::EndpointId)),
        )
        .and_where(webhook_endpoint::Column::Enabled.eq(true))
        .to_owned();
    Delivery::find()
        .filter(C::NextAttemptAt.lte(now))
        .filter(C::ParkedAt.is_null())
        .filter(Expr::exists(enabled))
        .order_by_asc(C::NextAttemptAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
}

/// Takes up to `limit` due deliveries of enabled endpoints, oldest due
/// first, and moves their due time to `now + lease`: until then no other
/// worker takes them, and if this one dies they come due again. On
/// PostgreSQL rows other workers are claiming are skipped (`SKIP LOCKED`),
/// so replicas share the work without sending one delivery twice.
pub async fn claim_due(
    store: &Store,
    now: i64,
    limit: u64,
    lease: i64,
) -> StoreResult<Vec<Claimed>> {
    Ok(claim_due_placing(
        store,
        now,
        limit,
        lease,
        Sharing {
            per_endpoint: limit,
            keep_free: 0,
        },
        |_| Place::Claim,
    )
    .await?
    .claimed)
}

/// What a claim does with one due delivery, by its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Take it: its endpoint has room.
    Claim,
    /// Its endpoint has had its share: take it after the other endpoints'
    /// due deliveries, into the room beyond [`Sharing::keep_free`].
    Last,
}

/// What a claim took.
#[derive(Debug, Default)]
pub struct ClaimRound {
    pub claimed: Vec<Claimed>,
    /// It took as many as it could: more may be due.
    pub full: bool,
    /// It left due deliveries that go last (of endpoints past their share)
    /// for want of room beyond what it keeps free.
    pub left_last: bool,
}

/// The enabled endpoints but `busy` with a delivery due at `now`: one probe
/// of each endpoint's due index. A scalar subquery, not `EXISTS`, which
/// PostgreSQL turns into a join that reads every due delivery (the busy
/// endpoints' backlog included) to find the endpoints.
pub fn endpoints_due_select(now: i64, busy: &HashSet<&str>) -> sea_orm::Select<Endpoint> {
    use webhook_delivery::Column as C;
    let first_due = sea_orm::sea_query::Query::select()
        .column((Delivery, C::NextAttemptAt))
        .from(Delivery)
        .and_where(
            Expr::col((Delivery, C::EndpointId)).equals((Endpoint, webhook_endpoint::Column::Id)),
        )
        .and_where(Expr::col((Delivery, C::NextAttemptAt)).lte(now))
        .and_where(Expr::col((Delivery, C::ParkedAt)).is_null())
        .limit(1)
        .to_owned();
    Endpoint::find()
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .filter(webhook_endpoint::Column::Id.is_not_in(busy.iter().copied()))
        .filter(Expr::SubQuery(None, Box::new(first_due.into())).is_not_null())
}

/// One endpoint's due deliveries, oldest due first (through
/// `idx_webhook_deliveries_endpoint_due`), not locked: a claim locks only
/// those it picks.
pub fn endpoint_due_select(endpoint_id: &str, now: i64, limit: u64) -> sea_orm::Select<Delivery> {
    use webhook_delivery::Column as C;
    Delivery::find()
        .filter(C::EndpointId.eq(endpoint_id))
        .filter(C::NextAttemptAt.lte(now))
        .filter(C::ParkedAt.is_null())
        .order_by_asc(C::NextAttemptAt)
        .limit(limit)
}

/// How a claim shares its room between endpoints.
#[derive(Debug, Clone, Copy)]
pub struct Sharing {
    /// The most due deliveries of one endpoint sought when looking past
    /// busy endpoints (an endpoint's share).
    pub per_endpoint: u64,
    /// Room the claim leaves unfilled rather than give it to deliveries
    /// that go last, so that other endpoints' next deliveries start at
    /// once.
    pub keep_free: u64,
}

/// As [`claim_due`], but fair between endpoints: `place` (called with each
/// due delivery's endpoint, oldest due first) says which endpoints have had
/// their share. Their deliveries go last — taken only with room left after
/// the other endpoints' due deliveries, and then only up to
/// `limit - keep_free`. When the walk of the due index meets such
/// deliveries with its limit reached, the other endpoints' due deliveries
/// may lie behind them: it then finds the enabled endpoints with something
/// due (a probe of each one's due index, in one query) and seeks each one's
/// oldest, up to its share, never walking the busy endpoints' backlog — a
/// cost in endpoints, paid only while one is past its share with more due.
/// Of what it seeks it locks only what it takes.
pub async fn claim_due_placing(
    store: &Store,
    now: i64,
    limit: u64,
    lease: i64,
    sharing: Sharing,
    mut place: impl FnMut(&str) -> Place,
) -> StoreResult<ClaimRound> {
    use webhook_delivery::Column as C;
    let txn = begin(store).await?;
    let head = due_select(now, limit).all(&txn).await?;
    let limit = limit as usize;
    let walked_all = head.len() < limit;
    let mut taken = Vec::with_capacity(head.len());
    let mut last = Vec::new();
    for delivery in head {
        match place(&delivery.endpoint_id) {
            Place::Claim => taken.push(delivery),
            Place::Last => last.push(delivery),
        }
    }
    if !walked_all && !last.is_empty() && taken.len() < limit {
        let busy: HashSet<&str> = last.iter().map(|d| d.endpoint_id.as_str()).collect();
        let others = endpoints_due_select(now, &busy)
            .select_only()
            .column(webhook_endpoint::Column::Id)
            .into_tuple::<String>()
            .all(&txn)
            .await?;
        let seen: HashSet<&str> = taken.iter().map(|d| d.id.as_str()).collect();
        let room = (limit - taken.len()) as u64;
        let mut found = Vec::new();
        for endpoint_id in others {
            let seek = endpoint_due_select(&endpoint_id, now, Ord::min(sharing.per_endpoint, room));
            let due = seek.all(&txn).await?;
            found.extend(due.into_iter().filter(|d| !seen.contains(d.id.as_str())));
        }
        found.sort_by_key(|d| d.next_attempt_at);
        let mut picked = Vec::new();
        for delivery in found {
            if taken.len() + picked.len() == limit {
                break;
            }
            if place(&delivery.endpoint_id) == Place::Claim {
                picked.push(delivery.id);
            }
        }
        if !picked.is_empty() {
            // Locked now, skipping what another worker claims meanwhile.
            let locked = Delivery::find()
                .filter(C::Id.is_in(picked))
                .filter(C::NextAttemptAt.lte(now))
                .filter(C::ParkedAt.is_null())
                .order_by_asc(C::NextAttemptAt)
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .all(&txn)
                .await?;
            taken.extend(locked);
        }
    }
    let lendable = limit.saturating_sub(sharing.keep_free as usize);
    let lent = lendable.saturating_sub(taken.len()).min(last.len());
    let left_last = lent < last.len();
    taken.extend(last.into_iter().take(lent));
    let full = taken.len() == limit;
    if taken.is_empty() {
        return Ok(ClaimRound {
            left_last,
            ..ClaimRound::default()
        });
    }
    let ids: Vec<&str> = taken.iter().map(|d| d.id.as_str()).collect();
    Delivery::update_many()
        .col_expr(C::NextAttemptAt, Expr::value(now + lease))
        .filter(C::Id.is_in(ids))
        .exec(&txn)
        .await?;
    let endpoint_ids: Vec<&str> = taken.iter().map(|d| d.endpoint_id.as_str()).collect();
    let endpoints: HashMap<String, webhook_endpoint::Model> = Endpoint::find()
        .filter(webhook_endpoint::Column::Id.is_in(endpoint_ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    txn.commit().await?;
    let claimed = taken
        .into_iter()
        .filter_map(|mut delivery| {
            let endpoint = endpoints.get(&delivery.endpoint_id)?.clone();
            delivery.next_attempt_at = Some(now + lease);
            Some(Claimed { delivery, endpoint })
        })
        .collect();
    Ok(ClaimRound {
        claimed,
        full,
        left_last,
    })
}
