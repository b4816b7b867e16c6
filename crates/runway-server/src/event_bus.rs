//! Wakes the streams that follow a session when its events change: in this
//! process directly (after an append commits), and across replicas on
//! PostgreSQL through the database's own notifications. A stream never
//! polls the table; it reads when woken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use runway_store::Store;
use runway_store::repo::events;
use tokio::sync::Notify;

/// Sessions with someone following them, each with its wake-up.
#[derive(Default)]
pub struct EventBus {
    sessions: Mutex<HashMap<String, Weak<Notify>>>,
}

impl EventBus {
    /// The wake-up of `session_id`'s followers; hold it while following.
    pub fn subscribe(&self, session_id: &str) -> Arc<Notify> {
        let mut sessions = self.sessions.lock().expect("event bus");
        if let Some(notify) = sessions.get(session_id).and_then(Weak::upgrade) {
            return notify;
        }
        // Forget the sessions nobody follows any more before adding one.
        sessions.retain(|_, notify| notify.strong_count() > 0);
        let notify = Arc::new(Notify::new());
        sessions.insert(session_id.to_string(), Arc::downgrade(&notify));
        notify
    }

    /// Wakes `session_id`'s followers.
    pub fn publish(&self, session_id: &str) {
        let notify = self
            .sessions
            .lock()
            .expect("event bus")
            .get(session_id)
            .and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Wakes every follower (after a lost connection: announcements may
    /// have been missed).
    pub fn publish_all(&self) {
        let all: Vec<Arc<Notify>> = self
            .sessions
            .lock()
            .expect("event bus")
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for notify in all {
            notify.notify_waiters();
        }
    }

    /// Forwards other replicas' announcements (PostgreSQL) until `shutdown`;
    /// returns at once on SQLite.
    pub async fn follow_replicas(
        self: Arc<Self>,
        store: Store,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut announcements = match events::listen(&store).await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for event announcements");
                return;
            }
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                next = announcements.next() => match next {
                    Ok(session_id) => self.publish(&session_id),
                    Err(err) => {
                        tracing::warn!(error = %err, "event announcements interrupted");
                        self.publish_all();
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_publish_wakes_the_followers_of_its_session_only() {
        let bus = EventBus::default();
        let a = bus.subscribe("a");
        let b = bus.subscribe("b");
        {
            let woken_a = a.notified();
            let woken_b = b.notified();
            tokio::pin!(woken_a, woken_b);
            woken_a.as_mut().enable();
            woken_b.as_mut().enable();
            bus.publish("a");
            tokio::time::timeout(std::time::Duration::from_secs(1), woken_a)
                .await
                .expect("a is woken");
            assert!(
                tokio::time::timeout(std::time::Duration::from_millis(50), woken_b)
                    .await
                    .is_err(),
                "b is not"
            );
        }
        drop(a);
        drop(b);
        let _c = bus.subscribe("c");
        assert_eq!(
            bus.sessions.lock().unwrap().len(),
            1,
            "unfollowed sessions are forgotten"
        );
    }
}
