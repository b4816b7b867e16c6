//! A server stream answered as Server-Sent Events: each message an event,
//! a heartbeat while nothing happens, and, when the stream fails after its
//! answer began (a revoked token, a database gone, a server that stops),
//! one last `error` event carrying the envelope before the stream ends. The status line is sent by
//! then; cutting the connection instead would leave the client guessing
//! why, and an HTTP/1.1 client would see a body that never properly ended.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};

use crate::Gateway;
use crate::context::CallContext;
use crate::error::ApiError;

/// The event name of a message sent while nothing happens.
pub const HEARTBEAT: &str = "heartbeat";
/// The event name of the message that ends a failed stream.
pub const ERROR: &str = "error";

/// `messages` as the SSE answer to the request of `ctx`: `event` renders
/// each one, the gateway's heartbeat is the longest silence, and the
/// request's id goes into a closing error's envelope.
pub fn respond<T, S, F>(gw: &Gateway, ctx: &CallContext, messages: S, mut event: F) -> Response
where
    S: Stream<Item = Result<T, tonic::Status>> + Send + 'static,
    F: FnMut(T) -> Result<Event, axum::Error> + Send + 'static,
    T: 'static,
{
    let request_id = ctx.request_id().to_string();
    let stopping = closing(
        &ApiError::unavailable(runway_api::error_code::SHUTTING_DOWN_MESSAGE),
        request_id.clone(),
    );
    // Each message rendered, or the closing event of the first failure.
    let rendered = messages.map(move |message| {
        message
            .map_err(ApiError::from)
            .and_then(|m| {
                event(m).map_err(|err| ApiError::from(tonic::Status::internal(err.to_string())))
            })
            .map_err(|error| closing(&error, request_id.clone()))
    });
    // Ends right after the closing event, without waiting on the stream;
    // or, when this gateway stops, with one saying so.
    let state = (Box::pin(rendered), gw.closing.subscribe(), stopping);
    let events = futures::stream::unfold(Some(state), |state| async move {
        let (mut rest, mut stop, stopping) = state?;
        if *stop.borrow() {
            return Some((Ok::<_, Infallible>(stopping), None));
        }
        tokio::select! {
            biased;
            _ = stop.changed() => Some((Ok(stopping), None)),
            next = rest.next() => match next? {
                Ok(event) => Some((Ok(event), Some((rest, stop, stopping)))),
                Err(closing) => Some((Ok(closing), None)),
            },
        }
    });
    let heartbeat = KeepAlive::new()
        .interval(gw.heartbeat())
        .event(Event::default().event(HEARTBEAT).data("{}"));
    Sse::new(events).keep_alive(heartbeat).into_response()
}

/// The `error` event that ends a failed stream.
fn closing(error: &ApiError, request_id: String) -> Event {
    let body = serde_json::to_string(&error.envelope(request_id)).expect("an envelope serializes");
    Event::default().event(ERROR).data(body)
}
