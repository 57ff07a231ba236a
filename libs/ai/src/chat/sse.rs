//! Server-sent events (the WHATWG `text/event-stream` format) parsed from bytes as they arrive:
//! lines end in LF, CRLF or CR; `data:` lines accumulate (one leading space dropped); a blank
//! line dispatches the event; comments (`: keep-alive`, `: OPENROUTER PROCESSING`) and `id:`,
//! `retry:` are ignored. A line or event over the cap is an error, not unbounded memory.
use super::error::ChatError;

/// Cap on one line and on one event's data.
const MAX_EVENT: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, when given (`error` from some providers).
    pub name: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// The previous byte was CR: a following LF belongs to the same line end.
    after_cr: bool,
    name: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Feeds bytes; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, ChatError> {
        let mut events = Vec::new();
        for &b in bytes {
            if self.after_cr && b == b'\n' {
                self.after_cr = false;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                let line = std::mem::take(&mut self.line);
                if let Some(ev) = self.line_done(&line)? {
                    events.push(ev);
                }
            } else {
                if self.line.len() >= MAX_EVENT {
                    return Err(ChatError::Malformed(
                        "an event-stream line is too long".into(),
                    ));
                }
                self.line.push(b);
            }
        }
        Ok(events)
    }

    /// The end of the body: a last event not followed by a blank line still counts (servers
    /// close right after their final `data:` line).
    pub fn finish(&mut self) -> Result<Option<Event>, ChatError> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty()
            && let Some(ev) = self.line_done(&line)?
        {
            return Ok(Some(ev));
        }
        Ok(self.dispatch())
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<Event>, ChatError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| ChatError::Malformed("an event-stream line is not UTF-8".into()))?;
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                if data.len() + value.len() > MAX_EVENT {
                    return Err(ChatError::Malformed(
                        "an event-stream event is too large".into(),
                    ));
                }
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            "event" => self.name = Some(value.to_string()),
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<Event> {
        let name = self.name.take();
        self.data.take().map(|data| Event { name, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_and_in_any_line_ending_are_read_whole() {
        let body = b": keep-alive\r\ndata: {\"a\":1}\r\n\r\ndata: x\ndata: y\n\nevent: error\ndata: boom\r\rdata: [DONE]";
        for split in 0..body.len() {
            let mut p = Parser::default();
            let mut got = p.feed(&body[..split]).expect("feed");
            got.extend(p.feed(&body[split..]).expect("feed"));
            got.extend(p.finish().expect("finish"));
            let data: Vec<_> = got.iter().map(|e| e.data.as_str()).collect();
            assert_eq!(
                data,
                ["{\"a\":1}", "x\ny", "boom", "[DONE]"],
                "split at {split}"
            );
            assert_eq!(got[2].name.as_deref(), Some("error"));
        }
    }
}
