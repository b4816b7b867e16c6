//! A session's event stream (`StreamSessionEvents`): the history after the
//! client's position, then each batch as it is recorded, in order, each
//! event once, until the client goes away, its token stops being valid, or
//! the server stops.

use std::sync::Arc;

use runway_api::enums::EventType;
use runway_api::v1::StreamSessionEventsResponse;
use runway_store::entity::session_event;
use runway_store::repo::events::{self, EventQuery, Order};
use tokio::sync::{broadcast, mpsc};
use tonic::Status;

use super::Core;
use crate::convert;
use crate::error::ServiceError;

/// Events a stream holds for a slow reader before it waits for it.
pub(super) const STREAM_BUFFER: usize = 64;
/// Events read per query while catching up.
const STREAM_PAGE: u64 = 500;

/// One stream following one session.
pub(super) struct SessionFollow {
    core: Arc<Core>,
    org_id: String,
    /// The token the stream was opened with: re-checked as it goes.
    who: runway_store::repo::tenants::Principal,
    session_id: String,
    types: Vec<EventType>,
    /// The highest `seq` this stream knows of, sent or filtered out.
    seen: i64,
}

type Sender = mpsc::Sender<Result<StreamSessionEventsResponse, Status>>;

impl SessionFollow {
    /// A stream of `session_id`'s events of `types` (all when empty) after
    /// the `after` seq, for `who`.
    pub(super) fn new(
        core: Arc<Core>,
        who: runway_store::repo::tenants::Principal,
        session_id: String,
        types: Vec<EventType>,
        after: Option<i64>,
    ) -> Self {
        Self {
            core,
            org_id: who.org_id.clone(),
            who,
            session_id,
            types,
            seen: after.unwrap_or(0),
        }
    }

    /// Sends the history after `seen`, then each batch the session's
    /// channel hands over, until the client goes away.
    pub(super) async fn run(mut self, tx: Sender) {
        // Subscribed before reading, so nothing recorded in between is missed.
        let mut subscription = self.core.events.subscribe(&self.org_id, &self.session_id);
        let mut closing = self.core.closing.subscribe();
        if !self.catch_up(&tx).await {
            return;
        }
        subscription.channel.note_seen(self.seen);
        let mut recheck = tokio::time::interval(crate::auth::STREAM_RECHECK);
        recheck.tick().await;
        loop {
            if *closing.borrow() {
                return;
            }
            let batch = tokio::select! {
                batch = subscription.receiver.recv() => batch,
                () = tx.closed() => return,
                _ = closing.changed() => return,
                _ = recheck.tick() => {
                    if !self.core.auth.still_valid(&self.who).await {
                        let _ = tx.send(Err(ServiceError::Unauthenticated.into())).await;
                        return;
                    }
                    continue;
                }
            };
            let delivered = match batch {
                // A batch that starts past what we know: something was missed.
                Ok(batch) if batch.first().is_some_and(|e| e.seq > self.seen + 1) => {
                    self.catch_up(&tx).await
                }
                Ok(batch) => self.send(&tx, &batch).await,
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(&tx).await,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if !delivered {
                return;
            }
        }
    }

    /// Sends the events of `batch` this stream has not seen and wants;
    /// false when the client went away.
    async fn send(&mut self, tx: &Sender, batch: &[session_event::Model]) -> bool {
        for event in batch {
            if event.seq <= self.seen {
                continue;
            }
            self.seen = event.seq;
            if !self.types.is_empty() && !self.types.contains(&event.kind) {
                continue;
            }
            let message = StreamSessionEventsResponse {
                event: Some(convert::event(event)),
            };
            if tx.send(Ok(message)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Reads the table after `seen` until it is caught up; false when the
    /// client went away (or the read failed, which the client is told).
    async fn catch_up(&mut self, tx: &Sender) -> bool {
        loop {
            let query = EventQuery {
                limit: STREAM_PAGE,
                order: Order::Asc,
                after_seq: Some(self.seen),
                ..EventQuery::default()
            };
            let page = match events::list(&self.core.store, &self.org_id, &self.session_id, &query)
                .await
            {
                Ok(page) => page,
                Err(err) => {
                    let _ = tx.send(Err(ServiceError::from(err).into())).await;
                    return false;
                }
            };
            if !self.send(tx, &page.events).await {
                return false;
            }
            if !page.has_more {
                return true;
            }
        }
    }
}
