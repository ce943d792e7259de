//! One `Verdict` per observed response, decided as early as the bytes allow.
//!
//! Invariants: never panics on any input; keys on codes first and on texts only as a fallback;
//! anything it does not recognise ends as `Unknown` (notify, never retry), never as `Busy`.

use crate::json::Json;

use crate::signatures::{self as sig, Meaning};
use crate::sse::{Limits, SseItem, SseParser};
use crate::verdict::{ChallengeKind, Verdict};

/// Without `x-ds-sse-heartbeat-timeout-secs`, a stream silent this long is dead: the client's own
/// `completion_timeout_ms` (60 s, client settings) plus slack.
pub const DEFAULT_SILENCE_LIMIT_MS: f64 = 90_000.0;
/// Slack over the server's heartbeat time-out, and the bounds of any limit read from the wire.
pub const SILENCE_SLACK_MS: f64 = 15_000.0;
pub const SILENCE_LIMIT_RANGE_MS: (f64, f64) = (20_000.0, 600_000.0);

/// A raw (non-SSE) body is kept up to this size; envelopes and challenge pages are far smaller.
pub const MAX_RAW_BODY: usize = 64 * 1024;
/// A frame's JSON is looked into this deep (real frames nest a few levels)...
const MAX_WALK_DEPTH: usize = 32;
/// ...and along paths up to this long (real paths are like `response/fragments/-1/status`).
const MAX_PATH: usize = 256;

/// What the hook saw of a response before its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub waf_action: Option<String>,
    pub cf_mitigated: Option<String>,
    /// `x-ds-sse-heartbeat-timeout-secs`: how long the server lets a stream sit silent.
    pub heartbeat_timeout_secs: Option<String>,
    /// Milliseconds since the epoch when the head arrived, to read an HTTP-date `Retry-After`.
    pub now_ms: u64,
}

/// How the body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    Complete,
    /// The page (or the user through it) aborted the request.
    Aborted,
    NetworkError,
}

/// Things seen that the signature tables do not know: the self-check reads these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Oddities {
    pub unknown_events: u32,
    pub unparsable_frames: u32,
    pub cut_lines: u32,
}

#[derive(Debug)]
enum Body {
    Sse(SseParser),
    Raw(Vec<u8>),
}

#[derive(Debug)]
pub struct StreamClassifier {
    head: ResponseHead,
    body: Body,
    verdict: Option<Verdict>,
    saw_frame: bool,
    saw_content_start: bool,
    /// Answer text arrived: a later `close {retry}` is then not a silent time-out.
    saw_answer_text: bool,
    last_path: String,
    pub oddities: Oddities,
}

impl StreamClassifier {
    pub fn new(head: ResponseHead) -> Self {
        let is_sse = head.status == 200 && head.content_type.as_deref().is_some_and(|ct| sig::occurs(&ct.to_ascii_lowercase(), "text/event-stream"));
        let body = if is_sse { Body::Sse(SseParser::new(Limits::default())) } else { Body::Raw(Vec::new()) };
        let verdict = header_verdict(&head);
        StreamClassifier {
            head,
            body,
            verdict,
            saw_frame: false,
            saw_content_start: false,
            saw_answer_text: false,
            last_path: String::new(),
            oddities: Oddities::default(),
        }
    }

    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// How long this stream may sit without a byte (heartbeats included) before it counts as dead.
    pub fn silence_limit_ms(&self) -> f64 {
        // Whole seconds, as the site sends them (a float parser would cost the WASM ~5 KiB).
        let from_header = self.head.heartbeat_timeout_secs.as_deref().and_then(|v| v.trim().parse::<u32>().ok()).filter(|s| *s > 0).map(f64::from);
        let (lo, hi) = SILENCE_LIMIT_RANGE_MS;
        from_header.map_or(DEFAULT_SILENCE_LIMIT_MS, |secs| crate::bounded(secs * 1000.0 + SILENCE_SLACK_MS, lo, hi))
    }

    /// Bytes held between calls; never more than `max_buffered_bytes()`.
    pub fn buffered_bytes(&self) -> usize {
        match &self.body {
            Body::Sse(parser) => parser.buffered_bytes(),
            Body::Raw(raw) => raw.len(),
        }
    }

    /// The most `buffered_bytes` can ever be, whatever the bytes and their chunking.
    pub fn max_buffered_bytes() -> usize {
        MAX_RAW_BODY.max(SseParser::max_buffered_bytes(&Limits::default()))
    }

    /// Feeds body bytes; returns the verdict at the moment it is first decided.
    pub fn push(&mut self, mut bytes: &[u8]) -> Option<Verdict> {
        if self.verdict.is_some() {
            return None;
        }
        if let Body::Sse(_) = self.body {
            if !self.saw_content_start {
                // A JSON envelope or an HTML page served as an event stream: judge it as a whole.
                if let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF) {
                    self.saw_content_start = true;
                    if bytes[start] == b'{' || bytes[start] == b'<' {
                        // From the content on, so the kept part does not depend on the chunking.
                        self.body = Body::Raw(Vec::new());
                        bytes = &bytes[start..];
                    }
                }
            }
        }
        match &mut self.body {
            Body::Raw(raw) => {
                let room = MAX_RAW_BODY.saturating_sub(raw.len());
                raw.extend_from_slice(&bytes[..bytes.len().min(room)]);
                None
            }
            Body::Sse(_) => self.parse_sse(Some(bytes)),
        }
    }

    /// Runs the SSE parser on `bytes` (or ends it on `None`), judging each item as soon as it is
    /// complete: a chunk's items are never collected, so memory does not grow with their number.
    fn parse_sse(&mut self, bytes: Option<&[u8]>) -> Option<Verdict> {
        let Body::Sse(mut parser) = std::mem::replace(&mut self.body, Body::Raw(Vec::new())) else { return None };
        let mut decided = None;
        let mut judge = |item| {
            if let Some(verdict) = self.take_item(item) {
                decided.get_or_insert(verdict);
            }
        };
        match bytes {
            Some(bytes) => parser.push_each(bytes, &mut judge),
            None => parser.finish_each(&mut judge),
        }
        self.body = Body::Sse(parser);
        decided
    }

    /// Ends the stream and returns the final verdict.
    pub fn finish(&mut self, end: StreamEnd) -> Verdict {
        if self.verdict.is_none() {
            let verdict = match &self.body {
                Body::Sse(_) => {
                    self.parse_sse(None);
                    None
                }
                Body::Raw(raw) => Some(judge_raw_body(&self.head, raw)),
            };
            if let Some(v) = verdict {
                self.verdict = Some(v);
            }
        }
        if self.verdict.is_none() {
            self.verdict = Some(match end {
                StreamEnd::Aborted => Verdict::Ok,
                StreamEnd::Complete | StreamEnd::NetworkError => Verdict::Dropped,
            });
        }
        self.verdict.clone().unwrap_or(Verdict::Unknown)
    }

    /// Judges one parsed item; returns the verdict if this item decided it.
    fn take_item(&mut self, item: SseItem) -> Option<Verdict> {
        if self.verdict.is_some() {
            return None;
        }
        match item {
            SseItem::Event(event) => {
                self.saw_frame = true;
                self.verdict = self.judge_event(&event.event, &event.data);
                self.verdict.clone()
            }
            SseItem::LineCut | SseItem::EventCut => {
                self.oddities.cut_lines = self.oddities.cut_lines.saturating_add(1);
                None
            }
            SseItem::Comment(_) => None,
        }
    }

    fn judge_event(&mut self, name: &str, data: &str) -> Option<Verdict> {
        if !sig::KNOWN_EVENTS.contains(&name) {
            self.oddities.unknown_events += 1;
        }
        let data = data.trim();
        if name.is_empty() && data == "[DONE]" {
            return Some(Verdict::Ok);
        }
        let value = match Json::parse(data) {
            Some(value) => value,
            None if data.is_empty() => Json::Null,
            None => {
                self.oddities.unparsable_frames += 1;
                return sig::text(data).map(|m| m.verdict(sig::BUSY_TEXT_CODE));
            }
        };
        match name {
            "finish" => return Some(Verdict::Ok),
            "close" => {
                // `retry` follows busy, throttling and time-outs alike (their own frames decided
                // those already). With no answer text at all it is a time-out; after text, unknown.
                return Some(match value.get("click_behavior").and_then(Json::as_str) {
                    Some("retry") if self.saw_answer_text => Verdict::Unknown,
                    Some("retry") => Verdict::Busy { code: sig::SILENT_CLOSE_CODE.into() },
                    _ => Verdict::Ok,
                });
            }
            "hint" | "toast" => {
                let is_error = value.get("type").and_then(Json::as_str) == Some("error");
                return if is_error { Some(judge_error_object(&value)) } else { None };
            }
            _ => {}
        }
        if let Some(verdict) = judge_envelope(&value) {
            return Some(verdict);
        }
        let verdict = self.walk(&value, "");
        if verdict.is_none() && !self.saw_answer_text && matches!(name, "" | "message" | "delta") {
            self.saw_answer_text = carries_answer_text(&value, &self.last_path);
        }
        verdict
    }

    /// Looks through a frame for error objects, statuses, finish reasons and telling fragments.
    fn walk(&mut self, value: &Json, path: &str) -> Option<Verdict> {
        let mut path = path.to_string();
        self.walk_at(value, &mut path, 0)
    }

    /// `path` is one buffer, extended and cut back around each child: linear in the frame's size.
    /// Deeper or longer than the caps, a frame is not looked into (no real frame gets there).
    fn walk_at(&mut self, value: &Json, path: &mut String, depth: usize) -> Option<Verdict> {
        if depth > MAX_WALK_DEPTH {
            return None;
        }
        match value {
            Json::Object(map) => {
                if value.get("type").and_then(Json::as_str) == Some("error") {
                    return Some(judge_error_object(value));
                }
                if let Some(kind) = value.get("type").and_then(Json::as_str) {
                    if let Some(meaning) = sig::fragment_type(kind) {
                        return Some(meaning.verdict(kind));
                    }
                }
                if let Some(reason) = value.get("finish_reason").and_then(Json::as_str) {
                    return Some(finish_reason_verdict(reason));
                }
                if let Some(v) = value.get("v") {
                    // A JSON patch: `p` is relative to the enclosing path; a bare `v` continues the last path.
                    let at_top = path.is_empty();
                    let added = match value.get("p").and_then(Json::as_str) {
                        Some(p) => p.len() + usize::from(!at_top),
                        None if at_top => self.last_path.len(),
                        None => 0,
                    };
                    if path.len() + added > MAX_PATH {
                        if at_top {
                            self.last_path.clear();
                        }
                        return None;
                    }
                    let mark = path.len();
                    match value.get("p").and_then(Json::as_str) {
                        Some(p) => {
                            if !at_top {
                                path.push('/');
                            }
                            path.push_str(p);
                        }
                        None if at_top => path.push_str(&self.last_path),
                        None => {}
                    }
                    if at_top {
                        self.last_path.clone_from(path);
                    }
                    // `response/status` or a batch's `status`; not `quasi_status` or `search_status`.
                    let verdict = match (path.rsplit('/').next() == Some("status"), v.as_str()) {
                        (true, Some(status)) => sig::message_status(status).map(|m| m.verdict(status)),
                        _ => self.walk_at(v, path, depth + 1),
                    };
                    path.truncate(mark);
                    return verdict;
                }
                for (key, child) in map {
                    if path.len() + 1 + key.len() > MAX_PATH {
                        continue;
                    }
                    let mark = path.len();
                    if !path.is_empty() {
                        path.push('/');
                    }
                    path.push_str(key);
                    let verdict = if key == "status" && path.ends_with("response/status") {
                        child.as_str().and_then(sig::message_status).and_then(|m| match m {
                            Meaning::Finished | Meaning::Stopped => None,
                            other => Some(other.verdict("")),
                        })
                    } else {
                        self.walk_at(child, path, depth + 1)
                    };
                    path.truncate(mark);
                    if verdict.is_some() {
                        return verdict;
                    }
                }
                None
            }
            Json::Array(items) => items.iter().find_map(|item| self.walk_at(item, path, depth + 1)),
            _ => None,
        }
    }
}

/// Whether a frame carries answer text: a non-empty string appended or set at a `content` path,
/// a fragment with content, or an OpenAI-like delta. Error objects do not count.
fn carries_answer_text(value: &Json, last_path: &str) -> bool {
    let non_empty = |v: &Json| v.as_str().is_some_and(|t| !t.is_empty());
    match value {
        Json::Object(map) => {
            if value.get("type").and_then(Json::as_str) == Some("error") {
                return false;
            }
            if value.get("content").is_some_and(non_empty) {
                return true;
            }
            if let Some(v) = value.get("v") {
                let path = value.get("p").and_then(Json::as_str).unwrap_or(if value.get("p").is_some() { "" } else { last_path });
                if path.ends_with("content") && non_empty(v) {
                    return true;
                }
            }
            map.iter().map(|(_, child)| child).any(|child| (child.is_object() || child.is_array()) && carries_answer_text(child, ""))
        }
        Json::Array(items) => items.iter().any(|item| carries_answer_text(item, "")),
        _ => false,
    }
}

fn finish_reason_verdict(reason: &str) -> Verdict {
    match sig::finish_reason(reason) {
        Some(meaning) => meaning.verdict(reason),
        None => Verdict::Unknown,
    }
}

/// An error frame: `{"type":"error","content":…,"finish_reason":…}` (or a text `code`).
fn judge_error_object(value: &Json) -> Verdict {
    if let Some(reason) = value.get("finish_reason").and_then(Json::as_str) {
        if let Some(meaning) = sig::finish_reason(reason) {
            return meaning.verdict(reason);
        }
    }
    if let Some(meaning) = value.get("code").and_then(Json::as_str).and_then(sig::text_code) {
        return meaning.verdict("");
    }
    let text = ["content", "msg", "message"].iter().find_map(|k| value.get(k).and_then(Json::as_str)).unwrap_or("");
    sig::text(text).map_or(Verdict::Unknown, |m| m.verdict(sig::BUSY_TEXT_CODE))
}

/// `{"code":…,"msg":…}` and `{"code":0,"data":{"biz_code":…,"biz_msg":…,"biz_data":…}}`.
fn judge_envelope(value: &Json) -> Option<Verdict> {
    if let Some(meaning) = value.get("code").and_then(Json::as_str).and_then(sig::text_code) {
        return Some(meaning.verdict(""));
    }
    let code = value.get("code").and_then(Json::as_i64)?;
    if code != 0 {
        if let Some(meaning) = sig::envelope_code(code) {
            return Some(meaning.verdict(""));
        }
        let msg = value.get("msg").and_then(Json::as_str).unwrap_or_default();
        return Some(server_message(msg, code));
    }
    let data = value.get("data")?;
    let biz_code = data.get("biz_code").and_then(Json::as_i64)?;
    if biz_code == 0 {
        return None;
    }
    let msg = data.get("biz_msg").and_then(Json::as_str).unwrap_or_default();
    let meaning = sig::biz_code(biz_code).or_else(|| sig::text(msg));
    Some(match meaning {
        Some(Meaning::Muted) => Verdict::Muted { until_s: mute_until(data) },
        Some(m) => m.verdict(sig::BUSY_TEXT_CODE),
        None => server_message(msg, biz_code),
    })
}

/// `biz_data.mute_until` (seconds since the epoch), where the answer says until when.
fn mute_until(data: &Json) -> Option<u64> {
    let biz = data.get("biz_data")?;
    let until = biz.get("mute_until").or_else(|| biz.get("chat").and_then(|c| c.get("mute_until")))?;
    until.as_f64().filter(|s| s.is_finite() && *s >= 0.0).map(|s| s as u64)
}

fn server_message(msg: &str, code: i64) -> Verdict {
    let msg: String = msg.chars().take(200).collect();
    Verdict::ServerMessage { msg: if msg.is_empty() { format!("error {code}") } else { msg } }
}

/// A challenge the response's headers announce, whatever its body says.
fn header_verdict(head: &ResponseHead) -> Option<Verdict> {
    let says_challenge = |header: &Option<String>| header.as_deref().is_some_and(|a| a.trim().eq_ignore_ascii_case(sig::CHALLENGE_VALUE));
    if head.status == sig::EDGE_ACCEPTED_STATUS && says_challenge(&head.waf_action) {
        Some(Verdict::Challenge { challenge: ChallengeKind::Waf })
    } else if says_challenge(&head.cf_mitigated) {
        Some(Verdict::Challenge { challenge: ChallengeKind::Cloudflare })
    } else {
        None
    }
}

/// A body that is not an event stream: HTTP errors, envelopes, challenge and maintenance pages.
fn judge_raw_body(head: &ResponseHead, raw: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_start_matches('\u{FEFF}').trim();
    judge_body(head, text, Json::parse(text).as_ref())
}

/// What a body that is not an event stream says: its status first, then its JSON envelope or
/// error object (`value`, if it is JSON), then telling words in its `text`.
pub fn judge_body(head: &ResponseHead, text: &str, value: Option<&Json>) -> Verdict {
    if let Some(challenge) = header_verdict(head) {
        return challenge;
    }
    let page_meaning = sig::text(text);
    if head.status >= 400 || head.status == sig::EDGE_ACCEPTED_STATUS {
        // Only a challenge, block or maintenance page says more than the status itself.
        return match page_meaning {
            Some(m @ (Meaning::Cloudflare | Meaning::HuaweiWaf | Meaning::Maintenance)) => m.verdict(""),
            _ if head.status == sig::EDGE_ACCEPTED_STATUS => Verdict::Challenge { challenge: ChallengeKind::Cloudfront },
            _ => Verdict::HttpError { status: head.status, retry_after_secs: retry_after_secs(head) },
        };
    }
    if let Some(value) = value {
        if let Some(verdict) = judge_envelope(value) {
            return verdict;
        }
        if let Some(error) = value.get("error").filter(|e| e.is_object()) {
            return judge_error_object(error);
        }
    }
    match page_meaning {
        Some(meaning) => meaning.verdict(sig::BUSY_TEXT_CODE),
        None if text.is_empty() && value.is_none() => Verdict::Dropped,
        None => Verdict::Unknown,
    }
}

/// The server's "retry after" hint in whole seconds, from `Retry-After` (seconds or HTTP date).
/// `x-fetch-after-sec` is not one: it is the client settings' cache lifetime. Clamping belongs to
/// the retry policy; a negative or unreadable value is no hint.
pub fn retry_after_secs(head: &ResponseHead) -> Option<u32> {
    head.retry_after.as_deref().and_then(|v| parse_retry_after(v, head.now_ms))
}

pub(crate) fn parse_retry_after(value: &str, now_ms: u64) -> Option<u32> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.min(u32::MAX as u64) as u32);
    }
    let at = parse_http_date(value)?;
    let now = now_ms / 1000;
    Some(at.saturating_sub(now).min(u32::MAX as u64) as u32)
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to seconds since the epoch.
pub fn parse_http_date(value: &str) -> Option<u64> {
    // Char patterns only: a string pattern brings std's two-way searcher into the WASM.
    let rest = value.split_once(',')?.1.strip_prefix(' ')?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let day: u64 = day.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| m == month)? as u64 + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 || year < 1970 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo as i64 + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as u64 * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse_head() -> ResponseHead {
        ResponseHead { status: 200, content_type: Some("text/event-stream; charset=utf-8".into()), ..Default::default() }
    }

    fn classify(head: ResponseHead, body: &str) -> Verdict {
        let mut c = StreamClassifier::new(head);
        c.push(body.as_bytes());
        c.finish(StreamEnd::Complete)
    }

    #[test]
    fn busy_hint_is_decided_before_the_stream_ends() {
        let mut c = StreamClassifier::new(sse_head());
        let decided = c.push(b"event: hint\ndata: {\"type\":\"error\",\"content\":\"x\",\"finish_reason\":\"expert_busy_use_default\"}\n\n");
        assert_eq!(decided, Some(Verdict::Busy { code: "expert_busy_use_default".into() }));
    }

    #[test]
    fn nested_error_and_text_fallback() {
        let body = "data: {\"v\":{\"type\":\"error\",\"content\":\"服务器繁忙，请稍后再试。\"}}\n\n";
        assert_eq!(classify(sse_head(), body), Verdict::Busy { code: "server_busy".into() });
    }

    #[test]
    fn finished_batch_is_ok_and_missing_end_is_dropped() {
        let ok = "data: {\"v\":[{\"v\":\"FINISHED\",\"p\":\"status\"}],\"p\":\"response\",\"o\":\"BATCH\"}\n\n";
        assert_eq!(classify(sse_head(), ok), Verdict::Ok);
        let cut = "data: {\"v\":\"Hel\",\"p\":\"response/fragments/0/content\",\"o\":\"APPEND\"}\n\n";
        assert_eq!(classify(sse_head(), cut), Verdict::Dropped);
    }

    #[test]
    fn envelopes_and_http_statuses() {
        let json = ResponseHead { status: 200, content_type: Some("application/json".into()), ..Default::default() };
        assert_eq!(classify(json.clone(), r#"{"code":40003,"msg":"Authorization Failed (invalid token)","data":null}"#), Verdict::AuthExpired);
        assert_eq!(
            classify(json.clone(), r#"{"code":0,"data":{"biz_code":3,"biz_msg":"Nope","biz_data":null}}"#),
            Verdict::ServerMessage { msg: "Nope".into() }
        );
        let overloaded = ResponseHead { status: 503, retry_after: Some("7".into()), ..Default::default() };
        assert_eq!(classify(overloaded, "oops"), Verdict::HttpError { status: 503, retry_after_secs: Some(7) });
        let waf = ResponseHead { status: 202, waf_action: Some("challenge".into()), ..Default::default() };
        assert_eq!(classify(waf, ""), Verdict::Challenge { challenge: ChallengeKind::Waf });
    }

    #[test]
    fn http_date_retry_after() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        let head = ResponseHead { status: 429, retry_after: Some("Sun, 06 Nov 1994 08:50:37 GMT".into()), now_ms: 784_111_777_000, ..Default::default() };
        assert_eq!(retry_after_secs(&head), Some(60));
    }
}
