//! Fault modes for the chaos suite: a fixture name followed by `@mode` steps changes how that
//! response reaches the browser (`gen3_ok@cut:1`, `http_503@retry_after:-5`). Modes apply left to
//! right; `@hang` is the server's own and is not handled here.
//!
//! Body: `answer:BYTES:FRAME` (a generated gen3 answer, mixed CJK/ASCII text, in frames of about
//! FRAME bytes), `body:empty|garbage|binary|html`, `eol:mixed` (CRLF, LF and CR line ends in turn),
//! `json:BYTES` (a JSON envelope of that size), `pad:BYTES:LINE` (frames of LINE
//! bytes setting a field the page never shows, after the first frame), `bom`, `done2` (`data: [DONE]` twice at the end).
//! Head: `status:N`, `type:VALUE|none`, `retry_after:VALUE|past`, `header:NAME:VALUE` (appended,
//! so it can duplicate a header).
//! Delivery: `reset` (the connection closes before any byte of the response), `cut:AT` (the first AT
//! bytes, then the connection is aborted: no end of the chunked body), `end:AT` (the first AT bytes,
//! then a clean end); AT is a byte count, `frame` (the middle of the middle frame), `utf8` (inside
//! the first multi-byte character) or `finish` (just after the `event: finish` frame);
//! `trickle:MS:N` (the first N bytes one at a time, MS apart), `keepalive:MS:TOTAL` (`: ` comments
//! every MS ms for TOTAL ms after the first frame).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};

use crate::fixtures::Fixture;

/// Marks a response that must not be sent: the server closes the connection instead.
#[derive(Debug, Clone, Copy)]
pub struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by a fault mode")
    }
}

impl std::error::Error for Reset {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Clean,
    Abort,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// (delay before it in ms, bytes)
    pub chunks: Vec<(u64, Vec<u8>)>,
    pub end: End,
    pub reset: bool,
}

impl Plan {
    #[cfg(test)]
    fn body(&self) -> Vec<u8> {
        joined(&self.chunks)
    }
}

fn joined(chunks: &[(u64, Vec<u8>)]) -> Vec<u8> {
    chunks.iter().flat_map(|(_, c)| c.iter().copied()).collect()
}

/// An HTTP date long past, for `retry_after:past`.
const PAST_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const HTML_ERROR: &str =
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";

/// The fixture name and its modes, if `name` has any (`@hang` alone is not a fault).
pub fn split(name: &str) -> Option<(&str, Vec<&str>)> {
    let mut parts = name.split('@');
    let base = parts.next()?;
    let modes: Vec<&str> = parts.filter(|m| *m != "hang").collect();
    (!modes.is_empty()).then_some((base, modes))
}

/// The plan for `fixture` under `modes`; `frame_delay_ms` spaces the frames as the server does.
pub fn plan(fixture: &Fixture, modes: &[&str], frame_delay_ms: u64) -> Result<Plan, String> {
    let stream = fixture.is_event_stream();
    let mut fixture = fixture.clone();
    let mut delivery = Vec::new();
    // Body and head first, so that delivery cuts the final bytes whatever the order written.
    for mode in modes {
        let (name, arg) = mode.split_once(':').unwrap_or((mode, ""));
        match name {
            "answer" => {
                let (total, frame) = arg.split_once(':').ok_or("answer:BYTES:FRAME")?;
                fixture.body = answer(num(total)?, num(frame)?.max(1));
            }
            "body" => {
                fixture.body = match arg {
                    "empty" => Vec::new(),
                    "garbage" => b"<<<%%% not a stream %%%>>>\nevent without colon\n{\"v\":\n\ndata {oops}\n\n\xff\xfe garbage\n\n".to_vec(),
                    "binary" => (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
                    "html" => HTML_ERROR.as_bytes().to_vec(),
                    other => return Err(format!("unknown body {other:?}")),
                }
            }
            "json" => fixture.body = big_json(num(arg)?),
            "eol" if arg == "mixed" => fixture.body = mixed_line_ends(&fixture.body),
            "bom" => fixture.body.splice(0..0, [0xEF, 0xBB, 0xBF]).for_each(drop),
            "done2" => fixture.body.extend_from_slice(b"data: [DONE]\n\ndata: [DONE]\n\n"),
            "status" => fixture.status = arg.parse().map_err(|_| format!("bad status {arg:?}"))?,
            "type" => set_header(&mut fixture.headers, "content-type", (arg != "none").then_some(arg)),
            "retry_after" => set_header(&mut fixture.headers, "retry-after", Some(if arg == "past" { PAST_DATE } else { arg })),
            "header" => {
                let (k, v) = arg.split_once(':').ok_or("header:NAME:VALUE")?;
                fixture.headers.push((k.to_ascii_lowercase(), v.to_string()));
            }
            "reset" | "cut" | "end" | "trickle" | "keepalive" | "pad" => delivery.push((name, arg)),
            _ => return Err(format!("unknown fault mode {mode:?}")),
        }
    }
    // Frames as the server cuts them, even when the content type no longer says event stream.
    let framed = Fixture { headers: if stream { vec![("content-type".into(), "text/event-stream".into())] } else { Vec::new() }, ..fixture.clone() };
    let mut chunks: Vec<(u64, Vec<u8>)> = framed.frames().into_iter().enumerate().map(|(i, f)| (if i == 0 { 0 } else { frame_delay_ms }, f)).collect();
    let mut plan = Plan { status: fixture.status, headers: fixture.headers, chunks: Vec::new(), end: End::Clean, reset: false };
    for (name, arg) in delivery {
        match name {
            "reset" => plan.reset = true,
            "cut" | "end" => {
                let body = joined(&chunks);
                let at = cut_point(&body, &chunks, arg)?;
                chunks = truncate(chunks, at);
                if name == "cut" {
                    plan.end = End::Abort;
                }
            }
            "trickle" => {
                let (ms, n) = arg.split_once(':').ok_or("trickle:MS:N")?;
                let (ms, n) = (num(ms)? as u64, num(n)?);
                let body = joined(&chunks);
                let n = n.min(body.len());
                let mut trickled: Vec<(u64, Vec<u8>)> = body[..n].iter().enumerate().map(|(i, b)| (if i == 0 { 0 } else { ms }, vec![*b])).collect();
                if n < body.len() {
                    trickled.push((ms, body[n..].to_vec()));
                }
                chunks = trickled;
            }
            // Inserted as frames of their own: megabytes are not scanned for frame ends again.
            "pad" => {
                let (total, line) = arg.split_once(':').ok_or("pad:BYTES:LINE")?;
                let at = chunks.len().min(1);
                chunks.splice(at..at, padding(num(total)?, num(line)?.max(1)).into_iter().map(|f| (frame_delay_ms, f))).for_each(drop);
            }
            "keepalive" => {
                let (ms, total) = arg.split_once(':').ok_or("keepalive:MS:TOTAL")?;
                let (ms, total) = (num(ms)?.max(1) as u64, num(total)? as u64);
                let at = chunks.len().min(1);
                let comments = (0..total / ms).map(|_| (ms, b": \n\n".to_vec()));
                chunks.splice(at..at, comments).for_each(drop);
            }
            _ => unreachable!("delivery modes are listed above"),
        }
    }
    plan.chunks = chunks;
    Ok(plan)
}

fn num(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| format!("bad number {text:?}"))
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    headers.retain(|(k, _)| k != name);
    if let Some(v) = value {
        headers.push((name.to_string(), v.to_string()));
    }
}

/// Where `cut:`/`end:` stop, as a byte offset into the body.
fn cut_point(body: &[u8], chunks: &[(u64, Vec<u8>)], at: &str) -> Result<usize, String> {
    match at {
        "frame" => {
            let middle = chunks.len() / 2;
            let start: usize = chunks[..middle].iter().map(|(_, c)| c.len()).sum();
            Ok(start + chunks.get(middle).map_or(0, |(_, c)| c.len() / 2))
        }
        "utf8" => body.iter().position(|b| *b >= 0xC0).map(|i| i + 1).ok_or_else(|| "no multi-byte character to cut".into()),
        "finish" => {
            let needle = b"event: finish";
            let start = body.windows(needle.len()).position(|w| w == needle).ok_or("no finish frame")?;
            let end = body[start..].windows(2).position(|w| w == b"\n\n" || w == b"\r\r").ok_or("unterminated finish frame")?;
            Ok(start + end + 2)
        }
        n => num(n).map(|n| n.min(body.len())),
    }
}

/// The chunks holding the first `at` bytes (the last one cut short).
fn truncate(chunks: Vec<(u64, Vec<u8>)>, at: usize) -> Vec<(u64, Vec<u8>)> {
    let mut left = at;
    let mut out = Vec::new();
    for (delay, mut chunk) in chunks {
        if left == 0 {
            break;
        }
        chunk.truncate(left);
        left -= chunk.len();
        out.push((delay, chunk));
    }
    out
}

/// A finished gen3 answer of about `total` bytes of text in frames of about `frame` bytes.
fn answer(total: usize, frame: usize) -> Vec<u8> {
    const TEXT: &str = "你好，世界。Hello, chaos! ";
    let mut out = String::from(concat!(
        "event: ready\ndata: {\"request_message_id\":1,\"response_message_id\":2}\n\n",
        "data: {\"v\":{\"response\":{\"message_id\":2,\"status\":\"WIP\",\"fragments\":[{\"id\":1,\"type\":\"RESPONSE\",\"content\":\"\"}]}}}\n\n",
    ));
    let mut chars = TEXT.chars().cycle();
    let (mut written, mut first) = (0, true);
    while written < total {
        let mut piece = String::new();
        while piece.len() < frame.min(total - written) {
            piece.push(chars.next().expect("endless"));
        }
        written += piece.len();
        if first {
            out.push_str(&format!("data: {{\"v\":\"{piece}\",\"p\":\"response/fragments/0/content\",\"o\":\"APPEND\"}}\n\n"));
            first = false;
        } else {
            out.push_str(&format!("data: {{\"v\":\"{piece}\"}}\n\n"));
        }
    }
    out.push_str(concat!(
        "data: {\"v\":[{\"v\":\"FINISHED\",\"p\":\"status\"}],\"p\":\"response\",\"o\":\"BATCH\"}\n\n",
        "event: finish\ndata: {}\n\n",
        "event: close\ndata: {\"click_behavior\":\"none\",\"auto_resume\":false}\n\n",
    ));
    out.into_bytes()
}

/// `total` bytes of frames setting a field the page never shows, each line about `line` bytes.
fn padding(total: usize, line: usize) -> Vec<Vec<u8>> {
    const HEAD: &[u8] = b"data: {\"v\":\"";
    const TAIL: &[u8] = b"\",\"p\":\"response/padding\",\"o\":\"SET\"}";
    let alphabet: Vec<u8> = (b'a'..=b'z').cycle().take(line + 26).collect();
    let mut frames = Vec::new();
    let mut written = 0;
    while written < total {
        let fill = line.saturating_sub(HEAD.len() + TAIL.len()).max(1);
        let offset = frames.len() % 26;
        let frame = [HEAD, &alphabet[offset..offset + fill], TAIL, b"\n\n"].concat();
        written += frame.len();
        frames.push(frame);
    }
    frames
}

/// A successful JSON envelope of about `total` bytes.
fn big_json(total: usize) -> Vec<u8> {
    format!(r#"{{"code":0,"msg":"","data":{{"biz_code":0,"biz_msg":"","biz_data":{{"pad":"{}"}}}}}}"#, "x".repeat(total)).into_bytes()
}

/// Every line end rewritten in turn as CRLF, LF, CR (a blank line keeps one kind, so frames stay).
fn mixed_line_ends(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let mut out = Vec::with_capacity(text.len() * 2);
    for (i, frame) in text.split_inclusive("\n\n").enumerate() {
        let eol: &[u8] = [&b"\r\n"[..], b"\n", b"\r"][i % 3];
        for piece in frame.split_inclusive('\n') {
            match piece.strip_suffix('\n') {
                Some(line) => {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(eol);
                }
                None => out.extend_from_slice(piece.as_bytes()),
            }
        }
    }
    out
}

/// The response for a faulted fixture; a `Reset` extension asks the server to close instead.
pub fn response<E: From<std::io::Error> + Send + Sync + 'static>(plan: Plan) -> Response<http_body_util::combinators::BoxBody<Bytes, E>> {
    let abort = plan.end == End::Abort;
    let chunks: VecDeque<(u64, Vec<u8>)> = plan.chunks.into();
    let stream = futures_util::stream::unfold((chunks, abort), |(mut chunks, abort)| async move {
        match chunks.pop_front() {
            Some((delay, bytes)) => {
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                Some((Ok(Frame::data(Bytes::from(bytes))), (chunks, abort)))
            }
            // An error from the body makes hyper drop the connection mid-body.
            None if abort => {
                // Pending first, so hyper flushes what was sent before it drops the connection.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Err(E::from(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "fault: cut"))), (chunks, false)))
            }
            None => None,
        }
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *response.status_mut() = StatusCode::from_u16(plan.status).unwrap_or(StatusCode::OK);
    for (name, value) in &plan.headers {
        if let (Ok(name), Ok(value)) = (hyper::header::HeaderName::from_bytes(name.as_bytes()), value.parse()) {
            response.headers_mut().append(name, value);
        }
    }
    if plan.reset {
        response.extensions_mut().insert(Reset);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Fixture {
        let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/wire/gen3_ok.http")).unwrap();
        Fixture::parse(&raw).unwrap()
    }

    #[test]
    fn cuts_land_where_they_are_named() {
        let full = plan(&ok(), &["end:99999"], 0).unwrap().body();
        assert_eq!(full, ok().body);
        let cut = plan(&ok(), &["cut:1"], 0).unwrap();
        assert_eq!((cut.body(), cut.end), (b"e".to_vec(), End::Abort));
        let frame = plan(&ok(), &["end:frame"], 0).unwrap();
        assert_eq!(frame.end, End::Clean);
        assert!(!frame.body().ends_with(b"\n\n"), "ends inside a frame");
        let finish = plan(&ok(), &["cut:finish"], 0).unwrap().body();
        assert!(finish.ends_with(b"event: finish\ndata: {}\n\n") && !finish.windows(5).any(|w| w == b"close"));
        let utf8 = plan(&ok(), &["answer:300:50", "end:utf8"], 0).unwrap().body();
        assert!(std::str::from_utf8(&utf8).unwrap_err().error_len().is_none(), "stops inside a character");
    }

    #[test]
    fn generated_answers_are_framed_and_sized() {
        let p = plan(&ok(), &["answer:1048576:1048576"], 20).unwrap();
        let text = String::from_utf8(p.body()).unwrap();
        assert!(text.lines().any(|l| l.len() > 1 << 20), "one line of a megabyte");
        let p = plan(&ok(), &["answer:10485760:65536"], 20).unwrap();
        assert!(p.body().len() > 10 << 20 && p.chunks.len() > 150);
        assert!(p.chunks.iter().all(|(_, c)| std::str::from_utf8(c).is_ok()), "frames never split a character");
    }

    #[test]
    fn head_modes_and_pacing() {
        let p = plan(&ok(), &["status:503", "type:none", "retry_after:past", "header:retry-after:-5", "reset"], 20).unwrap();
        assert_eq!(p.status, 503);
        assert!(!p.headers.iter().any(|(k, _)| k == "content-type"));
        assert_eq!(p.headers.iter().filter(|(k, _)| k == "retry-after").count(), 2);
        assert!(p.reset);
        let t = plan(&ok(), &["trickle:1000:3"], 20).unwrap();
        assert_eq!(t.chunks.iter().map(|(d, c)| (*d, c.len())).take(3).collect::<Vec<_>>(), [(0, 1), (1000, 1), (1000, 1)]);
        assert_eq!(t.body(), ok().body);
        let k = plan(&ok(), &["keepalive:200:1000"], 20).unwrap();
        assert_eq!(k.chunks.iter().filter(|(_, c)| c == b": \n\n").count(), 5);
        let padded = plan(&ok(), &["pad:10485760:65536"], 20).unwrap();
        assert!(padded.body().len() > 10 << 20 && padded.chunks.len() > 150 && padded.chunks.iter().all(|(_, c)| c.len() < 70_000));
        let line = String::from_utf8(plan(&ok(), &["pad:1048576:1048576"], 20).unwrap().body()).unwrap();
        assert!(line.lines().any(|l| l.len() >= 1 << 20 && l.ends_with("\"o\":\"SET\"}")));
        assert!(serde_json::from_slice::<serde_json::Value>(&plan(&ok(), &["json:1000"], 0).unwrap().body()).is_ok());
        let mixed = plan(&ok(), &["eol:mixed", "bom", "done2"], 0).unwrap().body();
        assert!(mixed.starts_with(b"\xEF\xBB\xBFevent: ready\r\n") && mixed.windows(2).any(|w| w == b"}\r") && mixed.ends_with(b"data: [DONE]\n\n"));
        assert!(split("gen3_ok@hang").is_none());
        assert_eq!(split("gen3_ok@cut:1@hang"), Some(("gen3_ok", vec!["cut:1"])));
    }
}
