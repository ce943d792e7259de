//! The one message protocol between the extension's parts, serialised as JSON-like objects.
//!
//! Names start with the sender, as in Dark Reader: `cs_` (content script relay, forwarding what
//! the page hook observed), `bg_` (background), `ui_` (popup and options pages).
//! The relay checks shapes and sizes cheaply; this module is the strict schema: anything that does
//! not deserialise into these types is dropped and counted.

use serde::{Deserialize, Serialize};

use crate::diagnose::conflicts::HookState;
use crate::diagnose::cookies::FirstSeen;
use crate::diagnose::view::{DiagnoseInput, PopupView};
use crate::retry::{Control, Decision};
use crate::settings::{Problem, Settings};
use crate::verdict::Verdict;

/// Generation routes stream an answer; JSON routes only matter through their error envelope.
pub const GENERATION_ROUTES: &[&str] =
    &["/api/v0/chat/completion", "/api/v0/chat/regenerate", "/api/v0/chat/continue", "/api/v0/chat/edit_message", "/api/v0/chat/resume_stream"];
pub const JSON_ROUTES: &[&str] = &["/api/v0/chat_session/create", "/api/v0/chat/create_pow_challenge", "/api/v0/users/current"];

/// Caps the relay enforces too; the background re-checks them.
pub const MAX_CHUNK_BYTES: usize = 256 * 1024;
pub const MAX_STREAMS_PER_TAB: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Fetch,
    Xhr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndKind {
    Complete,
    Aborted,
    NetworkError,
}

/// Response headers the hook may pass on; every other header stays in the page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectedHeaders {
    #[serde(default, rename = "content-type")]
    pub content_type: Option<String>,
    #[serde(default, rename = "retry-after")]
    pub retry_after: Option<String>,
    #[serde(default, rename = "x-amzn-waf-action")]
    pub waf_action: Option<String>,
    #[serde(default, rename = "cf-mitigated")]
    pub cf_mitigated: Option<String>,
    #[serde(default, rename = "x-ds-sse-heartbeat-timeout-secs")]
    pub heartbeat_timeout_secs: Option<String>,
}

/// The error fields of a JSON envelope; nothing else of an account's data leaves the page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub msg: Option<String>,
    #[serde(default)]
    pub biz_code: Option<i64>,
    #[serde(default)]
    pub biz_msg: Option<String>,
    /// `biz_data.mute_until` (seconds since the epoch) of a muted account; nothing else of `biz_data`.
    #[serde(default)]
    pub mute_until: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
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
        #[serde(default)]
        elapsed_ms: Option<f64>,
    },
    /// The relay dropped malformed or excess messages from the page since its last report.
    CsDropped {
        count: u32,
    },
    /// The countdown ended (or the user pressed "Retry now"): may the relay press retry?
    CsRetryDue {
        manual: bool,
    },
    /// The relay pressed the page's retry control.
    CsRetryFired,
    /// The countdown was abandoned.
    CsRetryCancel {
        reason: CancelReason,
    },
    /// A new document started in this tab (load or reload): whatever was pending belongs to the old one.
    CsPageLoaded {
        /// Unbusy's scripts came after the page's own (injected into a tab open before an install
        /// or update): the relay took no hook port, so the tab is not watched until it reloads.
        #[serde(default)]
        late: bool,
    },
    /// The page shows DeepSeek's own crash screen, which blames browser extensions (no page text is sent).
    CsSiteCrashed,
    /// What the hook saw of the page's `fetch` and `XMLHttpRequest` (other extensions' wrappers).
    CsPageHooks {
        fetch: HookState,
        xhr: HookState,
        markers: Vec<String>,
        /// Whether the web app's login token is present (never its value).
        #[serde(default)]
        login_token: Option<bool>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The user pressed "Stop".
    Stop,
    /// The user typed in the message box.
    Typed,
    /// The page's retry control could not be found.
    NoControl,
    /// The control was pressed but no new generation request followed.
    Unconfirmed,
    /// The page moved to another conversation before the click was due: the control on screen
    /// belongs to another answer.
    Navigated,
}

/// From the extension's own pages (popup, options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiMessage {
    UiGetSettings,
    /// Validated by the core; saved only if every value is acceptable.
    UiSaveSettings {
        settings: serde_json::Value,
    },
    /// Everything the popup shows, from what it gathered. Read field by field: part of it comes
    /// from storage, and one damaged part must not blank the popup.
    UiDiagnose {
        #[serde(deserialize_with = "crate::lenient::deserialize")]
        input: DiagnoseInput,
    },
}

/// The background's answer to the extension's pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BgUiMessage {
    BgSettings { settings: Settings, problems: Vec<Problem>, saved: bool },
    BgDiagnosis { view: PopupView, first_seen: FirstSeen },
}

/// What the background learns of the sender from the browser, never from the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sender {
    pub tab_id: i32,
    #[serde(default)]
    pub frame_id: i32,
    #[serde(default)]
    pub incognito: bool,
    /// Milliseconds since the epoch.
    pub now_ms: f64,
    /// The user's local hour (0–23), for the busy-by-hour history.
    #[serde(default)]
    pub local_hour: u8,
}

/// The background's answer to the relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BgMessage {
    BgVerdict {
        stream: Option<u32>,
        route: String,
        verdict: Verdict,
        label: String,
        /// The `_locales` message explaining the verdict, and its arguments.
        message: String,
        message_args: Vec<String>,
        /// What Unbusy will do about it (filled in by the hub).
        decision: Option<Decision>,
        /// Hidden tabs pause their countdown (a setting).
        pause_hidden: bool,
    },
    /// Press the page's `control` now (automatic attempt `attempt`).
    BgRetryGo {
        attempt: u32,
        control: Control,
    },
    BgRetryWait {
        delay_ms: u64,
    },
    BgRetryStop,
    /// Sent unasked by the background's backstop alarm: "your retry is overdue, ask now".
    BgRetryPoke,
    BgAck,
}

/// One line of the recent-events list the popup shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictEvent {
    pub at_ms: f64,
    pub tab_id: i32,
    pub route: String,
    pub transport: Transport,
    pub verdict: Verdict,
    pub label: String,
    /// For an answer that arrived after automatic retries: how many, and the time from the first failure.
    #[serde(default)]
    pub after_retries: Option<RetrySummary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrySummary {
    pub attempts: u32,
    pub waited_ms: f64,
}

pub fn is_generation_route(route: &str) -> bool {
    GENERATION_ROUTES.contains(&route)
}

pub fn is_json_route(route: &str) -> bool {
    JSON_ROUTES.contains(&route)
}
