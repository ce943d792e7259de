//! Incremental Server-Sent Events parser.
//!
//! Invariants: it never fails and never panics; it accepts bytes in chunks split anywhere (even
//! inside a UTF-8 character or between CR and LF); its memory is bounded by `Limits` plus
//! `MAX_EVENT_NAME` and `MAX_ID`, and an over-long line or event is cut and reported instead of
//! being buffered. Items are handed to a callback as they are produced, so a chunk full of tiny
//! events never piles up: what one call holds does not depend on the chunk's content.

/// One dispatched event. `event` is empty for the default "message" type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
    pub retry_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    Event(SseEvent),
    /// A `:` line, such as `: keep-alive`.
    Comment(String),
    /// A line longer than `Limits::max_line` was dropped.
    LineCut,
    /// An event whose data grew past `Limits::max_event_data` was dropped.
    EventCut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_line: usize,
    pub max_event_data: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // DeepSeek frames are a few KB; a whole answer batched into one frame stays well below.
        Limits { max_line: 256 * 1024, max_event_data: 512 * 1024 }
    }
}

/// Event names longer than this are replaced by `OVERLONG_EVENT_NAME` (known names are a few bytes).
pub const MAX_EVENT_NAME: usize = 64;
/// Stands for an over-long event name: it matches no known name.
pub const OVERLONG_EVENT_NAME: &str = "\u{FFFD}";
/// `id` values longer than this are ignored (as the spec ignores ids containing NUL): each event
/// carries a copy of the id, so its size multiplies with the number of events.
pub const MAX_ID: usize = 256;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

#[derive(Debug, Default)]
pub struct SseParser {
    limits: Limits,
    line: Vec<u8>,
    line_overflow: bool,
    after_cr: bool,
    /// How many bytes of a leading BOM have been seen; `None` once the stream start is past.
    bom_seen: Option<usize>,
    event_type: String,
    data: String,
    has_data: bool,
    data_overflow: bool,
    id: Option<String>,
    retry_ms: Option<u64>,
}

impl SseParser {
    pub fn new(limits: Limits) -> Self {
        SseParser { limits, bom_seen: Some(0), ..Default::default() }
    }

    /// Bytes currently held between calls; never more than
    /// `max_line + max_event_data + MAX_EVENT_NAME + MAX_ID`.
    pub fn buffered_bytes(&self) -> usize {
        self.line.len() + self.data.len() + self.event_type.len() + self.id.as_ref().map_or(0, String::len)
    }

    /// The most `buffered_bytes` can ever be with these limits.
    pub fn max_buffered_bytes(limits: &Limits) -> usize {
        limits.max_line + limits.max_event_data + MAX_EVENT_NAME + MAX_ID
    }

    /// Parses `bytes`, appending the items to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) {
        self.push_each(bytes, &mut |item| out.push(item));
    }

    /// End of stream, appending the last items to `out` (see `finish_each`).
    pub fn finish(&mut self, out: &mut Vec<SseItem>) {
        self.finish_each(&mut |item| out.push(item));
    }

    /// Parses `bytes`, handing each item to `emit` as soon as it is complete.
    pub fn push_each(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(SseItem)) {
        if let Some(seen) = self.bom_seen {
            let mut seen = seen;
            while seen < BOM.len() && !bytes.is_empty() && bytes[0] == BOM[seen] {
                seen += 1;
                bytes = &bytes[1..];
            }
            if seen == BOM.len() {
                self.bom_seen = None;
            } else if bytes.is_empty() {
                self.bom_seen = Some(seen);
                return;
            } else {
                // Not a BOM after all: the bytes matched so far belong to the first line.
                self.bom_seen = None;
                self.take_bytes(&BOM[..seen], emit);
            }
        }
        self.take_bytes(bytes, emit);
    }

    /// End of stream. Unlike a browser's EventSource, a final event that lacks its blank line is
    /// still dispatched: an error frame cut short must not go unseen.
    pub fn finish_each(&mut self, emit: &mut dyn FnMut(SseItem)) {
        if let Some(seen) = self.bom_seen.take() {
            self.take_bytes(&BOM[..seen], emit);
        }
        if !self.line.is_empty() || self.line_overflow {
            self.end_line(emit);
        }
        self.dispatch(emit);
    }

    fn take_bytes(&mut self, bytes: &[u8], emit: &mut dyn FnMut(SseItem)) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(pos) => {
                    self.append_to_line(&rest[..pos]);
                    self.after_cr = rest[pos] == b'\r';
                    rest = &rest[pos + 1..];
                    self.end_line(emit);
                }
                None => {
                    self.append_to_line(rest);
                    rest = &[];
                }
            }
        }
    }

    fn append_to_line(&mut self, bytes: &[u8]) {
        if self.line_overflow {
            return;
        }
        if self.line.len() + bytes.len() > self.limits.max_line {
            self.line_overflow = true;
            self.line = Vec::new();
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, emit: &mut dyn FnMut(SseItem)) {
        if self.line_overflow {
            self.line_overflow = false;
            emit(SseItem::LineCut);
            return;
        }
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(emit);
            return;
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(comment) = text.strip_prefix(':') {
            emit(SseItem::Comment(comment.trim_start().to_string()));
            return;
        }
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*text, ""),
        };
        match field {
            "event" if value.len() > MAX_EVENT_NAME => self.event_type = OVERLONG_EVENT_NAME.to_string(),
            "event" => self.event_type = value.to_string(),
            "data" => self.add_data(value),
            "id" if value.len() <= MAX_ID && !value.contains('\0') => self.id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => self.retry_ms = value.parse().ok(),
            _ => {}
        }
    }

    fn add_data(&mut self, value: &str) {
        if self.data_overflow {
            return;
        }
        let extra = value.len() + usize::from(self.has_data);
        if self.data.len() + extra > self.limits.max_event_data {
            self.data_overflow = true;
            self.data = String::new();
            return;
        }
        if self.has_data {
            self.data.push('\n');
        }
        self.data.push_str(value);
        self.has_data = true;
    }

    fn dispatch(&mut self, emit: &mut dyn FnMut(SseItem)) {
        let event_type = std::mem::take(&mut self.event_type);
        let data = std::mem::take(&mut self.data);
        let has_data = std::mem::replace(&mut self.has_data, false);
        let retry_ms = self.retry_ms.take();
        if std::mem::replace(&mut self.data_overflow, false) {
            emit(SseItem::EventCut);
            return;
        }
        // Named events without data still matter here (`event: finish` may come bare).
        if has_data || !event_type.is_empty() || retry_ms.is_some() {
            emit(SseItem::Event(SseEvent { event: event_type, data, id: self.id.clone(), retry_ms }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::new(Limits::default());
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk, &mut out);
        }
        parser.finish(&mut out);
        out
    }

    fn event(name: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent { event: name.into(), data: data.into(), id: None, retry_ms: None })
    }

    #[test]
    fn named_events_and_line_ends() {
        let wire = b"event: hint\r\ndata: {\"a\":1}\r\n\r\nevent: close\rdata: x\r\rdata: y\n\n";
        assert_eq!(parse_chunks(&[wire]), vec![event("hint", "{\"a\":1}"), event("close", "x"), event("", "y")]);
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        assert_eq!(parse_chunks(&[b"data: a\r", b"\n\r", b"\n"]), vec![event("", "a")]);
    }

    #[test]
    fn multi_line_data_comment_bom_id_retry() {
        let wire = "\u{FEFF}: keep-alive\nid: 7\nretry: 1500\ndata: one\ndata:two\n\n";
        let items = parse_chunks(&[wire.as_bytes()]);
        assert_eq!(items[0], SseItem::Comment("keep-alive".into()));
        assert_eq!(items[1], SseItem::Event(SseEvent { event: String::new(), data: "one\ntwo".into(), id: Some("7".into()), retry_ms: Some(1500) }));
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let wire = "data: 服务器繁忙\n\n".as_bytes();
        let items = parse_chunks(&[&wire[..8], &wire[8..]]);
        assert_eq!(items, vec![event("", "服务器繁忙")]);
    }

    #[test]
    fn bom_split_across_chunks_and_false_bom() {
        let wire = "\u{FEFF}data: a\n\n".as_bytes();
        assert_eq!(parse_chunks(&[&wire[..1], &wire[1..2], &wire[2..]]), vec![event("", "a")]);
        // 0xEF that does not start a BOM stays part of the line (lossy-decoded).
        let items = parse_chunks(&[b"\xEFdata: a\n\n"]);
        assert_eq!(items, vec![]);
    }

    #[test]
    fn over_long_line_is_cut_and_reported() {
        let mut parser = SseParser::new(Limits { max_line: 16, max_event_data: 64 });
        let mut out = Vec::new();
        parser.push(b"data: 0123456789", &mut out);
        parser.push(b"0123456789\ndata: ok\n\n", &mut out);
        assert_eq!(out, vec![SseItem::LineCut, event("", "ok")]);
    }

    #[test]
    fn over_long_event_is_cut_and_reported() {
        let mut parser = SseParser::new(Limits { max_line: 16, max_event_data: 10 });
        let mut out = Vec::new();
        parser.push(b"data: 123456\ndata: 123456\n\ndata: ok\n\n", &mut out);
        assert_eq!(out, vec![SseItem::EventCut, event("", "ok")]);
    }

    #[test]
    fn long_ids_are_ignored_and_long_event_names_replaced() {
        let long = "x".repeat(MAX_ID + 1);
        let wire = format!("id: 1\ndata: a\n\nid: {long}\nevent: {}\ndata: b\n\n", "e".repeat(MAX_EVENT_NAME + 1));
        let items = parse_chunks(&[wire.as_bytes()]);
        let SseItem::Event(second) = &items[1] else { panic!("{items:?}") };
        assert_eq!((second.id.as_deref(), second.event.as_str()), (Some("1"), OVERLONG_EVENT_NAME));
    }

    #[test]
    fn an_id_does_not_multiply_across_a_chunk_of_events() {
        // `id:` + 256 KiB, then a chunk of empty events: each event would carry a copy of the id.
        let mut wire = format!("id: {}\n", "i".repeat(256 * 1024 - 8)).into_bytes();
        wire.extend(b"data\n\n".repeat(256 * 1024 / 6));
        let mut parser = SseParser::new(Limits::default());
        let (mut events, mut id_bytes) = (0usize, 0usize);
        parser.push_each(&wire, &mut |item| {
            if let SseItem::Event(e) = item {
                events += 1;
                id_bytes += e.id.map_or(0, |id| id.len());
            }
        });
        assert!(events > 40_000);
        assert_eq!(id_bytes, 0, "the over-long id was ignored");
        assert!(parser.buffered_bytes() <= SseParser::max_buffered_bytes(&Limits::default()));
    }

    #[test]
    fn unterminated_final_event_is_dispatched() {
        assert_eq!(parse_chunks(&[b"event: hint\ndata: {}"]), vec![event("hint", "{}")]);
    }
}
