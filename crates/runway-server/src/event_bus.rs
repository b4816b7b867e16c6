//! Hands new session events to the streams that follow the session. The
//! process that records events publishes the rows themselves right after
//! the commit, so a thousand followers cost no query at all; another
//! replica's appends arrive on PostgreSQL as a notification naming the
//! session, and one query per session (not per follower) fetches them. A
//! follower that finds a gap (a missed or reordered batch, or a lag) reads
//! the table once to catch up; batches it has seen are skipped by `seq`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use runway_store::Store;
use runway_store::entity::session_event;
use runway_store::repo::events::{self, EventQuery, Order};
use tokio::sync::broadcast;

/// Batches a follower may fall behind before it reads the table instead.
const CHANNEL_DEPTH: usize = 256;
/// Events one catch-up read fetches for the whole channel.
const REFRESH_PAGE: u64 = 1000;

/// New events of one session, as recorded (ascending `seq`).
pub type Batch = Arc<Vec<session_event::Model>>;

/// One followed session.
pub struct Channel {
    sender: broadcast::Sender<Batch>,
    /// The highest `seq` published; a refresh reads after it.
    last_seq: AtomicI64,
    org_id: String,
    session_id: String,
}

/// A follower's hold on a session's channel.
pub struct Subscription {
    pub channel: Arc<Channel>,
    pub receiver: broadcast::Receiver<Batch>,
}

/// Sessions with someone following them.
#[derive(Default)]
pub struct EventBus {
    sessions: Mutex<HashMap<String, Weak<Channel>>>,
}

impl EventBus {
    /// Follows `session_id` (of `org_id`); hold the subscription while
    /// following.
    pub fn subscribe(&self, org_id: &str, session_id: &str) -> Subscription {
        let mut sessions = self.sessions.lock().expect("event bus");
        let channel = match sessions.get(session_id).and_then(Weak::upgrade) {
            Some(channel) => channel,
            None => {
                // Forget the sessions nobody follows any more before adding one.
                sessions.retain(|_, channel| channel.strong_count() > 0);
                let channel = Arc::new(Channel {
                    sender: broadcast::channel(CHANNEL_DEPTH).0,
                    last_seq: AtomicI64::new(0),
                    org_id: org_id.to_string(),
                    session_id: session_id.to_string(),
                });
                sessions.insert(session_id.to_string(), Arc::downgrade(&channel));
                channel
            }
        };
        Subscription {
            receiver: channel.sender.subscribe(),
            channel,
        }
    }

    fn channel(&self, session_id: &str) -> Option<Arc<Channel>> {
        self.sessions
            .lock()
            .expect("event bus")
            .get(session_id)
            .and_then(Weak::upgrade)
    }

    /// Hands `events` (recorded and committed, one session's, ascending) to
    /// that session's followers.
    pub fn publish(&self, events: Vec<session_event::Model>) {
        let Some(first) = events.first() else {
            return;
        };
        if let Some(channel) = self.channel(&first.session_id) {
            channel.publish(events);
        }
    }

    /// Fetches what another replica recorded for `session_id`, once for all
    /// its followers here.
    pub async fn refresh(&self, store: &Store, session_id: &str) {
        if let Some(channel) = self.channel(session_id) {
            channel.refresh(store).await;
        }
    }

    /// Refreshes every followed session (after a lost connection:
    /// announcements may have been missed).
    pub async fn refresh_all(&self, store: &Store) {
        let all: Vec<Arc<Channel>> = self
            .sessions
            .lock()
            .expect("event bus")
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for channel in all {
            channel.refresh(store).await;
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
                    Ok(session_id) => self.refresh(&store, &session_id).await,
                    Err(err) => {
                        tracing::warn!(error = %err, "event announcements interrupted");
                        self.refresh_all(&store).await;
                    }
                },
            }
        }
    }
}

impl Channel {
    /// Records that `seq` is in the table (a follower read it), so a
    /// refresh for another replica's events reads only after it.
    pub fn note_seen(&self, seq: i64) {
        self.last_seq.fetch_max(seq, Ordering::AcqRel);
    }

    fn publish(&self, events: Vec<session_event::Model>) {
        let last = events.last().map_or(0, |e| e.seq);
        self.last_seq.fetch_max(last, Ordering::AcqRel);
        // No receiver left is fine: the channel is about to be forgotten.
        let _ = self.sender.send(Arc::new(events));
    }

    async fn refresh(&self, store: &Store) {
        let query = EventQuery {
            limit: REFRESH_PAGE,
            order: Order::Asc,
            after_seq: Some(self.last_seq.load(Ordering::Acquire)),
            ..EventQuery::default()
        };
        match events::list(store, &self.org_id, &self.session_id, &query).await {
            Ok(page) if !page.events.is_empty() => self.publish(page.events),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "refreshing followed events failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use runway_api::enums::EventType;
    use runway_store::json_text::JsonText;

    use super::*;

    fn event(session: &str, seq: i64) -> session_event::Model {
        session_event::Model {
            id: format!("evt_{seq}"),
            org_id: "org".into(),
            session_id: session.into(),
            seq,
            kind: EventType::AgentMessage,
            turn_id: None,
            fields: JsonText::default(),
            runner_seq: None,
            created_at: 0,
            processed_at: 0,
        }
    }

    #[tokio::test]
    async fn a_publish_reaches_the_followers_of_its_session_only() {
        let bus = EventBus::default();
        let mut a = bus.subscribe("org", "a");
        let mut b = bus.subscribe("org", "b");
        bus.publish(vec![event("a", 1), event("a", 2)]);
        let batch = a.receiver.recv().await.unwrap();
        assert_eq!(batch.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(a.channel.last_seq.load(Ordering::Acquire), 2);
        assert!(b.receiver.try_recv().is_err(), "b hears nothing");
        drop(a);
        drop(b);
        let _c = bus.subscribe("org", "c");
        assert_eq!(
            bus.sessions.lock().unwrap().len(),
            1,
            "unfollowed sessions are forgotten"
        );
    }
}
