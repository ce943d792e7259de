//! The one message protocol between the extension's parts, serialised as JSON-like objects.
//!
//! Names start with the sender, as in Dark Reader: `cs_` (content script relay, forwarding what
//! the page hook observed), `bg_` (background), `ui_` (popup and options pages).
//! The relay checks shapes and sizes cheaply; this module is the strict schema: anything that does
//! not deserialise into these types is dropped and counted.

use crate::json::{FromJson, Json, ToJson};

use crate::diagnose::conflicts::HookState;
use crate::diagnose::view::HubFacts;
use crate::settings::{Problem, Settings};
use crate::verdict::Verdict;

/// Generation routes stream an answer; JSON routes only matter through their error envelope.
pub const GENERATION_ROUTES: &[&str] =
    &["/api/v0/chat/completion", "/api/v0/chat/regenerate", "/api/v0/chat/continue", "/api/v0/chat/edit_message", "/api/v0/chat/resume_stream"];
pub const JSON_ROUTES: &[&str] = &["/api/v0/chat_session/create", "/api/v0/chat/create_pow_challenge", "/api/v0/users/current"];

/// Caps the relay enforces too; the background re-checks them.
pub const MAX_CHUNK_BYTES: usize = 256 * 1024;
pub const MAX_STREAMS_PER_TAB: usize = 16;
/// Relay-side guards at the page boundary (the core applies its own, see `watch`).
pub const MAX_STREAM_BYTES: usize = 16 * 1024 * 1024;
pub const MAX_RELAY_MESSAGES_PER_SECOND: u32 = 400;
/// Longest header value, envelope text or marker the relay passes on.
pub const MAX_TEXT_CHARS: usize = 256;
/// Longest JSON answer the hook reads for its error envelope.
pub const MAX_JSON_CHARS: usize = 64 * 1024;
/// Most hook markers in one report.
pub const MAX_MARKERS: usize = 8;

/// The response headers `SelectedHeaders` carries, as the hook asks for them.
pub const HEADER_NAMES: &[&str] = &["content-type", "retry-after", "x-amzn-waf-action", "cf-mitigated", "x-ds-sse-heartbeat-timeout-secs"];
/// The fields of `Envelope`.
pub const ENVELOPE_KEYS: &[&str] = &["code", "msg", "biz_code", "biz_msg", "mute_until"];

/// Where the background keeps things (`storage.session` unless said otherwise).
pub const STORAGE_KEYS: &[(&str, &str)] = &[
    ("hubState", "hubState"),
    ("recentEvents", "recentEvents"),
    ("coreFaults", "coreFaults"),
    ("statusIncident", "statusIncident"),
    // The API panel's one-time token and the tab it was opened for (`Effect::OpenPanel`).
    ("apiPanel", "apiPanel"),
    // storage.local
    ("busyHistory", "busyHistory"),
    ("cookieFirstSeen", "cookieFirstSeen"),
    // storage.sync
    ("settings", "settings"),
    // storage.sync, written by the options page: where the API fallback sends a prompt (the key
    // is never in storage: see `api_endpoint`).
    ("apiEndpoint", "apiEndpoint"),
];
/// The key the background keeps `name` under (one of `STORAGE_KEYS`).
pub fn storage_key(name: &str) -> &'static str {
    STORAGE_KEYS.iter().find(|(known, _)| *known == name).map_or_else(|| panic!("no storage key {name}"), |(_, key)| *key)
}

/// Recent verdicts kept for the popup.
pub const RECENT_EVENTS_LIMIT: usize = 50;

/// The window events of the hook↔relay handshake (the only thing the two share before the port).
/// The hook's messages as the relay guards them: each field and the kind of value it must hold
/// (the relay's checks by kind; `decode` checks again). A test holds it to `CsMessage`'s fields.
pub const HOOK_MESSAGE_FIELDS: &[(&str, &[(&str, &str)])] = &[
    ("cs_stream_open", &[("stream", "stream"), ("route", "streamRoute"), ("transport", "transport"), ("status", "status"), ("headers", "headers")]),
    ("cs_stream_bytes", &[("stream", "stream"), ("bytes", "bytes")]),
    ("cs_stream_end", &[("stream", "stream"), ("end", "end")]),
    (
        "cs_json_response",
        &[
            ("route", "jsonRoute"),
            ("transport", "transport"),
            ("status", "status"),
            ("headers", "headers"),
            ("envelope", "envelope"),
            ("elapsed_ms", "elapsed"),
        ],
    ),
    ("cs_page_hooks", &[("fetch", "hookState"), ("xhr", "hookState"), ("markers", "markers"), ("login_token", "flag")]),
];

pub const HANDSHAKE_EVENTS: &[(&str, &str)] = &[("hookPort", "unbusy:hook-port"), ("hookReady", "unbusy:hook-ready"), ("relayReady", "unbusy:relay-ready")];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum Transport {
    Fetch,
    Xhr,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Fetch => "fetch",
            Transport::Xhr => "xhr",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum EndKind {
    Complete,
    Aborted,
    NetworkError,
}

/// Response headers the hook may pass on; every other header stays in the page.
#[derive(Debug, Clone, Default, PartialEq, Eq, ToJson, FromJson)]
#[json(deny_unknown_fields)]
pub struct SelectedHeaders {
    #[json(default, rename = "content-type")]
    pub content_type: Option<String>,
    #[json(default, rename = "retry-after")]
    pub retry_after: Option<String>,
    #[json(default, rename = "x-amzn-waf-action")]
    pub waf_action: Option<String>,
    #[json(default, rename = "cf-mitigated")]
    pub cf_mitigated: Option<String>,
    #[json(default, rename = "x-ds-sse-heartbeat-timeout-secs")]
    pub heartbeat_timeout_secs: Option<String>,
}

/// The error fields of a JSON envelope; nothing else of an account's data leaves the page.
#[derive(Debug, Clone, Default, PartialEq, Eq, ToJson, FromJson)]
#[json(deny_unknown_fields)]
pub struct Envelope {
    #[json(default)]
    pub code: Option<i64>,
    #[json(default)]
    pub msg: Option<String>,
    #[json(default)]
    pub biz_code: Option<i64>,
    #[json(default)]
    pub biz_msg: Option<String>,
    /// `biz_data.mute_until` (seconds since the epoch) of a muted account; nothing else of `biz_data`.
    #[json(default)]
    pub mute_until: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
#[json(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CsMessage {
    /// A generation response's head arrived.
    CsStreamOpen {
        stream: u32,
        route: String,
        transport: Transport,
        status: u16,
        headers: SelectedHeaders,
    },
    /// Observed body bytes, one char per byte (U+0000..U+00FF): extension messaging in Chromium
    /// is JSON, which would turn a `Uint8Array` into an object of numbers.
    CsStreamBytes {
        stream: u32,
        bytes: String,
    },
    CsStreamEnd {
        stream: u32,
        end: EndKind,
    },
    /// A JSON route answered; only its envelope's error fields are passed on.
    CsJsonResponse {
        route: String,
        transport: Transport,
        status: u16,
        headers: SelectedHeaders,
        envelope: Envelope,
        /// From the page's request to the response head: the connection check needs no request of its own.
        #[json(default)]
        elapsed_ms: Option<f64>,
    },
    /// The relay dropped malformed or excess messages from the page since its last report;
    /// `stream`: one of them was bytes of this stream (over a size cap), which is now incomplete.
    CsDropped {
        count: u32,
        #[json(default)]
        stream: Option<u32>,
    },
    /// Where the page is and whether it is on screen, sent before any other message whenever
    /// either changed. The path names the conversation (the app changes it in place); the core
    /// keeps only a hash of it.
    CsPageState {
        conversation: String,
        hidden: bool,
    },
    /// The one timer the core asked for (`BgView::timer_ms`) ran out.
    CsTimerDue,
    /// The user pressed the banner's "Retry now".
    CsRetryNow,
    /// The user stood Unbusy down (the banner's "Stop", or typing in the message box).
    CsStandDown {
        reason: StandDown,
    },
    /// The relay could not press the control the core asked for.
    CsPressFailed {
        why: PressFailure,
    },
    /// A new document started in this tab (load or reload): whatever was pending belongs to the old one.
    CsPageLoaded {
        /// Unbusy's scripts came after the page's own (injected into a tab open before an install
        /// or update): the relay took no hook port, so the tab is not watched until it reloads.
        #[json(default)]
        late: bool,
    },
    /// The page shows DeepSeek's own crash screen, which blames browser extensions (no page text is sent).
    CsSiteCrashed,
    /// The user pressed the banner's "Ask through the API": the background opens the panel for this tab.
    CsAskApi,
    /// What the hook saw of the page's `fetch` and `XMLHttpRequest` (other extensions' wrappers).
    CsPageHooks {
        fetch: HookState,
        xhr: HookState,
        markers: Vec<String>,
        /// Whether the web app's login token is present (never its value).
        #[json(default)]
        login_token: Option<bool>,
    },
}

/// What the user did to stop a countdown (page facts; the core decides what they end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum StandDown {
    /// The banner's "Stop".
    Stop,
    /// A trusted input event in the message box.
    Typed,
}

/// Why the relay could not press the control (page facts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum PressFailure {
    /// The last assistant message holds no such control.
    NoControl,
    /// The message the failure belongs to is no longer the last one in the page (a virtualised
    /// list scrolled away from it, or it was re-rendered): the control on screen is another answer's.
    NotRendered,
}

/// From the extension's own pages (popup, options).
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
#[json(tag = "type", rename_all = "snake_case")]
pub enum UiMessage {
    UiGetSettings,
    /// Validated by the core; saved only if every value is acceptable.
    UiSaveSettings {
        settings: Json,
    },
    /// What the popup shows that only the background knows (`BgFacts`).
    UiFacts,
    /// "Pause Unbusy": no automatic retry for `minutes` (at most a day), in every tab.
    UiPause {
        minutes: u32,
    },
    /// The pause ends now (the popup's "Resume now").
    UiResume,
    /// The popup's "Ask through the API" for this tab: the background opens the panel.
    UiAskApi {
        tab_id: i32,
    },
}

/// The API panel (an extension page) to the relay of the tab it was opened for. The relay only
/// reads the page's last user message or carries a prompt to a new chat: the page never sees the
/// panel, the key or the answer.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
#[json(tag = "type", rename_all = "snake_case")]
pub enum PanelMessage {
    /// Answered with `PagePrompt`: the text of the chat's last user message.
    PanelLastPrompt,
}

/// The relay's answer to `PanelLastPrompt` (empty: no user message on screen). Checked again by the
/// panel: at most `MAX_PROMPT_CHARS`.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
#[json(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PagePrompt {
    PagePrompt { text: String },
}

/// The longest prompt the relay hands to the panel (characters, as JavaScript counts them).
pub const MAX_PROMPT_CHARS: usize = 100_000;

/// The background's answer to the extension's pages.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
#[json(tag = "type", rename_all = "snake_case")]
pub enum BgUiMessage {
    BgSettings {
        settings: Settings,
        problems: Vec<Problem>,
        saved: bool,
    },
    BgFacts {
        facts: Box<HubFacts>,
    },
    /// The panel for this tab is being opened (`Effect::OpenPanel`).
    BgPanelOpening {
        tab_id: i32,
    },
    /// The pause, as it is now (`until_ms` 0: not paused), and the badge every tab shows for it.
    BgPause {
        until_ms: f64,
        badge: BadgeView,
        /// The views of the tabs whose countdown the pause ended (the background delivers them).
        tabs: Vec<TabView>,
    },
}

/// A view for one tab, sent by the background unasked.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct TabView {
    pub tab_id: i32,
    pub view: BgMessage,
}

/// What the background learns of the sender from the browser, never from the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, ToJson, FromJson)]
pub struct Sender {
    pub tab_id: i32,
    #[json(default)]
    pub frame_id: i32,
    #[json(default)]
    pub incognito: bool,
    /// Milliseconds since the epoch.
    pub now_ms: f64,
    /// The user's local hour (0–23), for the busy-by-hour history.
    #[json(default)]
    pub local_hour: u8,
}

/// The background's answer to the relay (or a message sent to it unasked).
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
#[json(tag = "type", rename_all = "snake_case")]
pub enum BgMessage {
    /// Everything the relay does for this tab: show `banner`, run the one timer (replacing any
    /// other; none if absent), press `press` now.
    BgView {
        banner: Box<BannerView>,
        #[json(default)]
        timer_ms: Option<u64>,
        #[json(default)]
        press: Option<PressControl>,
        /// Remember the last assistant message now: the failure belongs to it, and a press
        /// happens only while it is still the last one.
        #[json(default)]
        mark_message: bool,
    },
    BgAck,
}

/// Which control of the page to press (wire form of `retry::Control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum PressControl {
    Retry,
    Continue,
}

/// The in-page banner, as the core wants it shown. Text is `_locales` keys and arguments only.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct BannerView {
    pub visible: bool,
    /// `idle`, `waiting`, `paused`, `retrying`, `stopped`, `explained` or `ok` (also for tests and styling).
    pub state: String,
    /// The verdict's label (`busy:server_busy`), empty when none.
    pub verdict: String,
    pub route: String,
    pub reason: Option<Text>,
    pub detail: Option<Text>,
    /// A live countdown: the relay shows `key` with the seconds left first, then `args`.
    pub countdown: Option<Countdown>,
    pub notes: Vec<Text>,
    /// A time of day the banner names in the user's own clock format: until when Unbusy keeps
    /// trying (the failure's deadline), or until when it is paused.
    pub time_note: Option<TimeText>,
    /// "Retry now" and "Stop".
    pub buttons: bool,
}

/// A text whose one argument is a time of day: the relay formats `at_ms` in the user's locale.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct TimeText {
    pub key: String,
    pub at_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
pub struct Text {
    pub key: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
pub struct Countdown {
    pub key: String,
    pub args: Vec<String>,
    pub remaining_ms: u64,
    /// Frozen (a hidden tab that waits): the relay shows `remaining_ms` without counting down.
    pub paused: bool,
}

/// The toolbar badge for one tab.
#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
pub struct BadgeView {
    pub text: String,
    pub color: String,
}

/// A system notification the background shows (only with the user's permission and setting).
#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
pub struct NoticeView {
    pub id: String,
    pub title: Text,
    pub message: Text,
}

/// One line of the recent-events list the popup shows.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct VerdictEvent {
    pub at_ms: f64,
    pub tab_id: i32,
    pub route: String,
    pub transport: Transport,
    pub verdict: Verdict,
    pub label: String,
    /// For an answer that arrived after automatic retries: how many, and the time from the first failure.
    #[json(default)]
    pub after_retries: Option<RetrySummary>,
}

#[derive(Debug, Clone, Copy, PartialEq, ToJson, FromJson)]
pub struct RetrySummary {
    pub attempts: u32,
    pub waited_ms: f64,
}

impl CsMessage {
    /// The wire name of each message (its derived tag); exhaustive, so a new message needs one.
    pub fn type_name(&self) -> &'static str {
        match self {
            CsMessage::CsStreamOpen { .. } => "cs_stream_open",
            CsMessage::CsStreamBytes { .. } => "cs_stream_bytes",
            CsMessage::CsStreamEnd { .. } => "cs_stream_end",
            CsMessage::CsJsonResponse { .. } => "cs_json_response",
            CsMessage::CsDropped { .. } => "cs_dropped",
            CsMessage::CsPageState { .. } => "cs_page_state",
            CsMessage::CsTimerDue => "cs_timer_due",
            CsMessage::CsRetryNow => "cs_retry_now",
            CsMessage::CsStandDown { .. } => "cs_stand_down",
            CsMessage::CsPressFailed { .. } => "cs_press_failed",
            CsMessage::CsPageLoaded { .. } => "cs_page_loaded",
            CsMessage::CsSiteCrashed => "cs_site_crashed",
            CsMessage::CsAskApi => "cs_ask_api",
            CsMessage::CsPageHooks { .. } => "cs_page_hooks",
        }
    }
}

/// Every message type on the wire, for the generated module (checked against the derived tags by a test).
pub const MESSAGE_TYPES: &[&str] = &[
    "cs_stream_open",
    "cs_stream_bytes",
    "cs_stream_end",
    "cs_json_response",
    "cs_dropped",
    "cs_page_state",
    "cs_timer_due",
    "cs_retry_now",
    "cs_stand_down",
    "cs_press_failed",
    "cs_page_loaded",
    "cs_site_crashed",
    "cs_page_hooks",
    "cs_ask_api",
    "bg_view",
    "bg_ack",
    "ui_get_settings",
    "ui_save_settings",
    "ui_facts",
    "ui_pause",
    "ui_resume",
    "ui_ask_api",
    "bg_settings",
    "bg_facts",
    "bg_pause",
    "bg_panel_opening",
    // hook → relay only: how many observed events the hook ignored (not trusted).
    "hook_ignored",
    // relay → hook only: Unbusy is gone (updated or removed), stop posting.
    "detach",
    // the API panel ↔ relay (`PanelMessage`, `PagePrompt`).
    "panel_last_prompt",
    "page_prompt",
];

/// The JavaScript module `cargo xtask build` writes to `extension/generated/protocol.js`: every
/// constant the scripts need, from the definitions above, as one frozen global the scripts read
/// at start (the hook removes it from the page's view).
#[cfg(not(target_arch = "wasm32"))]
pub fn js_module() -> String {
    use serde_json::{json, Map, Value};
    let camel = |name: &str| -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in name.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    };
    let as_value = |value: Vec<crate::page_dom::Locator>| serde_json::from_str::<Value>(&value.to_json().to_text()).expect("locators are JSON");
    let named = |pairs: &[(&str, &str)]| Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<_, _>>());
    let types: Map<String, Value> = MESSAGE_TYPES.iter().map(|t| (camel(t), json!(t))).collect();
    let marker_of = |prefix: &str| -> Vec<Value> {
        crate::diagnose::conflicts::HOOK_MARKERS.iter().filter_map(|(m, _)| m.strip_prefix(prefix).map(|name| json!([name, m]))).collect()
    };
    let symbols: Vec<&str> = crate::diagnose::conflicts::HOOK_MARKERS.iter().map(|(m, _)| *m).filter(|m| !m.contains(':')).collect();
    let constants = json!({
        "routes": { "stream": GENERATION_ROUTES, "json": JSON_ROUTES },
        "headers": HEADER_NAMES,
        "envelopeKeys": ENVELOPE_KEYS,
        "transports": ["fetch", "xhr"],
        "ends": ["complete", "aborted", "network_error"],
        "hookStates": ["clean", "wrapped_before", "replaced_after"],
        "standDown": { "stop": "stop", "typed": "typed" },
        "pressFailure": { "noControl": "no_control", "notRendered": "not_rendered" },
        "caps": {
            "chunkBytes": MAX_CHUNK_BYTES,
            "streamBytes": MAX_STREAM_BYTES,
            "messagesPerSecond": MAX_RELAY_MESSAGES_PER_SECOND,
            "textChars": MAX_TEXT_CHARS,
            "jsonChars": MAX_JSON_CHARS,
            "markers": MAX_MARKERS,
            "recentEvents": RECENT_EVENTS_LIMIT,
            "promptChars": MAX_PROMPT_CHARS,
        },
        "types": types,
        "hookMessages": Value::Object(HOOK_MESSAGE_FIELDS.iter().map(|(t, fields)| (t.to_string(), named(fields))).collect()),
        "events": named(HANDSHAKE_EVENTS),
        "storage": named(STORAGE_KEYS),
        "markers": { "symbols": symbols, "xhrProperties": marker_of("xhr:"), "requestHeaders": marker_of("header:") },
        "page": {
            "messageBlock": crate::page_dom::MESSAGE_BLOCK,
            "userMessage": crate::page_dom::USER_MESSAGE,
            "controls": {
                "retry": as_value(crate::page_dom::RETRY_LOCATORS.to_vec()),
                "continue": as_value(crate::page_dom::CONTINUE_LOCATORS.to_vec()),
                "newChat": as_value(crate::page_dom::NEW_CHAT_LOCATORS.to_vec()),
            },
            "composer": crate::page_dom::COMPOSER,
            "crashScreenTexts": crate::page_dom::CRASH_SCREEN_TEXTS,
        },
        "banner": crate::banner::layout(),
    });
    let body = serde_json::to_string_pretty(&constants).expect("constants serialise");
    format!(
        "// Generated by `cargo xtask build` from src/protocol.rs, src/page_dom.rs and src/banner.rs: do not edit.\n\
         // Every constant the extension's scripts share with the Rust core.\n\
         globalThis.UnbusyProtocol = (function freeze(value) {{\n  \
         if (value && typeof value === \"object\") Object.values(value).forEach(freeze);\n  \
         return Object.freeze(value);\n}})({body});\n"
    )
}

pub fn is_generation_route(route: &str) -> bool {
    GENERATION_ROUTES.contains(&route)
}

pub fn is_json_route(route: &str) -> bool {
    JSON_ROUTES.contains(&route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;

    fn samples() -> Vec<CsMessage> {
        vec![
            CsMessage::CsStreamOpen { stream: 1, route: "r".into(), transport: Transport::Xhr, status: 200, headers: SelectedHeaders::default() },
            CsMessage::CsStreamBytes { stream: 1, bytes: String::new() },
            CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete },
            CsMessage::CsJsonResponse {
                route: "r".into(),
                transport: Transport::Fetch,
                status: 200,
                headers: SelectedHeaders::default(),
                envelope: Envelope::default(),
                elapsed_ms: None,
            },
            CsMessage::CsDropped { count: 1, stream: None },
            CsMessage::CsPageState { conversation: "/".into(), hidden: false },
            CsMessage::CsTimerDue,
            CsMessage::CsRetryNow,
            CsMessage::CsStandDown { reason: StandDown::Stop },
            CsMessage::CsPressFailed { why: PressFailure::NotRendered },
            CsMessage::CsPageLoaded { late: false },
            CsMessage::CsSiteCrashed,
            CsMessage::CsAskApi,
            CsMessage::CsPageHooks { fetch: HookState::Clean, xhr: HookState::Clean, markers: Vec::new(), login_token: None },
        ]
    }

    #[test]
    fn the_generated_names_are_the_derived_names() {
        let samples = samples();
        for message in &samples {
            let value = message.to_json();
            assert_eq!(value.get("type").and_then(Json::as_str), Some(message.type_name()));
            assert!(MESSAGE_TYPES.contains(&message.type_name()));
        }
        let cs_types = MESSAGE_TYPES.iter().filter(|t| t.starts_with("cs_")).count();
        assert_eq!(cs_types, samples.len(), "one sample per relay message");
        let view = BgMessage::BgView { banner: Box::new(crate::banner_sample()), timer_ms: None, press: None, mark_message: false };
        for (message, name) in [(view, "bg_view"), (BgMessage::BgAck, "bg_ack")] {
            assert_eq!(message.to_json().get("type").and_then(Json::as_str), Some(name));
        }
        for (message, name) in [(UiMessage::UiGetSettings, "ui_get_settings"), (UiMessage::UiSaveSettings { settings: Json::Null }, "ui_save_settings")] {
            assert_eq!(message.to_json().get("type").and_then(Json::as_str), Some(name));
            assert!(MESSAGE_TYPES.contains(&name));
        }
        let all_headers = SelectedHeaders {
            content_type: Some(String::new()),
            retry_after: Some(String::new()),
            waf_action: Some(String::new()),
            cf_mitigated: Some(String::new()),
            heartbeat_timeout_secs: Some(String::new()),
        };
        let keys: Vec<String> = all_headers.to_json().as_object().unwrap().iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys.len(), HEADER_NAMES.len());
        assert!(HEADER_NAMES.iter().all(|h| keys.iter().any(|k| k == h)));
        let envelope = Envelope { code: Some(1), msg: Some(String::new()), biz_code: Some(1), biz_msg: Some(String::new()), mute_until: Some(1) };
        let keys: Vec<String> = envelope.to_json().as_object().unwrap().iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys.len(), ENVELOPE_KEYS.len());
        assert!(ENVELOPE_KEYS.iter().all(|h| keys.iter().any(|k| k == h)));
    }

    #[test]
    fn the_relays_guard_table_names_every_field_of_the_hooks_messages() {
        let kinds =
            ["stream", "streamRoute", "jsonRoute", "transport", "status", "headers", "envelope", "elapsed", "bytes", "end", "hookState", "markers", "flag"];
        for (type_name, fields) in HOOK_MESSAGE_FIELDS {
            let sample = samples().into_iter().find(|m| m.type_name() == *type_name).expect("a relay message");
            let mut keys: Vec<String> = sample.to_json().as_object().unwrap().iter().map(|(k, _)| k.clone()).filter(|k| k != "type").collect();
            let mut named: Vec<String> = fields.iter().map(|(name, _)| name.to_string()).collect();
            keys.sort();
            named.sort();
            assert_eq!(keys, named, "{type_name}");
            assert!(fields.iter().all(|(_, kind)| kinds.contains(kind)), "{type_name}: a kind the relay checks");
        }
    }

    #[test]
    fn the_js_module_holds_the_routes_and_the_types() {
        let module = js_module();
        assert!(module.starts_with("// Generated"));
        for needle in GENERATION_ROUTES.iter().chain(JSON_ROUTES).chain(MESSAGE_TYPES) {
            assert!(module.contains(&format!("\"{needle}\"")), "{needle}");
        }
    }
}
