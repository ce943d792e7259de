//! The known error signatures of chat.deepseek.com, as data. A maintainer updates these tables
//! when the site changes; the classifier's logic stays as it is.
//! Source: shared docs `deepseek-web-protocol.md`.

use crate::verdict::{ChallengeKind, Verdict};

/// What a signature means, before the details of one response are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    Busy,
    SearchBusy,
    RateLimited,
    ParallelLimit,
    AuthExpired,
    PowRejected,
    ContentFiltered,
    TooLong,
    Maintenance,
    Cloudflare,
    HuaweiWaf,
    /// The answer was cut mid-way; the page offers Continue.
    Incomplete,
    ContextFull,
    MessageLimit,
    UnsupportedClient,
    Muted,
    /// The user or the page stopped the answer: not an error.
    Stopped,
    /// The answer is complete.
    Finished,
}

impl Meaning {
    pub fn verdict(self, code: &str) -> Verdict {
        match self {
            Meaning::Busy => Verdict::Busy { code: code.to_string() },
            Meaning::SearchBusy => Verdict::SearchBusy,
            Meaning::RateLimited => Verdict::RateLimited,
            Meaning::ParallelLimit => Verdict::ParallelLimit,
            Meaning::AuthExpired => Verdict::AuthExpired,
            Meaning::PowRejected => Verdict::PowRejected,
            Meaning::ContentFiltered => Verdict::ContentFiltered,
            Meaning::TooLong => Verdict::TooLong,
            Meaning::Maintenance => Verdict::Maintenance,
            Meaning::Cloudflare => Verdict::Challenge { challenge: ChallengeKind::Cloudflare },
            Meaning::HuaweiWaf => Verdict::Challenge { challenge: ChallengeKind::HuaweiWaf },
            Meaning::Incomplete => Verdict::Incomplete,
            Meaning::ContextFull => Verdict::ContextFull,
            Meaning::MessageLimit => Verdict::MessageLimit,
            Meaning::UnsupportedClient => Verdict::UnsupportedClient,
            // The envelope reader adds `mute_until` where the answer carries it.
            Meaning::Muted => Verdict::Muted { until_s: None },
            Meaning::Stopped | Meaning::Finished => Verdict::Ok,
        }
    }
}

/// `finish_reason` values of error frames (current and mid-2025 forms) and of the API.
pub const FINISH_REASONS: &[(&str, Meaning)] = &[
    ("server_busy", Meaning::Busy),
    ("busy", Meaning::Busy),
    ("expert_busy_use_default", Meaning::Busy),
    ("generation_timeout", Meaning::Busy),
    ("insufficient_system_resource", Meaning::Busy),
    ("search_busy", Meaning::SearchBusy),
    ("rate_limit_reached", Meaning::RateLimited),
    ("parallel_chat_limit", Meaning::ParallelLimit),
    ("input_exceeds_limit", Meaning::TooLong),
    ("content_filter", Meaning::ContentFiltered),
    // Late-2026 observations (protocol notes): a cut answer, a full conversation, an old client.
    ("generation_err", Meaning::Incomplete),
    ("context_length_exceeded", Meaning::ContextFull),
    ("unsupported_client_by_model", Meaning::UnsupportedClient),
    // Known only as a server code; matched wherever codes are read.
    ("MAX_MESSAGE_COUNT_REACHED", Meaning::MessageLimit),
    ("stop", Meaning::Finished),
    ("length", Meaning::Finished),
];

/// Message statuses (`response/status`, or `status` inside a `response` batch).
pub const MESSAGE_STATUSES: &[(&str, Meaning)] = &[
    ("FINISHED", Meaning::Finished),
    ("CANCELLED", Meaning::Stopped),
    ("CONTENT_FILTER", Meaning::ContentFiltered),
    ("CONTENT_TOO_LONG", Meaning::TooLong),
    ("INCOMPLETE", Meaning::Incomplete),
];

/// Fragment types that are themselves a verdict (a canned reply replaces a filtered answer).
pub const FRAGMENT_TYPES: &[(&str, Meaning)] = &[("TEMPLATE_RESPONSE", Meaning::ContentFiltered)];

/// Top-level `code` of a JSON envelope. Any other non-zero code is a server message.
pub const ENVELOPE_CODES: &[(i64, Meaning)] = &[
    (40001, Meaning::AuthExpired),
    (40002, Meaning::AuthExpired),
    (40003, Meaning::AuthExpired),
    (40012, Meaning::AuthExpired),
    (40029, Meaning::AuthExpired),
    (40300, Meaning::PowRejected),
];

/// Non-zero `biz_code`s with a meaning of their own; any other is a server message.
pub const BIZ_CODES: &[(i64, Meaning)] = &[(5, Meaning::Muted)];

/// Codes sent as text (`"code": "MAX_MESSAGE_COUNT_REACHED"`) in envelopes and error objects.
pub const TEXT_CODES: &[(&str, Meaning)] = &[("MAX_MESSAGE_COUNT_REACHED", Meaning::MessageLimit)];

/// Texts, matched case-insensitively as substrings, only where no code says more: older error
/// frames without `finish_reason`, HTML pages, toasts. More specific texts come first.
pub const TEXTS: &[(&str, Meaning)] = &[
    // Blocks and challenges first: their pages may mention anything else.
    ("request has been intercepted because it appears to be an attack", Meaning::HuaweiWaf),
    ("访问被拦截", Meaning::HuaweiWaf),
    ("one more step before you proceed", Meaning::Cloudflare),
    ("just a moment", Meaning::Cloudflare),
    ("challenge-platform", Meaning::Cloudflare),
    ("达到对话长度上限", Meaning::ContextFull),
    ("conversation length limit", Meaning::ContextFull),
    ("消息数量达到上限", Meaning::MessageLimit),
    ("message limit reached", Meaning::MessageLimit),
    ("使用专家模式请更新至最新版本", Meaning::UnsupportedClient),
    ("update to the latest version to use expert", Meaning::UnsupportedClient),
    ("user is muted", Meaning::Muted),
    ("search service is busy", Meaning::SearchBusy),
    ("搜索服务繁忙", Meaning::SearchBusy),
    ("messages too frequent", Meaning::RateLimited),
    ("消息发送过于频繁", Meaning::RateLimited),
    ("你发送消息的频率过快", Meaning::RateLimited),
    ("under maintenance", Meaning::Maintenance),
    ("系统维护", Meaning::Maintenance),
    ("server is busy", Meaning::Busy),
    ("server busy", Meaning::Busy),
    ("服务器繁忙", Meaning::Busy),
];

/// The code reported for a busy verdict found by its text alone.
pub const BUSY_TEXT_CODE: &str = "server_busy";

/// The code of a stream that ends `ready` → `close {click_behavior: "retry"}` with no content
/// and no error: a time-out (late-2026 observations), retried as busy.
pub const SILENT_CLOSE_CODE: &str = "generation_timeout";

/// SSE event names seen in the app bundle; others are counted as oddities (the site changed).
pub const KNOWN_EVENTS: &[&str] =
    &["", "message", "ready", "delta", "toast", "title", "finish", "close", "hint", "update_session", "update_parent_message", "update_file", "error"];

/// HTTP statuses that mean overload (counted as busy by the retry policy) or throttling.
pub const OVERLOAD_STATUSES: &[u16] = &[502, 503, 504];
pub const THROTTLE_STATUS: u16 = 429;

/// Response headers that mark a challenge: AWS WAF (with HTTP 202) and Cloudflare (any status,
/// 403 and 429 included: a challenge, not a rate limit).
pub const WAF_ACTION_HEADER: &str = "x-amzn-waf-action";
pub const CF_MITIGATED_HEADER: &str = "cf-mitigated";
/// The value both use for a challenge.
pub const CHALLENGE_VALUE: &str = "challenge";
/// HTTP 202 on a generation route: CloudFront (or AWS WAF with its header).
pub const EDGE_ACCEPTED_STATUS: u16 = 202;

pub fn lookup<K: PartialEq + ?Sized, T: Copy>(table: &[(&'static K, T)], key: &K) -> Option<T> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

pub fn finish_reason(code: &str) -> Option<Meaning> {
    lookup(FINISH_REASONS, code)
}

pub fn message_status(status: &str) -> Option<Meaning> {
    lookup(MESSAGE_STATUSES, status)
}

pub fn fragment_type(kind: &str) -> Option<Meaning> {
    lookup(FRAGMENT_TYPES, kind)
}

pub fn envelope_code(code: i64) -> Option<Meaning> {
    ENVELOPE_CODES.iter().find(|(k, _)| *k == code).map(|(_, v)| *v)
}

pub fn biz_code(code: i64) -> Option<Meaning> {
    BIZ_CODES.iter().find(|(k, _)| *k == code).map(|(_, v)| *v)
}

pub fn text_code(code: &str) -> Option<Meaning> {
    lookup(TEXT_CODES, code)
}

pub fn text(haystack: &str) -> Option<Meaning> {
    // The needles are lowercase ASCII or CJK (caseless): ASCII folding is enough, and keeps the
    // Unicode case tables out of the WASM.
    let lower = haystack.to_ascii_lowercase();
    TEXTS.iter().find(|(needle, _)| occurs(&lower, needle)).map(|(_, m)| *m)
}
/// Whether `needle` occurs in `haystack`, compared byte by byte: std's two-way searcher costs the
/// WASM ~3 KiB, and the texts searched here are short and capped.
pub(crate) fn occurs(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.as_bytes().windows(needle.len()).any(|window| window == needle.as_bytes())
}
