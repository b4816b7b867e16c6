//! Tells watchers that an organization's runs changed: every write that
//! records, starts or ends a run touches its organization after it commits.
//! A watcher holds a counter per organization and re-reads what it shows
//! when the counter moves; this process's writes move it at once, other
//! replicas' (PostgreSQL) through a notification, at most one per
//! organization and [`ANNOUNCE_EVERY`], however many runs changed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sea_orm::ConnectionTrait;
use tokio::sync::{Notify, watch};

use crate::{Backend, Store, StoreResult};

/// The PostgreSQL channel replicas announce changed organizations on; the
/// payload is `<replica>:<org_id>`.
pub const NOTIFY_CHANNEL: &str = "runway_run_changes";

/// How long changes gather before this replica announces them.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(100);

/// The organizations whose runs changed, for the watchers of this process.
pub struct RunChanges {
    orgs: Mutex<HashMap<String, Weak<watch::Sender<u64>>>>,
    /// Changed organizations not yet announced to other replicas.
    pending: Mutex<HashSet<String>>,
    bell: Notify,
    /// This process's name in announcements (it skips its own).
    replica: String,
}

impl Default for RunChanges {
    fn default() -> Self {
        Self {
            orgs: Mutex::default(),
            pending: Mutex::default(),
            bell: Notify::new(),
            replica: uuid::Uuid::now_v7().simple().to_string(),
        }
    }
}

impl std::fmt::Debug for RunChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunChanges").finish_non_exhaustive()
    }
}

/// A watcher's hold on an organization's counter.
pub struct RunWatch {
    _sender: Arc<watch::Sender<u64>>,
    receiver: watch::Receiver<u64>,
}

impl RunWatch {
    /// Waits until the organization's runs change after the last call.
    pub async fn changed(&mut self) {
        // The sender lives as long as this watch: `changed` cannot fail.
        let _ = self.receiver.changed().await;
        self.receiver.borrow_and_update();
    }
}

impl RunChanges {
    /// Watches `org_id`'s runs.
    pub fn watch(&self, org_id: &str) -> RunWatch {
        let mut orgs = self.orgs.lock().expect("run changes");
        let sender = match orgs.get(org_id).and_then(Weak::upgrade) {
            Some(sender) => sender,
            None => {
                orgs.retain(|_, s| s.strong_count() > 0);
                let sender = Arc::new(watch::channel(0).0);
                orgs.insert(org_id.to_string(), Arc::downgrade(&sender));
                sender
            }
        };
        let mut receiver = sender.subscribe();
        receiver.borrow_and_update();
        RunWatch {
            _sender: sender,
            receiver,
        }
    }

    fn bump(&self, org_id: &str) {
        let sender = self
            .orgs
            .lock()
            .expect("run changes")
            .get(org_id)
            .and_then(Weak::upgrade);
        if let Some(sender) = sender {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Records that `org_id`'s runs changed (call after the commit).
    pub(crate) fn touched(&self, backend: Backend, org_id: &str) {
        self.bump(org_id);
        if backend == Backend::Postgres {
            let fresh = self
                .pending
                .lock()
                .expect("run changes")
                .insert(org_id.to_string());
            if fresh {
                self.bell.notify_one();
            }
        }
    }

    /// Every watched organization changed (after a lost connection:
    /// announcements may have been missed).
    fn bump_all(&self) {
        let all: Vec<_> = self
            .orgs
            .lock()
            .expect("run changes")
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for sender in all {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

impl Store {
    /// Who watches which organization's runs in this process.
    pub fn run_changes(&self) -> &RunChanges {
        &self.run_changes
    }

    /// Records that `org_id`'s runs changed (after the commit).
    pub(crate) fn runs_touched(&self, org_id: &str) {
        self.run_changes.touched(self.backend(), org_id);
    }
}

/// Announces this replica's changes to the others and hands theirs to this
/// process's watchers, until `shutdown` (PostgreSQL; returns at once on
/// SQLite, where one process serves the database).
pub async fn follow_replicas(store: Store, shutdown: impl Future<Output = ()>) {
    if store.backend() != Backend::Postgres {
        return;
    }
    let pool = store.writer().get_postgres_connection_pool().clone();
    let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for run changes");
            return;
        }
    };
    if let Err(err) = listener.listen(NOTIFY_CHANNEL).await {
        tracing::error!(error = %err, "cannot listen for run changes");
        return;
    }
    let changes = &store.run_changes;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = changes.bell.notified() => {
                tokio::time::sleep(ANNOUNCE_EVERY).await;
                if let Err(err) = announce(&store).await {
                    tracing::warn!(error = %err, "announcing run changes failed");
                }
            }
            next = listener.recv() => match next {
                Ok(notification) => {
                    if let Some((replica, org_id)) = notification.payload().split_once(':')
                        && replica != changes.replica
                    {
                        changes.bump(org_id);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "run change announcements interrupted");
                    changes.bump_all();
                }
            },
        }
    }
}

/// Sends one notification per organization changed since the last call.
async fn announce(store: &Store) -> StoreResult<()> {
    let orgs: Vec<String> =
        std::mem::take(&mut *store.run_changes.pending.lock().expect("run changes"))
            .into_iter()
            .map(|org| format!("{}:{org}", store.run_changes.replica))
            .collect();
    if orgs.is_empty() {
        return Ok(());
    }
    store
        .writer()
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_notify($1, o) FROM unnest($2::text[]) AS o",
            [NOTIFY_CHANNEL.into(), orgs.into()],
        ))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watch_wakes_for_its_organization_only() {
        let changes = RunChanges::default();
        let mut a = changes.watch("org_a");
        let mut b = changes.watch("org_b");
        changes.touched(Backend::Sqlite, "org_a");
        tokio::time::timeout(Duration::from_secs(1), a.changed())
            .await
            .expect("org_a's watch wakes");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), b.changed())
                .await
                .is_err(),
            "org_b's watch sleeps"
        );
        assert!(
            changes.pending.lock().unwrap().is_empty(),
            "SQLite announces nothing"
        );
    }

    #[tokio::test]
    async fn changes_before_a_wait_are_not_lost_and_bursts_coalesce() {
        let changes = RunChanges::default();
        let mut a = changes.watch("org_a");
        for _ in 0..1000 {
            changes.touched(Backend::Postgres, "org_a");
        }
        tokio::time::timeout(Duration::from_secs(1), a.changed())
            .await
            .expect("woken by the burst");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), a.changed())
                .await
                .is_err(),
            "one wake for the whole burst"
        );
        assert_eq!(changes.pending.lock().unwrap().len(), 1);
    }
}
