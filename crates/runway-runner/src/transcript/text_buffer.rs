//! Text waiting to become `agent.message` events: the agent's lines,
//! coalesced, cut so that no event passes the server's limit.

use super::{Event, MAX_EVENT_BYTES, MESSAGE_OVERHEAD, escaped_len, message};

/// Text waiting to become `agent.message` events, cut so that each event
/// stays within [`MAX_EVENT_BYTES`]: after its last whole line when it has
/// one (so every event but a longer line's pieces ends a line, and a
/// reader that shows each event on lines of its own breaks none), else
/// mid-line.
#[derive(Debug, Default)]
pub struct TextBuffer {
    text: String,
    escaped: usize,
    /// Where the last whole line of `text` ends (bytes), and its escaped
    /// length up to there.
    line_end: Option<(usize, usize)>,
    ready: Vec<Event>,
}

impl TextBuffer {
    const BUDGET: usize = MAX_EVENT_BYTES - MESSAGE_OVERHEAD;

    /// Adds `text`, closing an event each time one is full.
    pub fn push(&mut self, text: &str) {
        for c in text.chars() {
            let len = escaped_len(c);
            if self.escaped + len > Self::BUDGET {
                self.close_full();
                // What stayed (the line under way) may still leave no room.
                if self.escaped + len > Self::BUDGET {
                    self.close();
                }
            }
            self.text.push(c);
            self.escaped += len;
            if c == '\n' {
                self.line_end = Some((self.text.len(), self.escaped));
            }
        }
    }

    /// Closes an event that is full: its whole lines, or all of it when it
    /// is one line.
    fn close_full(&mut self) {
        match self.line_end.take() {
            Some((end, escaped)) if end < self.text.len() => {
                let rest = self.text.split_off(end);
                self.ready
                    .push(message(std::mem::replace(&mut self.text, rest)));
                self.escaped -= escaped;
            }
            _ => self.close(),
        }
    }

    /// Whether text is waiting.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.ready.is_empty()
    }

    fn close(&mut self) {
        if !self.text.is_empty() {
            self.ready.push(message(std::mem::take(&mut self.text)));
            self.escaped = 0;
            self.line_end = None;
        }
    }

    /// Every waiting event, the partial one included.
    pub fn drain(&mut self) -> Vec<Event> {
        self.close();
        std::mem::take(&mut self.ready)
    }

    /// Only the full events (text past the budget); the rest keeps waiting.
    pub fn drain_full(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::text_of;
    use super::*;

    #[test]
    fn full_events_end_at_their_last_whole_line() {
        let mut buffer = TextBuffer::default();
        let line = format!("{}\n", "x".repeat(109));
        let lines = 20_000; // 2.2 MB, as an agent printing a long log
        for _ in 0..lines {
            buffer.push(&line);
        }
        let events = buffer.drain();
        assert!(events.len() >= 8, "{}", events.len());
        for e in &events {
            assert!(e.size() <= MAX_EVENT_BYTES, "{}", e.size());
            let text = text_of(e);
            assert!(text.ends_with('\n') && text.len().is_multiple_of(line.len()));
        }
        let total: usize = events.iter().map(|e| text_of(e).len()).sum();
        assert_eq!(total, line.len() * lines);
        // A line longer than an event is still cut mid-line, after the
        // whole lines before it.
        let mut buffer = TextBuffer::default();
        buffer.push("short\n");
        buffer.push(&"y".repeat(300_000));
        let events = buffer.drain();
        assert_eq!(text_of(&events[0]), "short\n");
        assert_eq!(
            events[1..].iter().map(text_of).collect::<String>(),
            "y".repeat(300_000)
        );
    }

    #[test]
    fn escaped_text_still_fits() {
        let mut buffer = TextBuffer::default();
        buffer.push(&"\u{1}".repeat(300_000)); // 6 bytes each as JSON
        let events = buffer.drain();
        assert!(events.len() > 1);
        assert!(events.iter().all(|e| e.size() <= MAX_EVENT_BYTES));
        let total: usize = events.iter().map(|e| text_of(e).chars().count()).sum();
        assert_eq!(total, 300_000);
    }

    #[test]
    fn a_short_line_after_the_cut_leaves_room_for_what_follows() {
        // The last whole line ends at the text's first character: what
        // stays is nearly the whole budget, and a 6-byte control character
        // follows. No event may pass the budget.
        let mut buffer = TextBuffer::default();
        buffer.push("\n");
        buffer.push(&"a".repeat(TextBuffer::BUDGET - 2));
        buffer.push("\u{1}\u{1}");
        let events = buffer.drain();
        for e in &events {
            let escaped: usize = text_of(e).chars().map(escaped_len).sum();
            assert!(escaped <= TextBuffer::BUDGET, "{escaped}");
        }
        let text: String = events.iter().map(text_of).collect();
        assert_eq!(
            text,
            format!("\n{}\u{1}\u{1}", "a".repeat(TextBuffer::BUDGET - 2))
        );
    }
}
