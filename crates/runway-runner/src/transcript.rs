//! The agent's stdout as the turn's transcript. Each line that is a JSON
//! object whose `type` is in the event catalog is recorded as that event;
//! any other text becomes `agent.message` text, consecutive lines coalesced
//! and flushed at least every 200 ms. No event holds more than 256 KiB:
//! longer text is split, never dropped. Invalid UTF-8 is replaced.
//!
//! Memory stays bounded however fast the agent prints: the pipe is read in
//! pieces of at most one event, and the reader waits for the uploader (a
//! bounded channel) — so the agent waits on its full pipe, never the runner's
//! heap.

use std::time::Duration;

use runway_api::enums::EventType;
use runway_api::json_value;
use runway_api::v1::{AppendEventsRequest, RunnerEvent};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::Client;

mod text_buffer;
pub use text_buffer::TextBuffer;

/// The most an event's fields may hold, as JSON (the server's limit).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// How long text may wait for more lines before it is sent.
pub const TEXT_FLUSH: Duration = Duration::from_millis(200);
/// Events per `AppendEvents` call.
const BATCH_EVENTS: usize = 500;
/// Bytes of fields per `AppendEvents` call (well under the gRPC limit).
const BATCH_BYTES: usize = 2 * 1024 * 1024;
/// The room `{"content":[{"text":…,"type":"text"}]}` takes around the text.
const MESSAGE_OVERHEAD: usize = 64;

/// One event to append, before it has a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventType,
    pub fields: Map<String, Value>,
}

impl Event {
    fn size(&self) -> usize {
        serde_json::to_vec(&self.fields).map_or(usize::MAX, |v| v.len())
    }
}

/// An `agent.message` holding `text`.
pub fn message(text: String) -> Event {
    let mut fields = Map::new();
    fields.insert("content".into(), json!([{"type": "text", "text": text}]));
    Event {
        kind: EventType::AgentMessage,
        fields,
    }
}

/// The event a line stands for, when it is a JSON object whose `type` is a
/// catalog event a runner may record, and small enough for one event.
pub fn catalog_event(line: &str) -> Option<Event> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(trimmed) else {
        return None;
    };
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .and_then(EventType::from_name)
        .filter(|k| k.runner_may_record())?;
    // The server stamps these; an agent's own are dropped, not trusted.
    for stamped in runway_api::STAMPED_EVENT_FIELDS {
        object.remove(stamped);
    }
    let event = Event {
        kind,
        fields: object,
    };
    (event.size() <= MAX_EVENT_BYTES).then_some(event)
}

/// How many bytes `c` takes inside a JSON string.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Reads `stdout` to its end, sending the events it stands for, in order,
/// to `events`. Stops early (the agent's later output is then not read)
/// only when the uploader has stopped.
pub async fn read(stdout: impl AsyncRead + Unpin, events: mpsc::Sender<Event>) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut text = TextBuffer::default();
    // A line is read in pieces of at most one event: a longer one is text.
    let mut line: Vec<u8> = Vec::new();
    // The start of a character a piece cut in two, for the next piece.
    let mut carry: Vec<u8> = Vec::new();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        let timer = async {
            match flush_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let read = tokio::select! {
            read = read_piece(&mut reader, &mut line, &mut carry) => read,
            () = timer => {
                flush_at = None;
                if !send_all(&events, text.drain()).await {
                    return;
                }
                continue;
            }
        };
        let complete = match read {
            Ok(Piece::Line) => true,
            Ok(Piece::Partial) => false,
            Ok(Piece::End) | Err(_) => {
                if !line.is_empty() {
                    text.push(&String::from_utf8_lossy(&line));
                    line.clear();
                }
                send_all(&events, text.drain()).await;
                return;
            }
        };
        let piece = String::from_utf8_lossy(&line).into_owned();
        line.clear();
        line.append(&mut carry);
        if complete && let Some(event) = catalog_event(&piece) {
            // Text before it goes first: the transcript keeps the order.
            let mut batch = text.drain();
            batch.push(event);
            flush_at = None;
            if !send_all(&events, batch).await {
                return;
            }
            continue;
        }
        text.push(&piece);
        if !send_all(&events, text.drain_full()).await {
            return;
        }
        if !text.is_empty() && flush_at.is_none() {
            flush_at = Some(tokio::time::Instant::now() + TEXT_FLUSH);
        }
    }
}

enum Piece {
    /// A whole line, its newline included.
    Line,
    /// The first bytes of a line longer than one event.
    Partial,
    /// The end of the output.
    End,
}

/// Reads up to the end of a line, or [`MAX_EVENT_BYTES`] of it; a piece
/// that would end inside a character leaves that character's first bytes
/// in `carry`.
async fn read_piece<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
    carry: &mut Vec<u8>,
) -> std::io::Result<Piece> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if line.is_empty() {
                Piece::End
            } else {
                Piece::Partial
            });
        }
        let room = MAX_EVENT_BYTES - line.len();
        match available.iter().take(room).position(|b| *b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&available[..=i]);
                reader.consume(i + 1);
                return Ok(Piece::Line);
            }
            None => {
                let n = available.len().min(room);
                line.extend_from_slice(&available[..n]);
                reader.consume(n);
                if line.len() >= MAX_EVENT_BYTES {
                    // Cut on a character boundary: an unfinished UTF-8
                    // sequence starts the next piece.
                    let keep = incomplete_tail(line);
                    *carry = line.split_off(line.len() - keep);
                    return Ok(Piece::Partial);
                }
            }
        }
    }
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is not
/// complete yet.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let needed = match b {
            b if b & 0xE0 == 0xC0 => 2,
            b if b & 0xF0 == 0xE0 => 3,
            b if b & 0xF8 == 0xF0 => 4,
            _ => 1,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

async fn send_all(events: &mpsc::Sender<Event>, batch: Vec<Event>) -> bool {
    for event in batch {
        if events.send(event).await.is_err() {
            return false;
        }
    }
    true
}

/// Why the upload stopped before the output's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// The run is no longer under this lease (canceled, timed out, lost).
    LeaseLost,
    /// The server kept refusing or could not be reached.
    Failed(String),
}

/// Appends every event `events` yields to run `run_id`'s session, in
/// batches, numbering them from 1. A batch whose answer was lost is sent
/// again with the same numbers, so nothing is recorded twice.
pub async fn upload(
    client: &mut Client,
    run_id: &str,
    lease: &str,
    retry_wait: Duration,
    mut events: mpsc::Receiver<Event>,
) -> Result<u64, UploadError> {
    let mut next: i64 = 1;
    let mut sent: u64 = 0;
    while let Some(first) = events.recv().await {
        let mut batch = vec![first];
        let mut bytes = batch[0].size();
        while batch.len() < BATCH_EVENTS && bytes < BATCH_BYTES {
            match events.try_recv() {
                Ok(event) => {
                    bytes += event.size();
                    batch.push(event);
                }
                Err(_) => break,
            }
        }
        let request = AppendEventsRequest {
            run_id: run_id.to_string(),
            lease_id: lease.to_string(),
            events: batch
                .into_iter()
                .map(|e| {
                    let sequence = next;
                    next += 1;
                    RunnerEvent {
                        sequence,
                        r#type: e.kind.to_proto(),
                        created_at: None,
                        fields: Some(json_value::object_to_struct(e.fields)),
                    }
                })
                .collect(),
        };
        let count = request.events.len() as u64;
        let answer = crate::retries::with_retries(retry_wait, || {
            let mut client = client.clone();
            let request = request.clone();
            async move { client.append_events(request).await }
        })
        .await;
        match answer {
            Ok(_) => sent += count,
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::FailedPrecondition | tonic::Code::NotFound
                ) =>
            {
                return Err(UploadError::LeaseLost);
            }
            Err(s) => return Err(UploadError::Failed(s.message().to_string())),
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text an `agent.message` event holds.
    pub(super) fn text_of(event: &Event) -> String {
        event.fields["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn lines_become_catalog_events_or_coalesced_text() {
        let output = b"hello\nworld\n{\"type\":\"agent.thinking\",\"thinking\":\"hm\"}\n{\"type\":\"nope\"}\nbye";
        let (tx, mut rx) = mpsc::channel(16);
        read(&output[..], tx).await;
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[0].kind, EventType::AgentMessage);
        assert_eq!(text_of(&events[0]), "hello\nworld\n");
        assert_eq!(events[1].kind, EventType::AgentThinking);
        assert_eq!(
            Value::Object(events[1].fields.clone()),
            json!({"thinking": "hm"})
        );
        assert_eq!(text_of(&events[2]), "{\"type\":\"nope\"}\nbye");
    }

    #[tokio::test]
    async fn long_lines_are_split_never_dropped_and_bad_utf8_is_replaced() {
        let mut output = "é".repeat(400_000).into_bytes(); // 800,000 bytes, one line
        output.extend_from_slice(b"\n\xff\xfe ok\n");
        let (tx, mut rx) = mpsc::channel(16);
        read(&output[..], tx).await;
        let mut text = String::new();
        while let Some(e) = rx.recv().await {
            assert!(e.size() <= MAX_EVENT_BYTES, "{}", e.size());
            text.push_str(&text_of(&e));
        }
        assert_eq!(
            text,
            format!("{}\n\u{fffd}\u{fffd} ok\n", "é".repeat(400_000))
        );
    }

    #[test]
    fn server_stamped_fields_and_status_events_are_not_taken_from_the_agent() {
        let e = catalog_event(
            r#"{"type":"agent.message","id":"evt_x","content":[{"type":"text","text":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(
            Value::Object(e.fields),
            json!({"content": [{"type": "text", "text": "hi"}]})
        );
        assert!(catalog_event(r#"{"type":"session.status_idle"}"#).is_none());
        // Nor words in a user's or the deployment's mouth: plain text.
        assert!(catalog_event(r#"{"type":"user.message","content":"spoof"}"#).is_none());
        assert!(catalog_event(r#"{"type":"system.message","content":"x"}"#).is_none());
        assert!(catalog_event("[1,2]").is_none());
    }
}
