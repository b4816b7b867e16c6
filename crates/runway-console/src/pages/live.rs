//! The live parts of pages, as server-sent events of rendered HTML: a
//! run's transcript as it is written, and the runs list as it changes
//! (pushed by the API's WatchRuns stream, not polled). The browser's
//! `EventSource` sends the session cookie (same origin), so the token never
//! reaches the script.

use std::convert::Infallible;

use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use runway_api::v1::{StreamSessionEventsRequest, WatchRunsRequest};

use super::transcript::transcript_event;
use crate::api::Api;
use crate::failure::PageError;

#[derive(Debug, Default, serde::Deserialize)]
pub struct TranscriptQuery {
    after: Option<String>,
}

/// `GET /runs/{id}/transcript`: the run's session events after `after`
/// (or the `Last-Event-ID` a reconnecting browser sends), each as an
/// `event` of rendered HTML, for as long as the browser listens.
pub async fn transcript(
    api: Api,
    Path(id): Path<String>,
    Query(q): Query<TranscriptQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let run = super::run::load(&api, &id).await?;
    let Some(session_id) = run.session_id else {
        return Err(PageError::NotFound);
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let stream = api
        .sessions()
        .stream_session_events(api.request(StreamSessionEventsRequest {
            session_id,
            after_id: resume.or(q.after).filter(|a| !a.is_empty()),
            types: Vec::new(),
        }))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    // A failed stream (a revoked token, a closing server) just ends, as it
    // does when the console stops: the browser reconnects, and a signed-out
    // one is sent to sign in.
    let heartbeat = api.heartbeat();
    let events = stream
        .take_until(api.closed())
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| async move {
            let event = message.ok()?.event?;
            let html = transcript_event(&event).into_string();
            Some(Ok::<_, Infallible>(
                Event::default()
                    .id(event.id.clone())
                    .event("transcript")
                    .data(html),
            ))
        });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat))
        .into_response())
}

/// `GET /runs/live`: the runs page's table (same filters), sent again
/// whenever the API says the list changed.
pub async fn runs(
    api: Api,
    Query(filters): Query<super::runs::RunFilters>,
) -> Result<Response, PageError> {
    let list = filters.request(&super::Cursor::default(), super::runs::PAGE)?;
    let request = WatchRunsRequest {
        limit: Some(super::runs::PAGE),
        deployment_id: list.deployment_id,
        status: list.status,
        trigger_type: list.trigger_type,
        has_error: list.has_error,
    };
    let stream = api
        .deployments()
        .watch_runs(api.request(request))
        .await
        .map_err(|s| api.fail(s))?
        .into_inner();
    let heartbeat = api.heartbeat();
    let pages = stream
        .take_until(api.closed())
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| async move {
            let page = message.ok()?;
            let html = super::runs::runs_table(&page.runs, true).into_string();
            Some(Ok::<_, Infallible>(
                Event::default().event("runs").data(html),
            ))
        });
    Ok(Sse::new(pages)
        .keep_alive(KeepAlive::new().interval(heartbeat))
        .into_response())
}
