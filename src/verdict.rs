//! What the classifier concludes about one response.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Busy { code: String },
    SearchBusy,
    RateLimited,
    ParallelLimit,
    AuthExpired,
    PowRejected,
    ContentFiltered,
    TooLong,
    Challenge { challenge: ChallengeKind },
    Maintenance,
    /// The stream ended without `finish`/`close`.
    Dropped,
    HttpError { status: u16, retry_after_secs: Option<u32> },
    ServerMessage { msg: String },
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeKind {
    Cloudflare,
    Waf,
}

impl Verdict {
    /// The short name used in fixtures, logs and the in-page status element.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Busy { .. } => "busy",
            Verdict::SearchBusy => "search_busy",
            Verdict::RateLimited => "rate_limited",
            Verdict::ParallelLimit => "parallel_limit",
            Verdict::AuthExpired => "auth_expired",
            Verdict::PowRejected => "pow_rejected",
            Verdict::ContentFiltered => "content_filtered",
            Verdict::TooLong => "too_long",
            Verdict::Challenge { .. } => "challenge",
            Verdict::Maintenance => "maintenance",
            Verdict::Dropped => "dropped",
            Verdict::HttpError { .. } => "http_error",
            Verdict::ServerMessage { .. } => "server_message",
            Verdict::Unknown => "unknown",
        }
    }

    /// An HTTP status that means the service is overloaded (retried like busy).
    pub fn is_overload_status(&self) -> bool {
        matches!(self, Verdict::HttpError { status, .. } if crate::signatures::OVERLOAD_STATUSES.contains(status))
    }

    /// "Too fast": the site's rate limit, or HTTP 429.
    pub fn is_throttled(&self) -> bool {
        matches!(self, Verdict::RateLimited) || matches!(self, Verdict::HttpError { status, .. } if *status == crate::signatures::THROTTLE_STATUS)
    }

    /// The `_locales` message that explains this verdict to the user, with its arguments.
    pub fn message(&self) -> (&'static str, Vec<String>) {
        let key = match self {
            Verdict::Ok => "statusOk",
            Verdict::Busy { .. } => "statusBusy",
            Verdict::SearchBusy => "statusSearchBusy",
            Verdict::RateLimited => "statusRateLimited",
            Verdict::ParallelLimit => "statusParallelLimit",
            Verdict::AuthExpired => "statusAuthExpired",
            Verdict::PowRejected => "statusPowRejected",
            Verdict::ContentFiltered => "statusContentFiltered",
            Verdict::TooLong => "statusTooLong",
            Verdict::Challenge { .. } => "statusChallenge",
            Verdict::Maintenance => "statusMaintenance",
            Verdict::Dropped => "statusDropped",
            Verdict::HttpError { status, .. } => return ("statusHttpError", vec![status.to_string()]),
            Verdict::ServerMessage { msg } => return ("statusServerMessage", vec![msg.clone()]),
            Verdict::Unknown => "statusUnknown",
        };
        (key, Vec::new())
    }

    /// A compact, stable description: `busy:expert_busy_use_default`, `http_error:503`, `challenge:waf`.
    pub fn label(&self) -> String {
        match self {
            Verdict::Busy { code } => format!("busy:{code}"),
            Verdict::Challenge { challenge: ChallengeKind::Cloudflare } => "challenge:cloudflare".into(),
            Verdict::Challenge { challenge: ChallengeKind::Waf } => "challenge:waf".into(),
            Verdict::HttpError { status, .. } => format!("http_error:{status}"),
            other => other.name().into(),
        }
    }
}
