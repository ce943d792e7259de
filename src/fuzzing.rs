//! The invariants the fuzz targets (`fuzz/`) check, shared with the plain `cargo test` replay of
//! the committed corpus (`tests/fuzz_replay.rs`). Each check takes the fuzzer's raw bytes and
//! panics if an invariant breaks: no panic inside the core, memory bounded by a constant, the same
//! verdict under any chunking.

use crate::budget::BudgetConfig;
use crate::classify::{ResponseHead, StreamClassifier, StreamEnd};
use crate::diagnose::conflicts::HookState;
use crate::diagnose::view::{self, DiagnoseInput, HubFacts};
use crate::hub::{Hub, HubState};
use crate::json::{FromJson, Json, ToJson};
use crate::lenient;
use crate::protocol::{self, CsMessage, EndKind, Envelope, PressFailure, SelectedHeaders, Sender, StandDown, Transport, UiMessage};
use crate::restore::{self, hub_from_storage};
use crate::settings::Settings;
use crate::sse::{Limits, SseItem, SseParser};
use crate::watch::Watcher;

/// Small limits, so that short fuzz inputs reach the caps.
const SMALL_LIMITS: Limits = Limits { max_line: 64, max_event_data: 128 };

/// Reads the fuzzer's bytes front to back; past the end it reads zeros.
struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.data = rest;
        first
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[usize::from(self.byte()) % choices.len()]
    }
}

/// Splits `body` into chunks whose lengths cycle through `lengths` (each at least 1).
fn chunks<'b>(body: &'b [u8], lengths: &[u8]) -> Vec<&'b [u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    for length in lengths.iter().map(|l| usize::from(*l) + 1).cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(length.min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

/// Input: one byte choosing the limits, one byte `n`, `n % 8` chunk lengths, then the wire bytes.
/// Checks: the items are the same under the chosen chunking as in one piece, and the parser never
/// holds more than its bound.
pub fn check_sse(data: &[u8]) {
    let mut cursor = Cursor { data };
    let limits = if cursor.byte() % 2 == 0 { SMALL_LIMITS } else { Limits::default() };
    let split_count = usize::from(cursor.byte() % 8);
    let lengths = cursor.take(split_count).to_vec();
    let wire = cursor.data;
    let parse = |pieces: &[&[u8]]| {
        let mut parser = SseParser::new(limits);
        let mut items: Vec<SseItem> = Vec::new();
        for piece in pieces {
            parser.push(piece, &mut items);
            assert!(parser.buffered_bytes() <= SseParser::max_buffered_bytes(&limits), "buffered {}", parser.buffered_bytes());
        }
        parser.finish(&mut items);
        items
    };
    let whole = parse(&[wire]);
    let lengths = if lengths.is_empty() { vec![0] } else { lengths };
    assert_eq!(parse(&chunks(wire, &lengths)), whole, "items depend on the chunking");
}

/// Input: one byte choosing the response head, then as `check_sse`. Checks: the verdict is the
/// same under the chosen chunking, byte by byte (short inputs) and in one piece; memory bounded.
pub fn check_classify(data: &[u8]) {
    let mut cursor = Cursor { data };
    let head_choice = cursor.byte();
    let status = [200, 200, 200, 202, 429, 503, 404, 200][usize::from(head_choice % 8)];
    let content_type = ["text/event-stream; charset=utf-8", "application/json", "text/html"][usize::from(head_choice / 8 % 3)];
    let head = ResponseHead {
        status,
        content_type: Some(content_type.into()),
        retry_after: (head_choice & 0x40 != 0).then(|| "7".into()),
        waf_action: (head_choice & 0x80 != 0).then(|| "challenge".into()),
        now_ms: 1_764_000_000_000,
        ..Default::default()
    };
    let split_count = usize::from(cursor.byte() % 8);
    let lengths = cursor.take(split_count).to_vec();
    let body = cursor.data;
    let end = [StreamEnd::Complete, StreamEnd::Aborted, StreamEnd::NetworkError][usize::from(head_choice % 3)];
    let classify = |pieces: &[&[u8]]| {
        let mut classifier = StreamClassifier::new(head.clone());
        for piece in pieces {
            classifier.push(piece);
            assert!(classifier.buffered_bytes() <= StreamClassifier::max_buffered_bytes());
        }
        classifier.finish(end)
    };
    let whole = classify(&[body]);
    let lengths = if lengths.is_empty() { vec![0] } else { lengths };
    assert_eq!(classify(&chunks(body, &lengths)), whole, "verdict depends on the chunking");
    if body.len() <= 2048 {
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(classify(&bytes), whole, "verdict differs byte by byte");
    }
}

/// Input: JSON text (anything else is read as JSON `null`). Every decoder of what crosses from
/// JavaScript or storage reads it; the readers of stored data always give a usable value.
pub fn check_decoders(data: &[u8]) {
    let value = std::str::from_utf8(data).ok().and_then(Json::parse).unwrap_or(Json::Null);
    let _ = CsMessage::from_json(&value);
    let _ = Sender::from_json(&value);
    let settings = Settings::from_stored_value(&value);
    assert!(settings.problems().is_empty(), "stored settings read as invalid: {settings:?}");
    let now = 1_800_000_000_000.0;
    let mut hub = hub_from_storage(&value, &value, &value, now);
    let state = hub.state();
    assert!(state.tabs.len() <= restore::MAX_RESTORED_TABS && state.page_hooks.len() <= restore::MAX_RESTORED_TABS);
    assert!(state.budget.recent_requests.len() <= BudgetConfig::default().site_limit_per_minute);
    let longest = restore::longest_wait_ms(&crate::retry::Policy::with_settings(hub.settings()));
    assert!(state.budget.cooldown_until_ms <= now + longest);
    assert!(state.tabs.iter().filter_map(|t| t.pending.as_ref()).all(|p| p.due_ms <= now + longest));
    assert!(state.paused_until_ms.is_finite() && state.paused_until_ms <= now + crate::hub::MAX_PAUSE_MS, "a stored pause lasts a day at most");
    assert_eq!(hub.history().hours.len(), 24);
    if let Some(message) = UiMessage::from_json(&value) {
        hub.handle_ui(message, now);
    }
    // The popup's module reads both halves of its input leniently: any value gives a view.
    let input: DiagnoseInput = lenient::field_by_field(&value);
    let facts: HubFacts = lenient::field_by_field(&value);
    view::build(&input, &facts);
    view::build(&input, &hub.facts());
}

/// Input: a sequence of relay messages (see `next_message`) from three tabs. Checks: no panic;
/// open streams at most `MAX_STREAMS_PER_TAB` per tab; the stored state stays bounded.
pub fn check_hub(data: &[u8]) {
    let mut cursor = Cursor { data };
    let mut hub = Hub::new(None, Settings::default(), None);
    let mut watcher = Watcher::new();
    let mut now = 1_800_000_000_000.0;
    let mut messages = 0;
    while !cursor.data.is_empty() && messages < 2_000 {
        messages += 1;
        let tab_id = i32::from(cursor.byte() % 3);
        now += f64::from(cursor.pick(&[0u32, 0, 10, 1_000, 30_000, 700_000]));
        let sender = Sender { tab_id, frame_id: 0, incognito: tab_id == 2, now_ms: now, local_hour: 12 };
        let Some(message) = next_message(&mut cursor) else {
            hub.forget_tab(tab_id);
            watcher.forget_tab(tab_id);
            continue;
        };
        if watcher.admit(&message, sender) {
            watcher.handle(message.clone(), sender);
        }
        hub.handle(message, sender, 0.5);
        // The silence alarm may fire at any time; each dead stream is reported once, never clicked.
        for (_, outcome) in hub.stalled(now).0 {
            assert!(matches!(outcome.decision, None | Some(crate::retry::Decision::Explain { .. })), "a stalled stream is never clicked");
            assert!(!matches!(outcome.reply, Some(crate::protocol::BgMessage::BgView { press: Some(_), .. })), "nothing is pressed unasked by a stall");
        }
        assert!(watcher.open_streams() <= 3 * protocol::MAX_STREAMS_PER_TAB);
        let state = hub.state();
        assert!(state.tabs.len() <= 3 && state.page_hooks.len() <= 3);
        assert!(state.budget.recent_requests.len() <= BudgetConfig::default().site_limit_per_minute);
        assert!(state.page_hooks.iter().all(|t| t.hooks.markers.len() <= crate::diagnose::conflicts::HOOK_MARKERS.len()));
    }
    // Numbers cross to JavaScript as `f64`: one that is not exact there (a hash past 2^53) would not come back.
    let saved = hub.state().to_json();
    assert_eq!(HubState::from_json(&saved).as_ref(), Some(hub.state()), "state round-trips through JavaScript's numbers");
}

/// One relay message from the fuzzer's bytes; `None` stands for "the tab closed".
fn next_message(cursor: &mut Cursor) -> Option<CsMessage> {
    let stream = u32::from(cursor.byte() % 20);
    let headers = |cursor: &mut Cursor| SelectedHeaders {
        content_type: Some(cursor.pick(&["text/event-stream", "application/json"]).into()),
        retry_after: cursor.pick(&[None, Some("5"), Some("Sun, 06 Nov 1994 08:49:37 GMT")]).map(String::from),
        heartbeat_timeout_secs: cursor.pick(&[None, Some("5"), Some("-1"), Some("1e308")]).map(String::from),
        ..Default::default()
    };
    Some(match cursor.byte() % 13 {
        0 => CsMessage::CsStreamOpen {
            stream,
            route: cursor.pick(protocol::GENERATION_ROUTES).into(),
            transport: Transport::Fetch,
            status: cursor.pick(&[200, 200, 429, 503, 202]),
            headers: headers(cursor),
        },
        1..=3 => {
            let length = usize::from(cursor.byte()) * 8;
            CsMessage::CsStreamBytes { stream, bytes: cursor.take(length).iter().map(|b| char::from(*b)).collect() }
        }
        4 => CsMessage::CsStreamEnd { stream, end: cursor.pick(&[EndKind::Complete, EndKind::Aborted, EndKind::NetworkError]) },
        5 => CsMessage::CsJsonResponse {
            route: cursor.pick(protocol::JSON_ROUTES).into(),
            transport: Transport::Xhr,
            status: cursor.pick(&[200, 429, 503]),
            headers: headers(cursor),
            envelope: Envelope {
                code: Some(i64::from(cursor.pick(&[0, 40003, 40002, 1]))),
                msg: Some("x".into()),
                biz_code: Some(i64::from(cursor.pick(&[0, 1, 3, 5]))),
                biz_msg: None,
                mute_until: cursor.pick(&[None, Some(1_893_456_000)]),
            },
            elapsed_ms: Some(f64::from(cursor.byte()) * 40.0),
        },
        6 if cursor.byte() % 4 == 0 => CsMessage::CsRetryNow,
        6 => CsMessage::CsTimerDue,
        7 => CsMessage::CsPageState { conversation: cursor.pick(&["/", "/a/chat/s/1", "/a/chat/s/2"]).into(), hidden: cursor.byte() % 3 == 0 },
        8 if cursor.byte() % 2 == 0 => CsMessage::CsStandDown { reason: cursor.pick(&[StandDown::Stop, StandDown::Typed]) },
        8 => CsMessage::CsPressFailed { why: cursor.pick(&[PressFailure::NoControl, PressFailure::NotRendered]) },
        10 => CsMessage::CsPageLoaded { late: cursor.byte() % 2 == 1 },
        11 if cursor.byte() % 2 == 0 => CsMessage::CsSiteCrashed,
        11 => CsMessage::CsAskApi,
        9 => {
            let length = usize::from(cursor.byte() % 40);
            let marker = String::from_utf8_lossy(cursor.take(length)).into_owned();
            let states = [HookState::Clean, HookState::WrappedBefore, HookState::ReplacedAfter];
            CsMessage::CsPageHooks {
                fetch: cursor.pick(&states),
                xhr: cursor.pick(&states),
                markers: vec![marker, "deepseek-pp.fetch-hook-installed".into()],
                login_token: Some(true),
            }
        }
        _ => return None,
    })
}
