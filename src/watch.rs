//! The background's watcher: tracks the streams each tab's relay reports and turns them into
//! verdicts. Pure state machine; the bindings feed it messages and carry out what it returns.
//!
//! The page is untrusted, and the relay's checks are not relied on: every cap is enforced here
//! too, per tab, so no tab can starve another, and every refusal is counted by reason.

use crate::json::{FromJson, Json, ToJson};
use crate::small_map::SmallMap;

use crate::classify::{ResponseHead, StreamClassifier, StreamEnd};
use crate::protocol::{self, CsMessage, EndKind, Envelope, SelectedHeaders, Sender, Transport, VerdictEvent};
use crate::verdict::Verdict;

/// Messages a tab may send per second: twice the relay's own cap, so a working relay never meets it.
pub const MAX_MESSAGES_PER_TAB_PER_SECOND: u32 = 800;
/// Body bytes a tab may send per second (a streamed answer is a few KB per second).
pub const MAX_BYTES_PER_TAB_PER_SECOND: usize = 8 * 1024 * 1024;
/// A stream that has had no message for this long may make room for a new one.
pub const STREAM_IDLE_MS: f64 = 120_000.0;
const RATE_WINDOW_MS: f64 = 1_000.0;

struct Stream {
    route: String,
    transport: Transport,
    classifier: StreamClassifier,
    reported: bool,
    /// Who opened it: a verdict found later by the silence check is reported as theirs.
    opener: Sender,
    opened_ms: f64,
    last_active_ms: f64,
    conversation: u64,
}

/// Why messages from pages were refused, counted for the popup's self-check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ToJson, FromJson)]
pub struct DropCounts {
    /// Did not match the protocol (shape, route, bytes above U+00FF).
    pub malformed: u32,
    /// Dropped by the relay before they reached the background (it reports how many).
    pub by_relay: u32,
    /// A body chunk over `protocol::MAX_CHUNK_BYTES`.
    pub oversized_chunks: u32,
    /// Over `MAX_MESSAGES_PER_TAB_PER_SECOND`.
    pub message_rate: u32,
    /// Over `MAX_BYTES_PER_TAB_PER_SECOND` (the stream that lost bytes is forgotten, unjudged).
    pub byte_rate: u32,
    /// New streams refused: the tab already had `MAX_STREAMS_PER_TAB` open, none finished or idle.
    pub too_many_streams: u32,
    /// Streams forgotten to make room: already reported, or idle for `STREAM_IDLE_MS`.
    pub evicted_streams: u32,
    /// Page hook markers that are not in the known table (never shown).
    pub unknown_markers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Malformed,
    OversizedChunk,
    MessageRate,
    ByteRate,
    TooManyStreams,
    EvictedStream,
    UnknownMarker,
}

impl DropCounts {
    pub fn total(&self) -> u32 {
        [
            self.malformed,
            self.by_relay,
            self.oversized_chunks,
            self.message_rate,
            self.byte_rate,
            self.too_many_streams,
            self.evicted_streams,
            self.unknown_markers,
        ]
        .iter()
        .fold(0u32, |sum, n| sum.saturating_add(*n))
    }

    pub fn count(&mut self, reason: DropReason, n: u32) {
        let counter = match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::OversizedChunk => &mut self.oversized_chunks,
            DropReason::MessageRate => &mut self.message_rate,
            DropReason::ByteRate => &mut self.byte_rate,
            DropReason::TooManyStreams => &mut self.too_many_streams,
            DropReason::EvictedStream => &mut self.evicted_streams,
            DropReason::UnknownMarker => &mut self.unknown_markers,
        };
        *counter = counter.saturating_add(n);
    }
}

/// One tab's use of the current one-second window.
#[derive(Default)]
struct TabMeter {
    window_start_ms: f64,
    messages: u32,
    bytes: usize,
}

impl TabMeter {
    fn roll(&mut self, now_ms: f64) {
        // A clock that jumps back also starts a new window.
        if !(now_ms >= self.window_start_ms && now_ms - self.window_start_ms < RATE_WINDOW_MS) {
            *self = TabMeter { window_start_ms: now_ms, ..TabMeter::default() };
        }
    }
}

/// What the watcher learnt from a message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// A response judged (each stream once); the hub decides what follows.
    pub found: Option<Found>,
    /// A verdict to add to the recent-events list (never from a private window).
    pub record: Option<VerdictEvent>,
}

/// A judged response: a generation stream (`stream`) or a JSON route (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub stream: Option<u32>,
    pub route: String,
    pub verdict: Verdict,
    /// The conversation the page showed when the request's head arrived (`tag`; 0 if unknown).
    pub conversation: u64,
}

#[derive(Default)]
pub struct Watcher {
    streams: SmallMap<(i32, i32, u32), Stream>,
    meters: SmallMap<i32, TabMeter>,
    drops: DropCounts,
}

impl Watcher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Tabs with a generation in flight.
    pub fn streaming_tabs(&self) -> impl Iterator<Item = i32> + '_ {
        self.streams.keys().map(|(tab, _, _)| *tab)
    }

    /// Messages refused, by reason.
    /// Whether this stream of the sender's tab is being watched (admitted, not yet ended).
    pub fn watches(&self, sender: Sender, stream: u32) -> bool {
        self.streams.contains_key(&(sender.tab_id, sender.frame_id, stream))
    }

    /// Notes which conversation a stream belongs to (its verdict is about that one).
    pub fn tag(&mut self, sender: Sender, stream: u32, conversation: u64) {
        if let Some(state) = self.streams.get_mut(&(sender.tab_id, sender.frame_id, stream)) {
            state.conversation = conversation;
        }
    }

    pub fn drops(&self) -> DropCounts {
        self.drops
    }

    /// Every message refused, whatever the reason.
    pub fn dropped_messages(&self) -> u32 {
        self.drops.total()
    }

    /// A message that did not match the protocol.
    pub fn reject(&mut self) -> Outcome {
        self.refuse(DropReason::Malformed)
    }

    /// A message refused for `reason` (counted; nothing else happens).
    pub fn refuse(&mut self, reason: DropReason) -> Outcome {
        self.drops.count(reason, 1);
        Outcome::default()
    }

    pub fn count_drops(&mut self, reason: DropReason, n: u32) {
        self.drops.count(reason, n);
    }

    /// Whether the tab is still within its messages per second; every relay message (retry
    /// messages included) passes here first. Refusals are counted.
    pub fn admit(&mut self, message: &CsMessage, sender: Sender) -> bool {
        let meter = self.meters.get_or_default(sender.tab_id);
        meter.roll(sender.now_ms);
        meter.messages = meter.messages.saturating_add(1);
        if meter.messages <= MAX_MESSAGES_PER_TAB_PER_SECOND {
            return true;
        }
        self.drops.count(DropReason::MessageRate, 1);
        if let CsMessage::CsStreamBytes { stream, .. } = message {
            // A stream missing bytes cannot be judged (as over the byte rate).
            self.streams.remove(&(sender.tab_id, sender.frame_id, *stream));
        }
        false
    }

    pub fn handle(&mut self, message: CsMessage, sender: Sender) -> Outcome {
        match message {
            CsMessage::CsStreamOpen { stream, route, transport, status, headers } => {
                if !protocol::is_generation_route(&route) {
                    return self.reject();
                }
                let key = (sender.tab_id, sender.frame_id, stream);
                if !self.streams.contains_key(&key) && !self.make_room(sender) {
                    return self.refuse(DropReason::TooManyStreams);
                }
                let classifier = StreamClassifier::new(head(status, headers, sender.now_ms));
                let now = sender.now_ms;
                self.streams.insert(
                    key,
                    Stream { route, transport, classifier, reported: false, opened_ms: now, last_active_ms: now, opener: sender, conversation: 0 },
                );
                let decided = self.streams.get(&key).and_then(|s| s.classifier.verdict().cloned());
                self.report(key, decided, sender)
            }
            CsMessage::CsStreamBytes { stream, bytes } => {
                let key = (sender.tab_id, sender.frame_id, stream);
                // A UTF-8 string of one char per byte is at most twice as long as its bytes.
                if bytes.len() > 2 * protocol::MAX_CHUNK_BYTES {
                    return self.refuse(DropReason::OversizedChunk);
                }
                let Some(raw) = latin1_bytes(&bytes) else { return self.reject() };
                if raw.len() > protocol::MAX_CHUNK_BYTES {
                    return self.refuse(DropReason::OversizedChunk);
                }
                if !self.streams.contains_key(&key) {
                    return Outcome::default();
                }
                let meter = self.meters.get_or_default(sender.tab_id);
                meter.roll(sender.now_ms);
                meter.bytes = meter.bytes.saturating_add(raw.len());
                if meter.bytes > MAX_BYTES_PER_TAB_PER_SECOND {
                    // A stream missing bytes cannot be judged: a spliced frame could read as anything.
                    self.streams.remove(&key);
                    return self.refuse(DropReason::ByteRate);
                }
                let Some(state) = self.streams.get_mut(&key) else { return Outcome::default() };
                state.last_active_ms = sender.now_ms;
                let decided = state.classifier.push(&raw);
                self.report(key, decided, sender)
            }
            CsMessage::CsStreamEnd { stream, end } => {
                let key = (sender.tab_id, sender.frame_id, stream);
                let Some(state) = self.streams.get_mut(&key) else { return Outcome::default() };
                let verdict = state.classifier.finish(match end {
                    EndKind::Complete => StreamEnd::Complete,
                    EndKind::Aborted => StreamEnd::Aborted,
                    EndKind::NetworkError => StreamEnd::NetworkError,
                });
                let outcome = self.report(key, Some(verdict), sender);
                self.streams.remove(&key);
                outcome
            }
            CsMessage::CsJsonResponse { route, transport, status, headers, envelope, .. } => {
                if !protocol::is_json_route(&route) {
                    return self.reject();
                }
                let verdict = judge_json_response(status, headers, &envelope, sender.now_ms);
                if verdict == Verdict::Ok {
                    return Outcome::default();
                }
                event_outcome(None, route, transport, verdict, sender, 0)
            }
            CsMessage::CsDropped { count, stream } => {
                self.drops.by_relay = self.drops.by_relay.saturating_add(count);
                // A stream missing bytes, still undecided: a spliced stream could read as anything
                // (a complete answer as dropped, then regenerated), so it is forgotten unjudged, as
                // over the byte rate. Only the stream the relay names: other drops (a page
                // offering ports, forged messages) must not cost the real streams their verdicts.
                if let Some(id) = stream {
                    let key = (sender.tab_id, sender.frame_id, id);
                    if self.streams.get(&key).is_some_and(|s| !s.reported) {
                        self.streams.remove(&key);
                    }
                }
                Outcome::default()
            }
            // Retry messages belong to the hub.
            CsMessage::CsPageState { .. }
            | CsMessage::CsTimerDue
            | CsMessage::CsRetryNow
            | CsMessage::CsStandDown { .. }
            | CsMessage::CsPressFailed { .. }
            | CsMessage::CsPageHooks { .. }
            | CsMessage::CsSiteCrashed
            | CsMessage::CsAskApi
            | CsMessage::CsPageLoaded { .. } => self.reject(),
        }
    }

    /// When the next open, undecided stream would count as dead if nothing arrives before then.
    pub fn next_silence_deadline(&self) -> Option<f64> {
        self.streams.values().filter(|s| !s.reported).map(|s| s.last_active_ms + s.classifier.silence_limit_ms()).min_by(f64::total_cmp)
    }

    /// Undecided streams silent past their limit at `now_ms`: each gets its `Stalled` verdict once.
    /// Returns the tab of each with what to tell it.
    pub fn stalled(&mut self, now_ms: f64) -> Vec<(Sender, Outcome)> {
        let dead: Vec<((i32, i32, u32), f64, Sender)> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.reported && now_ms - s.last_active_ms >= s.classifier.silence_limit_ms())
            .map(|(key, s)| (*key, now_ms - s.last_active_ms, s.opener))
            .collect();
        dead.into_iter()
            .map(|(key, silent_ms, opener)| {
                let sender = Sender { now_ms, ..opener };
                let verdict = Verdict::Stalled { silent_s: crate::bounded((silent_ms / 1000.0).round(), 0.0, u32::MAX as f64) as u32 };
                (sender, self.report(key, Some(verdict), sender))
            })
            .collect()
    }

    /// A tab navigated or closed: its open streams will never end.
    pub fn forget_tab(&mut self, tab_id: i32) {
        self.streams.retain(|(tab, _, _), _| *tab != tab_id);
        self.meters.remove(&tab_id);
    }

    /// Whether the sender's tab may open one more stream, evicting one if it has to. A page that
    /// opens streams without ending them must not grow our memory, nor erase a stream still being
    /// judged: only a stream already reported (oldest first) or idle for `STREAM_IDLE_MS` makes
    /// room; otherwise the new stream is refused.
    fn make_room(&mut self, sender: Sender) -> bool {
        let tab_streams = || self.streams.iter().filter(|((tab, _, _), _)| *tab == sender.tab_id);
        if tab_streams().count() < protocol::MAX_STREAMS_PER_TAB {
            return true;
        }
        let reported = tab_streams().filter(|(_, s)| s.reported).min_by(|a, b| a.1.opened_ms.total_cmp(&b.1.opened_ms));
        let idle = || {
            tab_streams().filter(|(_, s)| sender.now_ms - s.last_active_ms >= STREAM_IDLE_MS).min_by(|a, b| a.1.last_active_ms.total_cmp(&b.1.last_active_ms))
        };
        let Some(evicted) = reported.or_else(idle).map(|(key, _)| *key) else { return false };
        self.streams.remove(&evicted);
        self.drops.count(DropReason::EvictedStream, 1);
        true
    }

    fn report(&mut self, key: (i32, i32, u32), decided: Option<Verdict>, sender: Sender) -> Outcome {
        let ack = Outcome::default();
        let Some(verdict) = decided else { return ack };
        let Some(state) = self.streams.get_mut(&key) else { return ack };
        if std::mem::replace(&mut state.reported, true) {
            return ack;
        }
        event_outcome(Some(key.2), state.route.clone(), state.transport, verdict, sender, state.conversation)
    }
}

fn event_outcome(stream: Option<u32>, route: String, transport: Transport, verdict: Verdict, sender: Sender, conversation: u64) -> Outcome {
    let label = verdict.label();
    let record = (!sender.incognito).then(|| VerdictEvent {
        at_ms: sender.now_ms,
        tab_id: sender.tab_id,
        route: route.clone(),
        transport,
        verdict: verdict.clone(),
        label: label.clone(),
        after_retries: None,
    });
    Outcome { found: Some(Found { stream, route, verdict, conversation }), record }
}

fn head(status: u16, headers: SelectedHeaders, now_ms: f64) -> ResponseHead {
    ResponseHead {
        status,
        content_type: headers.content_type,
        retry_after: headers.retry_after,
        waf_action: headers.waf_action,
        cf_mitigated: headers.cf_mitigated,
        heartbeat_timeout_secs: headers.heartbeat_timeout_secs,
        now_ms: if now_ms.is_finite() && now_ms > 0.0 { now_ms as u64 } else { 0 },
    }
}

/// A JSON route's answer, judged from its status, headers and envelope fields alone.
fn judge_json_response(status: u16, headers: SelectedHeaders, envelope: &Envelope, now_ms: f64) -> Verdict {
    let is_error = |code: Option<i64>| code.is_some_and(|c| c != 0);
    // `/users/current` of a muted account: not an error envelope, but the user should know.
    if let Some(until_s) = envelope.mute_until.filter(|until| (*until as f64) * 1000.0 > now_ms) {
        return Verdict::Muted { until_s: Some(until_s) };
    }
    if status == 200 && !is_error(envelope.code) && !is_error(envelope.biz_code) {
        // The usual answer: `{"code":0,…,"data":{"biz_code":0,…}}`.
        return Verdict::Ok;
    }
    let object = |fields: Vec<(&str, Json)>| Json::Object(fields.into_iter().map(|(name, value)| (name.to_string(), value)).collect());
    let biz_data = object(vec![("mute_until", envelope.mute_until.to_json())]);
    let data = object(vec![("biz_code", envelope.biz_code.to_json()), ("biz_msg", envelope.biz_msg.to_json()), ("biz_data", biz_data)]);
    let body = object(vec![("code", envelope.code.to_json()), ("msg", envelope.msg.to_json()), ("data", data)]);
    // The envelope's texts are its only words, each cut at the relay's own cap (not relied on).
    let capped = |text: &Option<String>| text.as_deref().unwrap_or_default().chars().take(protocol::MAX_TEXT_CHARS).collect::<String>();
    let mut words = capped(&envelope.msg);
    words.push('\n');
    words.push_str(&capped(&envelope.biz_msg));
    crate::classify::judge_body(&head(status, headers, now_ms), &words, Some(&body))
}

/// Decodes the relay's one-char-per-byte string; `None` if a char is above U+00FF.
pub fn latin1_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Sender {
        Sender { tab_id: 3, frame_id: 0, incognito: false, now_ms: 1.0, local_hour: 0 }
    }

    #[test]
    fn a_json_route_answered_by_a_challenge_says_so_from_its_headers() {
        use crate::verdict::ChallengeKind;
        let cloudflare = SelectedHeaders { cf_mitigated: Some("challenge".into()), ..Default::default() };
        assert_eq!(judge_json_response(403, cloudflare, &Envelope::default(), 0.0), Verdict::Challenge { challenge: ChallengeKind::Cloudflare });
        let waf = SelectedHeaders { waf_action: Some("challenge".into()), ..Default::default() };
        assert_eq!(judge_json_response(202, waf, &Envelope::default(), 0.0), Verdict::Challenge { challenge: ChallengeKind::Waf });
    }

    fn open(stream: u32) -> CsMessage {
        CsMessage::CsStreamOpen {
            stream,
            route: "/api/v0/chat/completion".into(),
            transport: Transport::Fetch,
            status: 200,
            headers: SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() },
        }
    }

    #[test]
    fn busy_stream_is_reported_once_and_recorded() {
        let mut w = Watcher::new();
        w.handle(open(1), sender());
        let bytes = "event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"server_busy\"}\n\n";
        let out = w.handle(CsMessage::CsStreamBytes { stream: 1, bytes: bytes.into() }, sender());
        assert!(matches!(out.found, Some(Found { verdict: Verdict::Busy { .. }, stream: Some(1), .. })));
        assert_eq!(out.record.map(|r| r.label), Some("busy:server_busy".to_string()));
        let end = w.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, sender());
        assert_eq!(end.found, None, "each stream is judged once");
        assert_eq!(w.open_streams(), 0);
    }

    #[test]
    fn a_stream_that_lost_a_chunk_in_the_relay_is_not_judged() {
        let mut w = Watcher::new();
        w.handle(open(1), sender());
        w.handle(CsMessage::CsStreamBytes { stream: 1, bytes: "data: {\"v\":\"Hel".into() }, sender());
        // A drop that names no stream (say, a port the page offered) leaves the stream alone.
        let before = w.open_streams();
        w.handle(CsMessage::CsDropped { count: 1, stream: None }, sender());
        assert_eq!(w.open_streams(), before);
        // The relay dropped the chunk with the finish frame, then the page's stream ended.
        w.handle(CsMessage::CsDropped { count: 1, stream: Some(1) }, sender());
        let end = w.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, sender());
        assert_eq!((end.found, end.record), (None, None), "no verdict, so no regeneration of an answer that may be whole");
        assert_eq!(w.drops().by_relay, 2);
        // Another tab's stream and a stream already judged are untouched.
        let other = Sender { tab_id: 4, ..sender() };
        w.handle(open(2), other);
        w.handle(open(3), sender());
        let busy = "event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"server_busy\"}\n\n";
        w.handle(CsMessage::CsStreamBytes { stream: 3, bytes: busy.into() }, sender());
        w.handle(CsMessage::CsDropped { count: 1, stream: Some(3) }, sender());
        assert_eq!(w.open_streams(), 2);
    }

    #[test]
    fn private_windows_are_not_recorded() {
        let mut w = Watcher::new();
        let private = Sender { incognito: true, ..sender() };
        w.handle(open(1), private);
        let out = w.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, private);
        assert_eq!(out.found.map(|f| f.verdict), Some(Verdict::Dropped));
        assert_eq!(out.record, None);
    }

    #[test]
    fn unknown_routes_and_bad_bytes_are_dropped() {
        let mut w = Watcher::new();
        let mut bad = open(1);
        if let CsMessage::CsStreamOpen { route, .. } = &mut bad {
            *route = "/api/v0/users/current".into();
        }
        w.handle(bad, sender());
        w.handle(open(2), sender());
        w.handle(CsMessage::CsStreamBytes { stream: 2, bytes: "服".into() }, sender());
        assert_eq!(w.drops().malformed, 2);
    }

    #[test]
    fn streams_per_tab_are_bounded() {
        let mut w = Watcher::new();
        for id in 0..100 {
            w.handle(open(id), sender());
        }
        assert!(w.open_streams() <= protocol::MAX_STREAMS_PER_TAB);
    }

    #[test]
    fn a_normal_json_answer_is_ok_and_not_recorded() {
        let mut w = Watcher::new();
        let msg = CsMessage::CsJsonResponse {
            route: "/api/v0/chat/create_pow_challenge".into(),
            transport: Transport::Fetch,
            status: 200,
            headers: SelectedHeaders { content_type: Some("application/json".into()), ..Default::default() },
            envelope: Envelope { code: Some(0), biz_code: Some(0), ..Default::default() },
            elapsed_ms: None,
        };
        let out = w.handle(msg, sender());
        assert_eq!((out.found, out.record), (None, None));
    }

    #[test]
    fn json_route_envelope() {
        let mut w = Watcher::new();
        let msg = CsMessage::CsJsonResponse {
            route: "/api/v0/users/current".into(),
            transport: Transport::Xhr,
            status: 200,
            headers: SelectedHeaders::default(),
            envelope: Envelope { code: Some(40003), msg: Some("Authorization Failed (invalid token)".into()), ..Default::default() },
            elapsed_ms: Some(80.0),
        };
        let out = w.handle(msg, sender());
        assert_eq!(out.record.map(|r| r.verdict), Some(Verdict::AuthExpired));
    }
}
