//! Deleting what retention no longer keeps, in short transactions: a run
//! with its session and transcript, finished webhook deliveries with their
//! attempts, idempotency keys past their 24 h; and handing the freed
//! SQLite pages back (incremental vacuum). Each call deletes at most what
//! it is given or `limit` rows, so a caller bounds how long the writer is
//! held.

use runway_api::enums::WebhookDeliveryStatus;
use std::time::{Duration, Instant};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use super::retention::ExpiredRun;
use crate::entity::deployment_run::{self, Entity as DeploymentRun};
use crate::entity::idempotency_key::{self, Entity as IdempotencyKey};
use crate::entity::session::{self, Entity as Session};
use crate::entity::session_event::{self, Entity as SessionEvent};
use crate::entity::webhook_attempt::{self, Entity as WebhookAttempt};
use crate::entity::webhook_delivery::{self, Entity as WebhookDelivery};
use crate::{Backend, Store, StoreResult};

/// What one deletion removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub runs: u64,
    pub sessions: u64,
    pub events: u64,
    pub deliveries: u64,
    pub attempts: u64,
    pub idempotency_keys: u64,
}

impl std::ops::AddAssign for Removed {
    fn add_assign(&mut self, other: Removed) {
        self.runs += other.runs;
        self.sessions += other.sessions;
        self.events += other.events;
        self.deliveries += other.deliveries;
        self.attempts += other.attempts;
        self.idempotency_keys += other.idempotency_keys;
    }
}

/// What one deletion removed, and how long its transaction held the
/// writer: from BEGIN (once the connection was got; on SQLite writes queue
/// for it) to the end of COMMIT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub removed: Removed,
    pub held: Duration,
    /// The call found as many rows as it was allowed to take: there may be
    /// more (another process may have deleted some of them meanwhile).
    pub more: bool,
}

/// Runs `write` in a transaction on the writer and times it. On SQLite
/// the transaction is IMMEDIATE: it takes the write lock at BEGIN (waiting
/// for another process's, e.g. `runway prune` beside `serve`, within the
/// busy timeout) instead of failing at its first write.
async fn timed<F>(store: &Store, write: F) -> StoreResult<Deleted>
where
    F: AsyncFnOnce(&DatabaseTransaction) -> StoreResult<Removed>,
{
    let txn = match store.backend() {
        Backend::Sqlite => {
            store
                .writer()
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..TransactionOptions::default()
                })
                .await?
        }
        Backend::Postgres => store.writer().begin().await?,
    };
    let started = Instant::now();
    let removed = write(&txn).await?;
    txn.commit().await?;
    Ok(Deleted {
        removed,
        held: started.elapsed(),
        more: false,
    })
}

fn sessions_of(runs: &[ExpiredRun]) -> Vec<&str> {
    runs.iter()
        .filter_map(|r| r.session_id.as_deref())
        .collect()
}

/// Deletes up to `limit` transcript events of `runs`' sessions, in one
/// transaction; `Deleted::more` says whether `limit` were found (so there
/// may be more). A long transcript goes over several calls, so no call
/// holds the writer long.
pub async fn delete_events(store: &Store, runs: &[ExpiredRun], limit: u64) -> StoreResult<Deleted> {
    let sessions = sessions_of(runs);
    if sessions.is_empty() {
        return Ok(Deleted::default());
    }
    let ids: Vec<String> = SessionEvent::find()
        .select_only()
        .column(session_event::Column::Id)
        .filter(session_event::Column::SessionId.is_in(sessions))
        .limit(limit)
        .into_tuple()
        .all(store.reader())
        .await?;
    if ids.is_empty() {
        return Ok(Deleted::default());
    }
    let more = ids.len() as u64 >= limit;
    let deleted = timed(store, async |txn| {
        let deleted = SessionEvent::delete_many()
            .filter(session_event::Column::Id.is_in(ids))
            .exec(txn)
            .await?;
        Ok(Removed {
            events: deleted.rows_affected,
            ..Default::default()
        })
    })
    .await?;
    Ok(Deleted { more, ..deleted })
}

/// Deletes `runs` (terminal ones, as [`super::retention::expired_runs`]
/// finds them) with their sessions and whatever is left of their transcripts, in one
/// transaction.
pub async fn delete_runs(store: &Store, runs: &[ExpiredRun]) -> StoreResult<Deleted> {
    if runs.is_empty() {
        return Ok(Deleted::default());
    }
    let sessions = sessions_of(runs);
    let deleted = timed(store, async |txn| {
        let mut removed = Removed::default();
        if !sessions.is_empty() {
            removed.events = SessionEvent::delete_many()
                .filter(session_event::Column::SessionId.is_in(sessions.iter().copied()))
                .exec(txn)
                .await?
                .rows_affected;
            removed.sessions = Session::delete_many()
                .filter(session::Column::Id.is_in(sessions.iter().copied()))
                .exec(txn)
                .await?
                .rows_affected;
        }
        removed.runs = runs_delete(runs).exec(txn).await?.rows_affected;
        Ok(removed)
    })
    .await?;
    // Watched run lists (WatchRuns, the console) show what is left.
    let orgs: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.org_id.as_str()).collect();
    for org_id in orgs {
        store.runs_touched(org_id);
    }
    Ok(deleted)
}

/// The statement deleting `runs` by id (public for the query-plan tests).
/// By id alone: the candidates were read terminal and a terminal run stays
/// so, and a `status IN (…)` beside 200 ids makes SQLite's planner walk
/// `(status, …)` over every finished run instead of the primary key.
pub fn runs_delete(runs: &[ExpiredRun]) -> sea_orm::DeleteMany<DeploymentRun> {
    DeploymentRun::delete_many()
        .filter(deployment_run::Column::Id.is_in(runs.iter().map(|r| r.id.as_str())))
}

/// How many transcript events `runs`' sessions hold (for a dry run).
pub async fn count_events(store: &Store, runs: &[ExpiredRun]) -> StoreResult<u64> {
    let sessions = sessions_of(runs);
    if sessions.is_empty() {
        return Ok(0);
    }
    Ok(SessionEvent::find()
        .filter(session_event::Column::SessionId.is_in(sessions))
        .count(store.reader())
        .await?)
}

/// The selects of `org_id`'s finished deliveries last changed before the
/// cutoffs (succeeded ones before `succeeded_before`, failed ones before
/// `failed_before`), each one range of `(org_id, status, updated_at)`.
fn expired_delivery_selects(
    org_id: &str,
    succeeded_before: Option<i64>,
    failed_before: Option<i64>,
) -> Vec<sea_orm::Select<WebhookDelivery>> {
    use webhook_delivery::Column as C;
    [
        (WebhookDeliveryStatus::Succeeded, succeeded_before),
        (WebhookDeliveryStatus::Failed, failed_before),
    ]
    .into_iter()
    .filter_map(|(status, before)| {
        before.map(|before| {
            WebhookDelivery::find()
                .filter(C::OrgId.eq(org_id))
                .filter(C::Status.eq(status))
                .filter(C::UpdatedAt.lt(before))
        })
    })
    .collect()
}

/// Up to `limit` of `org_id`'s expired deliveries (see
/// [`expired_delivery_selects`]).
pub async fn expired_deliveries(
    store: &Store,
    org_id: &str,
    succeeded_before: Option<i64>,
    failed_before: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    for select in expired_delivery_selects(org_id, succeeded_before, failed_before) {
        let left = limit.saturating_sub(ids.len() as u64);
        if left == 0 {
            break;
        }
        let found: Vec<String> = select
            .select_only()
            .column(webhook_delivery::Column::Id)
            .limit(left)
            .into_tuple()
            .all(store.reader())
            .await?;
        ids.extend(found);
    }
    Ok(ids)
}

/// How many of `org_id`'s deliveries have expired (a dry run).
pub async fn count_expired_deliveries(
    store: &Store,
    org_id: &str,
    succeeded_before: Option<i64>,
    failed_before: Option<i64>,
) -> StoreResult<u64> {
    let mut count = 0;
    for select in expired_delivery_selects(org_id, succeeded_before, failed_before) {
        count += select.count(store.reader()).await?;
    }
    Ok(count)
}

/// Deletes the finished deliveries `ids` and their attempts, in one
/// transaction (a pending one is never among them: it is never deleted).
pub async fn delete_deliveries(store: &Store, ids: &[String]) -> StoreResult<Deleted> {
    if ids.is_empty() {
        return Ok(Deleted::default());
    }
    timed(store, async |txn| {
        let attempts = WebhookAttempt::delete_many()
            .filter(webhook_attempt::Column::DeliveryId.is_in(ids.iter().map(String::as_str)))
            .exec(txn)
            .await?
            .rows_affected;
        let deliveries = WebhookDelivery::delete_many()
            .filter(webhook_delivery::Column::Id.is_in(ids.iter().map(String::as_str)))
            .filter(webhook_delivery::Column::Status.ne(WebhookDeliveryStatus::Pending))
            .exec(txn)
            .await?
            .rows_affected;
        Ok(Removed {
            deliveries,
            attempts,
            ..Default::default()
        })
    })
    .await
}

/// Deletes up to `limit` idempotency keys claimed before `before` (read
/// from `created_at`'s index); a key claimed again since has a new
/// `created_at` and stays.
pub async fn delete_idempotency_keys(
    store: &Store,
    before: i64,
    limit: u64,
) -> StoreResult<Deleted> {
    use idempotency_key::Column as C;
    let keys: Vec<(String, String)> = IdempotencyKey::find()
        .select_only()
        .columns([C::OrgId, C::Key])
        .filter(C::CreatedAt.lt(before))
        .limit(limit)
        .into_tuple()
        .all(store.reader())
        .await?;
    if keys.is_empty() {
        return Ok(Deleted::default());
    }
    let more = keys.len() as u64 >= limit;
    let deleted = timed(store, async |txn| {
        let mut deleted = 0;
        for (org_id, key) in &keys {
            deleted += IdempotencyKey::delete_many()
                .filter(C::OrgId.eq(org_id))
                .filter(C::Key.eq(key))
                .filter(C::CreatedAt.lt(before))
                .exec(txn)
                .await?
                .rows_affected;
        }
        Ok(Removed {
            idempotency_keys: deleted,
            ..Default::default()
        })
    })
    .await?;
    Ok(Deleted { more, ..deleted })
}

/// How many idempotency keys were claimed before `before`.
pub async fn count_idempotency_keys(store: &Store, before: i64) -> StoreResult<u64> {
    Ok(IdempotencyKey::find()
        .filter(idempotency_key::Column::CreatedAt.lt(before))
        .count(store.reader())
        .await?)
}

/// SQLite's free pages and whether it can hand them back to the file
/// system (`auto_vacuum = INCREMENTAL`, set on every database created by
/// this version). PostgreSQL: `None` (its autovacuum reuses the space).
pub async fn free_pages(store: &Store) -> StoreResult<Option<(i64, bool)>> {
    if store.backend() != Backend::Sqlite {
        return Ok(None);
    }
    let pragma = |name: &'static str| async move {
        let row = store
            .writer()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                format!("PRAGMA {name}"),
            ))
            .await?;
        Ok::<i64, crate::StoreError>(
            row.map(|r| r.try_get_by_index::<i64>(0))
                .transpose()?
                .unwrap_or(0),
        )
    };
    let free = pragma("freelist_count").await?;
    let incremental = pragma("auto_vacuum").await? == 2;
    Ok(Some((free, incremental)))
}

/// Returns up to `pages` free pages of a SQLite database to the file
/// system (one short write). Without incremental auto-vacuum the pages
/// stay in the file, where new rows reuse them.
pub async fn reclaim_pages(store: &Store, pages: u32) -> StoreResult<Deleted> {
    // `incremental_vacuum(0)` would hand back every free page in one write.
    let pages = pages.max(1);
    if let Some((free, true)) = free_pages(store).await?
        && free > 0
    {
        return timed(store, async |txn| {
            txn.execute_unprepared(&format!("PRAGMA incremental_vacuum({pages})"))
                .await?;
            Ok(Removed::default())
        })
        .await;
    }
    Ok(Deleted::default())
}
