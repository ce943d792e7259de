//! The background's watcher: tracks the streams each tab's relay reports and turns them into
//! verdicts. Pure state machine; the bindings feed it messages and carry out what it returns.

use std::collections::HashMap;

use crate::classify::{ResponseHead, StreamClassifier, StreamEnd};
use crate::protocol::{self, BgMessage, CsMessage, EndKind, Envelope, SelectedHeaders, Sender, Transport, VerdictEvent};
use crate::verdict::Verdict;

struct Stream {
    route: String,
    transport: Transport,
    classifier: StreamClassifier,
    reported: bool,
    /// When the last byte (or the head) arrived, for the silence check.
    last_activity_ms: f64,
    /// Who opened it: a verdict found later by the silence check is reported as theirs.
    opener: Sender,
}

/// What the background should do after a message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub reply: Option<BgMessage>,
    /// A verdict to add to the recent-events list (never from a private window).
    pub record: Option<VerdictEvent>,
}

#[derive(Default)]
pub struct Watcher {
    streams: HashMap<(i32, i32, u32), Stream>,
    pub dropped_messages: u32,
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

    /// A message that did not match the protocol.
    pub fn reject(&mut self) -> Outcome {
        self.dropped_messages += 1;
        Outcome::default()
    }

    pub fn handle(&mut self, message: CsMessage, sender: Sender) -> Outcome {
        match message {
            CsMessage::CsStreamOpen { stream, route, transport, status, headers } => {
                if !protocol::is_generation_route(&route) {
                    return self.reject();
                }
                let tab_streams = self.streams.keys().filter(|(tab, frame, _)| *tab == sender.tab_id && *frame == sender.frame_id).count();
                if tab_streams >= protocol::MAX_STREAMS_PER_TAB {
                    // A page that opens streams without ending them must not grow our memory.
                    self.forget_tab_frame(sender.tab_id, sender.frame_id);
                }
                let classifier = StreamClassifier::new(head(status, headers, sender.now_ms));
                let key = (sender.tab_id, sender.frame_id, stream);
                self.streams.insert(key, Stream { route, transport, classifier, reported: false, last_activity_ms: sender.now_ms, opener: sender });
                let decided = self.streams.get(&key).and_then(|s| s.classifier.verdict().cloned());
                self.report(key, decided, sender)
            }
            CsMessage::CsStreamBytes { stream, bytes } => {
                let key = (sender.tab_id, sender.frame_id, stream);
                let Some(raw) = latin1_bytes(&bytes) else { return self.reject() };
                let Some(state) = self.streams.get_mut(&key) else { return Outcome::default() };
                state.last_activity_ms = state.last_activity_ms.max(sender.now_ms);
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
                    return Outcome { reply: Some(BgMessage::BgAck), record: None };
                }
                event_outcome(None, route, transport, verdict, sender)
            }
            CsMessage::CsDropped { count } => {
                self.dropped_messages = self.dropped_messages.saturating_add(count);
                Outcome { reply: Some(BgMessage::BgAck), record: None }
            }
            // Retry messages belong to the hub.
            CsMessage::CsRetryDue { .. } | CsMessage::CsRetryFired | CsMessage::CsRetryCancel { .. } | CsMessage::CsPageHooks { .. } | CsMessage::CsSiteCrashed | CsMessage::CsPageLoaded => self.reject(),
        }
    }

    /// When the next open, undecided stream would count as dead if nothing arrives before then.
    pub fn next_silence_deadline(&self) -> Option<f64> {
        self.streams.values().filter(|s| !s.reported).map(|s| s.last_activity_ms + s.classifier.silence_limit_ms()).min_by(f64::total_cmp)
    }

    /// Undecided streams silent past their limit at `now_ms`: each gets its `Stalled` verdict once.
    /// Returns the tab of each with what to tell it.
    pub fn stalled(&mut self, now_ms: f64) -> Vec<(Sender, Outcome)> {
        let dead: Vec<((i32, i32, u32), f64, Sender)> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.reported && now_ms - s.last_activity_ms >= s.classifier.silence_limit_ms())
            .map(|(key, s)| (*key, now_ms - s.last_activity_ms, s.opener))
            .collect();
        dead.into_iter()
            .map(|(key, silent_ms, opener)| {
                let sender = Sender { now_ms, ..opener };
                let verdict = Verdict::Stalled { silent_s: (silent_ms / 1000.0).round().clamp(0.0, u32::MAX as f64) as u32 };
                (sender, self.report(key, Some(verdict), sender))
            })
            .collect()
    }

    /// A tab navigated or closed: its open streams will never end.
    pub fn forget_tab(&mut self, tab_id: i32) {
        self.streams.retain(|(tab, _, _), _| *tab != tab_id);
    }

    fn forget_tab_frame(&mut self, tab_id: i32, frame_id: i32) {
        self.streams.retain(|(tab, frame, _), _| !(*tab == tab_id && *frame == frame_id));
    }

    fn report(&mut self, key: (i32, i32, u32), decided: Option<Verdict>, sender: Sender) -> Outcome {
        let ack = Outcome { reply: Some(BgMessage::BgAck), record: None };
        let Some(verdict) = decided else { return ack };
        let Some(state) = self.streams.get_mut(&key) else { return ack };
        if std::mem::replace(&mut state.reported, true) {
            return ack;
        }
        event_outcome(Some(key.2), state.route.clone(), state.transport, verdict, sender)
    }
}

fn event_outcome(stream: Option<u32>, route: String, transport: Transport, verdict: Verdict, sender: Sender) -> Outcome {
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
    let (message, message_args) = verdict.message();
    Outcome {
        reply: Some(BgMessage::BgVerdict { stream, route, verdict, label, message: message.into(), message_args, decision: None, pause_hidden: false }),
        record,
    }
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
    let body = serde_json::json!({
        "code": envelope.code,
        "msg": envelope.msg,
        "data": { "biz_code": envelope.biz_code, "biz_msg": envelope.biz_msg, "biz_data": { "mute_until": envelope.mute_until } },
    });
    let mut classifier = StreamClassifier::new(head(status, headers, now_ms));
    classifier.push(body.to_string().as_bytes());
    classifier.finish(StreamEnd::Complete)
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
        assert!(matches!(out.reply, Some(BgMessage::BgVerdict { verdict: Verdict::Busy { .. }, .. })));
        assert_eq!(out.record.map(|r| r.label), Some("busy:server_busy".to_string()));
        let end = w.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, sender());
        assert_eq!(end.reply, Some(BgMessage::BgAck));
        assert_eq!(w.open_streams(), 0);
    }

    #[test]
    fn private_windows_are_not_recorded() {
        let mut w = Watcher::new();
        let private = Sender { incognito: true, ..sender() };
        w.handle(open(1), private);
        let out = w.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, private);
        assert!(out.reply.is_some());
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
        assert_eq!(w.dropped_messages, 2);
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
        assert_eq!((out.reply, out.record), (Some(BgMessage::BgAck), None));
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
