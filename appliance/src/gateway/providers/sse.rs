//! An incremental Server-Sent Events parser (the WHATWG event-stream format): bytes in, whole
//! events out, whatever the chunking of the network. Lines end in `\n`, `\r\n` or `\r`; `data:`
//! lines of one event are joined with `\n`; comments (`:`) and unknown fields are ignored.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (empty when absent).
    pub event: String,
    /// The joined `data:` lines.
    pub data: String,
}

/// Longest pending line accepted (a provider that never ends a line is cut off).
const MAX_LINE: usize = 8 * 1024 * 1024;

/// The parser state.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: Vec<String>,
    has_data: bool,
    skip_lf: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete. `Err` when a line grows past the limit.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, String> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.skip_lf = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line) {
                        out.push(event);
                    }
                }
                _ => {
                    self.line.push(b);
                    if self.line.len() > MAX_LINE {
                        return Err("an event-stream line is longer than 8 MiB".into());
                    }
                }
            }
        }
        Ok(out)
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            return Some(SseEvent {
                event,
                data: data.join("\n"),
            });
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_chunking_gives_the_same_events() {
        let stream = b"event: message_start\r\ndata: {\"a\":1}\r\n\r\n: ping\n\ndata: x\ndata: y\n\nevent: ping\ndata: {}\n\n";
        let whole = SseParser::default().feed(stream).unwrap();
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: "message_start".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: "".into(),
                    data: "x\ny".into()
                },
                SseEvent {
                    event: "ping".into(),
                    data: "{}".into()
                },
            ]
        );
        for size in 1..8 {
            let mut p = SseParser::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(size) {
                got.extend(p.feed(chunk).unwrap());
            }
            assert_eq!(got, whole, "chunk size {size}");
        }
    }
}
