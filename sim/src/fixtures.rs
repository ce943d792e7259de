//! Wire fixtures: each file is an HTTP/1.1 response exactly as the wire would carry it
//! (status line, headers, blank line, body bytes).

use std::path::Path;

#[derive(Debug, Clone)]
pub struct Fixture {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Fixture {
    pub fn load(dir: &Path, name: &str) -> Result<Fixture, String> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(format!("bad fixture name {name:?}"));
        }
        let path = dir.join(format!("{name}.http"));
        let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Fixture::parse(&raw).ok_or_else(|| format!("{}: not an HTTP response", path.display()))
    }

    pub fn parse(raw: &[u8]) -> Option<Fixture> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..split]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines.filter_map(|line| line.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
        Some(Fixture { status, headers, body: raw[split + 4..].to_vec() })
    }

    pub fn is_event_stream(&self) -> bool {
        self.headers.iter().any(|(k, v)| k == "content-type" && v.contains("text/event-stream"))
    }

    /// The body cut after each blank line, so a stream arrives frame by frame.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        if !self.is_event_stream() {
            return vec![self.body.clone()];
        }
        let mut frames = Vec::new();
        let mut start = 0;
        let body = &self.body;
        let mut i = 0;
        while i < body.len() {
            let ends = [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"];
            if let Some(end) = ends.iter().find(|e| body[i..].starts_with(e)) {
                i += end.len();
                frames.push(body[start..i].to_vec());
                start = i;
            } else {
                i += 1;
            }
        }
        if start < body.len() {
            frames.push(body[start..].to_vec());
        }
        frames
    }
}
