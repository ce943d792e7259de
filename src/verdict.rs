//! What the classifier concludes about one response.

use crate::json::{FromJson, ToJson};

#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
#[json(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Busy {
        code: String,
    },
    SearchBusy,
    RateLimited,
    ParallelLimit,
    AuthExpired,
    PowRejected,
    ContentFiltered,
    TooLong,
    Challenge {
        challenge: ChallengeKind,
    },
    Maintenance,
    /// The stream ended without `finish`/`close`.
    Dropped,
    /// The answer was cut (status `INCOMPLETE`, `generation_err`): the page keeps the partial
    /// answer and offers Continue; regenerating would throw it away.
    Incomplete,
    /// The conversation reached its length limit (`context_length_exceeded`): a new chat is needed.
    ContextFull,
    /// The conversation reached its message limit (`MAX_MESSAGE_COUNT_REACHED`).
    MessageLimit,
    /// The page's client is too old for the chosen mode (`unsupported_client_by_model`): reload it.
    UnsupportedClient,
    /// The account is muted (`biz_code` 5), until `until_s` (seconds since the epoch) when known.
    Muted {
        until_s: Option<u64>,
    },
    /// Nothing arrived for `silent_s` seconds, longer than the server lets a live stream sit silent
    /// (`x-ds-sse-heartbeat-timeout-secs`): the stream is dead though the page still waits.
    Stalled {
        silent_s: u32,
    },
    HttpError {
        status: u16,
        retry_after_secs: Option<u32>,
    },
    ServerMessage {
        msg: String,
    },
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum ChallengeKind {
    /// Cloudflare's "Just a moment…" / "One more step" page, or `cf-mitigated: challenge`.
    Cloudflare,
    /// AWS WAF: HTTP 202 with `x-amzn-waf-action: challenge`.
    Waf,
    /// Huawei Cloud WAF's "request intercepted" page (访问被拦截): a block, not a puzzle.
    HuaweiWaf,
    /// CloudFront's bare HTTP 202, seen from some regions and VPN exits.
    Cloudfront,
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
            Verdict::Incomplete => "incomplete",
            Verdict::ContextFull => "context_full",
            Verdict::MessageLimit => "message_limit",
            Verdict::UnsupportedClient => "unsupported_client",
            Verdict::Muted { .. } => "muted",
            Verdict::Stalled { .. } => "stalled",
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
            Verdict::Challenge { challenge: ChallengeKind::Cloudflare | ChallengeKind::Waf } => "statusChallenge",
            Verdict::Challenge { challenge: ChallengeKind::HuaweiWaf | ChallengeKind::Cloudfront } => "statusBlocked",
            Verdict::Maintenance => "statusMaintenance",
            Verdict::Dropped => "statusDropped",
            Verdict::Incomplete => "statusIncomplete",
            Verdict::ContextFull => "statusContextFull",
            Verdict::MessageLimit => "statusMessageLimit",
            Verdict::UnsupportedClient => "statusUnsupportedClient",
            Verdict::Muted { until_s: Some(until) } => return ("statusMutedUntil", vec![utc_minute(*until)]),
            Verdict::Muted { until_s: None } => "statusMuted",
            Verdict::Stalled { silent_s } => return ("statusStalled", vec![silent_s.to_string()]),
            Verdict::HttpError { status, .. } => return ("statusHttpError", vec![status.to_string()]),
            // Its text is the server's (or whatever answered in its place: the page's own service
            // worker can): Unbusy never shows text of another's choosing. The page shows it.
            Verdict::ServerMessage { .. } => "statusServerMessage",
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
            Verdict::Challenge { challenge: ChallengeKind::HuaweiWaf } => "challenge:huawei_waf".into(),
            Verdict::Challenge { challenge: ChallengeKind::Cloudfront } => "challenge:cloudfront".into(),
            Verdict::HttpError { status, .. } => format!("http_error:{status}"),
            other => other.name().into(),
        }
    }
}

/// `2026-11-30 14:05 UTC` from seconds since the epoch (the site's `mute_until`).
pub fn utc_minute(epoch_s: u64) -> String {
    let days = (epoch_s / 86_400) as i64;
    let minute_of_day = epoch_s % 86_400 / 60;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", minute_of_day / 60, minute_of_day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mute_until_reads_as_a_utc_time() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_764_000_000), "2025-11-24 16:00 UTC");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00 UTC");
    }
}
