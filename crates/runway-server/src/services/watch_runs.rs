//! WatchRuns: the first page of a run list, sent again whenever it
//! changes. The store tells when an organization's runs change (here at
//! once, on other replicas by a notification); the stream then reads the
//! page again (at most [`MIN_GAP`] apart, so a burst of triggers costs a
//! few reads) and sends it if it differs from the last one sent.

use std::sync::Arc;
use std::time::Duration;

use runway_api::v1::{ListRunsRequest, PageRequest, WatchRunsRequest, WatchRunsResponse};
use tokio::sync::mpsc;
use tonic::Request;

use super::Core;
use super::runs::list_runs_of;
use crate::domain::access::Access;
use crate::error::{ServiceError, ServiceResult};

/// The least time between two reads of one stream's page.
pub const MIN_GAP: Duration = Duration::from_millis(250);
/// The largest page a stream follows.
pub const MAX_LIMIT: i32 = 100;
const DEFAULT_LIMIT: i32 = 20;

/// Boxed, as the adapters' trait objects name it (`runway_api::services`).
pub type WatchRunsStream = runway_api::services::ServerStream<WatchRunsResponse>;

pub async fn watch_runs(
    core: Arc<Core>,
    request: Request<WatchRunsRequest>,
) -> ServiceResult<WatchRunsStream> {
    let who = core
        .auth
        .principal(request.metadata(), Access::Read)
        .await?;
    let req = request.into_inner();
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ServiceError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    let list = ListRunsRequest {
        page: Some(PageRequest {
            limit: Some(limit),
            ..PageRequest::default()
        }),
        deployment_id: req.deployment_id,
        status: req.status,
        trigger_type: req.trigger_type,
        has_error: req.has_error,
        ..ListRunsRequest::default()
    };
    // Subscribed before the first read: a change in between is not missed.
    let mut changes = core.store.run_changes().watch(&who.org_id);
    // The first page is read here, so a bad filter fails the call itself.
    let first = list_runs_of(&core, &who.org_id, &list).await?.runs;
    let (tx, rx) = mpsc::channel(2);
    let stream = super::until_closing(&core.closing, rx);
    let mut closing = core.closing.subscribe();
    tokio::spawn(async move {
        let mut recheck = tokio::time::interval(crate::auth::STREAM_RECHECK);
        recheck.tick().await;
        let mut shown = first.clone();
        if tx
            .send(Ok(WatchRunsResponse { runs: first }))
            .await
            .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                () = changes.changed() => {}
                () = tx.closed() => return,
                _ = closing.changed() => return,
                _ = recheck.tick() => {
                    if !core.auth.still_valid(&who).await {
                        let _ = tx.send(Err(ServiceError::Unauthenticated.into())).await;
                        return;
                    }
                    continue;
                }
            }
            if *closing.borrow() {
                return;
            }
            match list_runs_of(&core, &who.org_id, &list).await {
                Ok(page) if page.runs != shown => {
                    shown = page.runs.clone();
                    if tx
                        .send(Ok(WatchRunsResponse { runs: page.runs }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    let _ = tx.send(Err(err.into())).await;
                    return;
                }
            }
            tokio::time::sleep(MIN_GAP).await;
        }
    });
    Ok(stream)
}
