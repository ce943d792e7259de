//! The opt-in API fallback (issue 13), its decisions apart from the browser: what an
//! OpenAI-compatible chat completions endpoint's answer means, read incrementally and bounded like
//! the chat's own streams, and whether a failed request may be sent again without asking (only
//! before its first token: once tokens came the user pays for them, and trying again is theirs to
//! choose). The panel (`ui/src/panel.rs`, an extension page) builds on this: who may use it, the
//! request it sends, when it sends again and what each failure tells the user.

use crate::json::{FromJson, Json};
use crate::protocol::{PagePrompt, MAX_PROMPT_CHARS};

use crate::sse::{Limits, SseItem, SseParser};

/// Why an API request gave no (complete) answer, each with its own advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFailure {
    /// 400: the request is malformed for this endpoint (a model that takes other parameters).
    BadRequest,
    /// 401: the key is wrong or revoked.
    BadKey,
    /// 402: the account's balance is used up.
    NoBalance,
    /// 422: a parameter is invalid (the model name, for a custom endpoint).
    InvalidParameters,
    /// 429: too many requests, or too many at once; the server's hint in seconds, if any.
    RateLimited { retry_after_secs: Option<u32> },
    /// 500: the server failed.
    ServerError,
    /// 503: the server is overloaded.
    Overloaded,
    /// `finish_reason: "insufficient_system_resource"`: the server stopped for lack of capacity.
    NoResources,
    /// The stream ended without a finish reason: the connection dropped mid-answer.
    Cut,
    /// An error object sent inside a 200 stream: the provider's own reason, not shown (its text is
    /// not ours to trust), not sent again by itself.
    StreamError,
    /// Any other status.
    Http { status: u16 },
    /// A 200 whose body is no completion stream (a captive portal, a wrong base URL).
    Unreadable,
    /// No answer at all: offline, a wrong host, or a host that refuses the browser (no CORS)
    /// while Unbusy lacks the permission to reach it.
    Unreachable,
}

/// One failure of every kind (and message), for the text keys' check.
pub const FAILURE_EXAMPLES: [ApiFailure; 14] = [
    ApiFailure::BadRequest,
    ApiFailure::BadKey,
    ApiFailure::NoBalance,
    ApiFailure::InvalidParameters,
    ApiFailure::RateLimited { retry_after_secs: None },
    ApiFailure::RateLimited { retry_after_secs: Some(1) },
    ApiFailure::ServerError,
    ApiFailure::Overloaded,
    ApiFailure::NoResources,
    ApiFailure::Cut,
    ApiFailure::StreamError,
    ApiFailure::Http { status: 0 },
    ApiFailure::Unreadable,
    ApiFailure::Unreachable,
];

/// Attempts of one Send, the first included: transient failures before the first token only.
pub const MAX_API_ATTEMPTS: u32 = 3;
/// A `Retry-After` longer than this is not waited for automatically: the user decides.
pub const MAX_AUTOMATIC_WAIT_SECS: u32 = 60;
/// The first automatic wait; each next one doubles.
const FIRST_RESEND_DELAY_MS: u64 = 2_000;

impl ApiFailure {
    /// The failure a response's status means before its body is read (`None`: a 2xx).
    pub fn of_status(status: u16, retry_after: Option<&str>, now_ms: u64) -> Option<ApiFailure> {
        Some(match status {
            200..=299 => return None,
            400 => ApiFailure::BadRequest,
            401 | 403 => ApiFailure::BadKey,
            402 => ApiFailure::NoBalance,
            422 => ApiFailure::InvalidParameters,
            429 => ApiFailure::RateLimited { retry_after_secs: retry_after.and_then(|v| crate::classify::parse_retry_after(v, now_ms)) },
            500 => ApiFailure::ServerError,
            502..=504 => ApiFailure::Overloaded,
            status => ApiFailure::Http { status },
        })
    }

    /// Whether the same request may succeed later without the user changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiFailure::RateLimited { .. } | ApiFailure::ServerError | ApiFailure::Overloaded | ApiFailure::NoResources | ApiFailure::Cut)
    }

    /// What the panel says (a message key and its arguments): what happened and what to do.
    pub fn text(&self) -> (&'static str, Vec<String>) {
        let key = match self {
            ApiFailure::BadRequest => "apiErrBadRequest",
            ApiFailure::BadKey => "apiErrBadKey",
            ApiFailure::NoBalance => "apiErrNoBalance",
            ApiFailure::InvalidParameters => "apiErrInvalid",
            ApiFailure::RateLimited { retry_after_secs: Some(secs) } => return ("apiErrRateLimitedFor", vec![secs.to_string()]),
            ApiFailure::RateLimited { retry_after_secs: None } => "apiErrRateLimited",
            ApiFailure::ServerError => "apiErrServer",
            ApiFailure::Overloaded => "apiErrOverloaded",
            ApiFailure::NoResources => "apiErrNoResources",
            ApiFailure::Cut => "apiErrCut",
            ApiFailure::StreamError => "apiErrInStream",
            ApiFailure::Http { status } => return ("apiErrHttp", vec![status.to_string()]),
            ApiFailure::Unreadable => "apiErrUnreadable",
            ApiFailure::Unreachable => "apiErrUnreachable",
        };
        (key, Vec::new())
    }
}

/// Whether a failed request may go again without asking: nothing was billed yet (no token came),
/// sending again can help, the server's hint is not too long, and the attempts stay within
/// `max_attempts`.
pub fn may_resend(failure: ApiFailure, first_token_seen: bool, attempts: u32, max_attempts: u32) -> bool {
    let hint_too_long = matches!(failure, ApiFailure::RateLimited { retry_after_secs: Some(secs) } if secs > MAX_AUTOMATIC_WAIT_SECS);
    !first_token_seen && failure.is_transient() && !hint_too_long && attempts < max_attempts
}

/// How long to wait before sending again after `attempts` attempts: the server's hint if it gave
/// one, else 2 s, then 4 s, and so on.
pub fn resend_delay_ms(failure: ApiFailure, attempts: u32) -> u64 {
    let backoff = FIRST_RESEND_DELAY_MS << attempts.saturating_sub(1).min(5);
    match failure {
        ApiFailure::RateLimited { retry_after_secs: Some(secs) } => u64::from(secs.min(MAX_AUTOMATIC_WAIT_SECS)) * 1000,
        _ => backoff,
    }
}

/// The request's body: the one prompt (as the user left it in the panel), streamed, with usage.
pub fn request_body(model: &str, prompt: &str) -> Json {
    let text = |s: &str| Json::String(s.to_string());
    let message = Json::Object(vec![("role".into(), text("user")), ("content".into(), text(prompt))]);
    Json::Object(vec![
        ("model".into(), text(model)),
        ("messages".into(), Json::Array(vec![message])),
        ("stream".into(), Json::Bool(true)),
        ("stream_options".into(), Json::Object(vec![("include_usage".into(), Json::Bool(true))])),
    ])
}

/// Where the background keeps the tab of the panel opened with `token` (`apiPanel:<token>`): one
/// entry per opening, so two quick openings never take each other's. `None` for a token the
/// background cannot have made (a UUID's characters, at most 64).
pub fn panel_token_key(token: &str) -> Option<String> {
    let shaped = (1..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    shaped.then(|| format!("{}:{token}", crate::protocol::storage_key("apiPanel")))
}

/// The tab the panel serves, from what the background stored under the panel's token key (`None`:
/// no such opening, one used already, or not a tab id). A panel Unbusy did not open serves nothing.
pub fn claim_panel(stored: Option<&Json>) -> Option<i32> {
    let tab_id = stored?.as_f64()?;
    (tab_id.fract() == 0.0 && (0.0..=f64::from(i32::MAX)).contains(&tab_id)).then_some(tab_id as i32)
}

/// The prompt in the relay's answer, cut to `MAX_PROMPT_CHARS`, and whether it was cut; empty if
/// the answer is not one.
pub fn prompt_of(reply: &Json) -> (String, bool) {
    match PagePrompt::from_json(reply) {
        Some(PagePrompt::PagePrompt { text }) => {
            let cut = text.chars().nth(MAX_PROMPT_CHARS).is_some();
            (text.chars().take(MAX_PROMPT_CHARS).collect(), cut)
        }
        None => (String::new(), false),
    }
}

/// What the stream said, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiEvent {
    /// A piece of the answer (Markdown).
    Content(String),
    /// A piece of the model's reasoning (`deepseek-reasoner`), shown collapsed.
    Reasoning(String),
    /// Tokens billed, when the server says.
    Usage { prompt_tokens: u64, completion_tokens: u64 },
    /// The answer is complete.
    Finished,
    /// The answer stopped short; nothing more is read after it.
    Failed(ApiFailure),
}

#[derive(FromJson)]
struct Chunk {
    #[json(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
    error: Option<Json>,
}

#[derive(FromJson)]
struct Choice {
    #[json(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(FromJson, Default)]
struct Delta {
    content: Option<String>,
    reasoning_content: Option<String>,
}

#[derive(FromJson)]
struct Usage {
    #[json(default)]
    prompt_tokens: u64,
    #[json(default)]
    completion_tokens: u64,
}

/// Reads a `stream: true` answer as it arrives. Keep-alive comments and empty lines (sent while
/// the request is queued) are nothing; a frame that is not a completion chunk is skipped.
#[derive(Debug, Default)]
pub struct ApiStream {
    parser: SseParser,
    first_token_seen: bool,
    /// A completion chunk or a keep-alive came: this is an event stream, not some page.
    recognised: bool,
    bytes_seen: bool,
    finish: Option<String>,
    done: bool,
}

impl ApiStream {
    pub fn new() -> ApiStream {
        ApiStream { parser: SseParser::new(Limits::default()), ..ApiStream::default() }
    }

    /// Whether any of the answer (or its reasoning) arrived: from then on the request is billed.
    pub fn first_token_seen(&self) -> bool {
        self.first_token_seen
    }

    pub fn push(&mut self, bytes: &[u8]) -> Vec<ApiEvent> {
        self.bytes_seen |= !bytes.is_empty();
        let mut items = Vec::new();
        self.parser.push(bytes, &mut items);
        self.read(items)
    }

    /// The body ended: complete only if a finish reason came.
    pub fn end(&mut self) -> Vec<ApiEvent> {
        let mut items = Vec::new();
        self.parser.finish(&mut items);
        let mut events = self.read(items);
        if !self.done {
            self.done = true;
            events.push(if self.finish.is_some() {
                ApiEvent::Finished
            } else if self.bytes_seen && !self.recognised {
                ApiEvent::Failed(ApiFailure::Unreadable)
            } else {
                ApiEvent::Failed(ApiFailure::Cut)
            });
        }
        events
    }

    fn read(&mut self, items: Vec<SseItem>) -> Vec<ApiEvent> {
        let mut events = Vec::new();
        for item in items {
            if self.done {
                break;
            }
            let event = match item {
                SseItem::Event(event) => event,
                SseItem::Comment(_) => {
                    self.recognised = true;
                    continue;
                }
                SseItem::LineCut | SseItem::EventCut => continue,
            };
            if event.data.trim() == "[DONE]" {
                self.done = true;
                let complete = self.finish.is_some() || self.first_token_seen;
                events.push(if complete { ApiEvent::Finished } else { ApiEvent::Failed(ApiFailure::Cut) });
                break;
            }
            let Some(chunk) = Json::parse(&event.data).as_ref().and_then(Chunk::from_json) else { continue };
            self.recognised = true;
            if chunk.error.is_some() {
                // An error sent inside a 200 stream: the provider's own words are not shown.
                self.done = true;
                events.push(ApiEvent::Failed(ApiFailure::StreamError));
                break;
            }
            for choice in chunk.choices.into_iter().take(1) {
                for (text, make) in [(choice.delta.reasoning_content, ApiEvent::Reasoning as fn(String) -> ApiEvent), (choice.delta.content, ApiEvent::Content)]
                {
                    if let Some(text) = text.filter(|t| !t.is_empty()) {
                        self.first_token_seen = true;
                        events.push(make(text));
                    }
                }
                if let Some(reason) = choice.finish_reason {
                    if reason == "insufficient_system_resource" {
                        self.done = true;
                        events.push(ApiEvent::Failed(ApiFailure::NoResources));
                    }
                    self.finish = Some(reason);
                }
            }
            if let Some(usage) = chunk.usage {
                events.push(ApiEvent::Usage { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens });
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: &str) -> String {
        format!("data: {json}\n\n")
    }

    #[test]
    fn each_status_names_its_failure() {
        let of = |status| ApiFailure::of_status(status, None, 0);
        assert_eq!(of(200), None);
        assert_eq!(of(400), Some(ApiFailure::BadRequest));
        assert_eq!(of(401), Some(ApiFailure::BadKey));
        assert_eq!(of(402), Some(ApiFailure::NoBalance));
        assert_eq!(of(422), Some(ApiFailure::InvalidParameters));
        assert_eq!(of(500), Some(ApiFailure::ServerError));
        assert_eq!(of(503), Some(ApiFailure::Overloaded));
        assert_eq!(of(418), Some(ApiFailure::Http { status: 418 }));
        assert_eq!(ApiFailure::of_status(429, Some("12"), 0), Some(ApiFailure::RateLimited { retry_after_secs: Some(12) }));
        assert_eq!(ApiFailure::of_status(429, Some("-3"), 0), Some(ApiFailure::RateLimited { retry_after_secs: None }), "no hint, not a negative one");
    }

    #[test]
    fn only_transient_failures_before_the_first_token_are_sent_again_within_the_cap() {
        assert!(may_resend(ApiFailure::Overloaded, false, 1, 3));
        assert!(!may_resend(ApiFailure::Overloaded, true, 1, 3), "tokens came: billed, the user decides");
        assert!(!may_resend(ApiFailure::Overloaded, false, 3, 3), "the cap");
        for permanent in [ApiFailure::BadKey, ApiFailure::NoBalance, ApiFailure::BadRequest, ApiFailure::InvalidParameters, ApiFailure::Unreadable] {
            assert!(!may_resend(permanent, false, 0, 3), "{permanent:?}");
        }
    }

    #[test]
    fn waits_before_sending_again_double_or_follow_the_servers_hint_within_a_minute() {
        assert_eq!(resend_delay_ms(ApiFailure::Overloaded, 1), 2_000);
        assert_eq!(resend_delay_ms(ApiFailure::Overloaded, 2), 4_000);
        assert_eq!(resend_delay_ms(ApiFailure::RateLimited { retry_after_secs: Some(7) }, 1), 7_000);
        assert!(may_resend(ApiFailure::RateLimited { retry_after_secs: Some(60) }, false, 1, MAX_API_ATTEMPTS));
        assert!(!may_resend(ApiFailure::RateLimited { retry_after_secs: Some(61) }, false, 1, MAX_API_ATTEMPTS), "a long wait is the user's call");
        assert!(!may_resend(ApiFailure::Unreachable, false, 1, MAX_API_ATTEMPTS), "a permission or an address to fix");
    }

    #[test]
    fn every_failure_says_something_of_its_own() {
        let keys: std::collections::BTreeSet<&str> = FAILURE_EXAMPLES.iter().map(|f| f.text().0).collect();
        assert_eq!(keys.len(), FAILURE_EXAMPLES.len());
        assert_eq!(ApiFailure::Http { status: 418 }.text(), ("apiErrHttp", vec!["418".to_string()]));
        assert_eq!(ApiFailure::RateLimited { retry_after_secs: Some(7) }.text(), ("apiErrRateLimitedFor", vec!["7".to_string()]));
    }

    #[test]
    fn the_request_carries_the_one_prompt_streamed_with_usage() {
        let body = request_body("deepseek-chat", "Hi \"there\"").to_text();
        assert_eq!(
            body,
            r#"{"model":"deepseek-chat","messages":[{"role":"user","content":"Hi \"there\""}],"stream":true,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn only_the_token_unbusy_stored_opens_the_panel_and_only_for_a_real_tab() {
        assert_eq!(panel_token_key("5f0c-aa"), Some("apiPanel:5f0c-aa".to_string()));
        for forged in ["", "x", "5f0c:apiPanel", &"a".repeat(65), "../5f0c"] {
            assert_eq!(panel_token_key(forged), None, "{forged}");
        }
        assert_eq!(claim_panel(Some(&Json::Number(12.0))), Some(12));
        assert_eq!(claim_panel(None), None, "used already, or never opened by Unbusy");
        for bad in ["-1", "1.5", "\"12\"", "null", "{}"] {
            assert_eq!(claim_panel(Json::parse(bad).as_ref()), None, "{bad}");
        }
    }

    #[test]
    fn the_relays_answer_gives_a_bounded_prompt_or_nothing() {
        let reply = |text: &str| Json::Object(vec![("type".into(), Json::String("page_prompt".into())), ("text".into(), Json::String(text.into()))]);
        assert_eq!(prompt_of(&reply("Why?")), ("Why?".to_string(), false));
        let (long, cut) = prompt_of(&reply(&"字".repeat(MAX_PROMPT_CHARS + 1)));
        assert_eq!((long.chars().count(), cut), (MAX_PROMPT_CHARS, true), "cut, and the panel says so");
        assert!(!prompt_of(&reply(&"字".repeat(MAX_PROMPT_CHARS))).1);
        assert_eq!(prompt_of(&Json::parse(r#"{"type":"page_prompt","text":"x","key":"sk"}"#).unwrap()).0, "", "unknown fields: not the relay's answer");
        assert_eq!(prompt_of(&Json::Null).0, "");
    }

    #[test]
    fn a_streamed_answer_with_keep_alives_reasoning_and_usage_reads_in_any_chunking() {
        let body = [
            ": keep-alive\n\n".to_string(),
            "\n\n".to_string(),
            frame(r#"{"choices":[{"delta":{"reasoning_content":"Think."}}]}"#),
            frame(r#"{"choices":[{"delta":{"content":"Hel"}}]}"#),
            frame(r#"{"choices":[{"delta":{"content":"lo 世界"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3}}"#),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let expected = vec![
            ApiEvent::Reasoning("Think.".into()),
            ApiEvent::Content("Hel".into()),
            ApiEvent::Content("lo 世界".into()),
            ApiEvent::Usage { prompt_tokens: 5, completion_tokens: 3 },
            ApiEvent::Finished,
        ];
        for size in [1, 3, 7, body.len()] {
            let mut stream = ApiStream::new();
            let mut events: Vec<ApiEvent> = body.as_bytes().chunks(size).flat_map(|c| stream.push(c)).collect();
            events.extend(stream.end());
            assert_eq!(events, expected, "chunks of {size}");
            assert!(stream.first_token_seen());
        }
    }

    #[test]
    fn a_stream_that_stops_short_is_cut_or_out_of_resources() {
        let mut cut = ApiStream::new();
        let mut events = cut.push(frame(r#"{"choices":[{"delta":{"content":"Half"}}]}"#).as_bytes());
        events.extend(cut.end());
        assert_eq!(events.last(), Some(&ApiEvent::Failed(ApiFailure::Cut)));

        let mut starved = ApiStream::new();
        let events = starved.push(frame(r#"{"choices":[{"delta":{"content":"A"},"finish_reason":"insufficient_system_resource"}]}"#).as_bytes());
        assert_eq!(events.last(), Some(&ApiEvent::Failed(ApiFailure::NoResources)));
        assert!(!starved.end().contains(&ApiEvent::Finished), "nothing after the failure");

        let mut queued = ApiStream::new();
        let mut events = queued.push(b": keep-alive\n\n: keep-alive\n\n");
        events.extend(queued.end());
        assert_eq!(events, [ApiEvent::Failed(ApiFailure::Cut)], "dropped while queued: nothing billed, may go again");
        assert!(!queued.first_token_seen());

        let mut portal = ApiStream::new();
        let mut events = portal.push(b"<html>Sign in to the Wi-Fi</html>");
        events.extend(portal.end());
        assert_eq!(events, [ApiEvent::Failed(ApiFailure::Unreadable)]);

        let mut error = ApiStream::new();
        let events = error.push(frame(r#"{"error":{"message":"Provider returned error <script>"}}"#).as_bytes());
        assert_eq!(events, [ApiEvent::Failed(ApiFailure::StreamError)]);
        assert!(!may_resend(ApiFailure::StreamError, false, 1, MAX_API_ATTEMPTS), "the provider's reason may be permanent");
    }
}
