//! The popup's recent events in words, in the user's language: what happened and how it ended
//! ("Busy (expert model) — retried 1×, answered after 6 s"). Raw verdict labels stay in the
//! diagnostic report.

use crate::json::{FromJson, ToJson};

use super::view::Tone;
use crate::protocol::VerdictEvent;
use crate::verdict::{ChallengeKind, Verdict};

/// A message key and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
pub struct Said {
    pub key: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct EventLine {
    pub at_ms: f64,
    pub tone: Tone,
    pub what: Said,
    /// How a failure ended, when automatic retries got the answer.
    pub ended: Option<Said>,
    /// Where it happened (route and transport), in small print.
    pub place: String,
}

/// A failure this long before the answer that followed its retries still belongs to it (the
/// answer's waited time runs from the first failure's verdict, which comes after its request).
const FOLD_SLACK_MS: f64 = 2_000.0;

/// `event_<name>`, with the details that change the words.
pub fn words(verdict: &Verdict) -> Said {
    let (key, args) = match verdict {
        Verdict::Busy { code } if code == "expert_busy_use_default" => ("event_busy_expert", vec![]),
        Verdict::Challenge { challenge: ChallengeKind::HuaweiWaf | ChallengeKind::Cloudfront } => ("event_blocked", vec![]),
        Verdict::Stalled { silent_s } => ("event_stalled", vec![silent_s.to_string()]),
        Verdict::HttpError { status, .. } => ("event_http_error", vec![status.to_string()]),
        other => (EVENT_KEYS.iter().copied().find(|k| k.strip_prefix("event_") == Some(other.name())).unwrap_or("event_unknown"), vec![]),
    };
    Said { key: key.into(), args }
}

/// How a failure ended when retries got the answer: attempts, seconds.
pub const ANSWERED_AFTER_RETRIES: &str = "eventAnsweredAfterRetries";

/// Every key `words` can give (the locale check reads it; a test holds it to the verdicts).
pub const EVENT_KEYS: &[&str] = &[
    "event_ok",
    "event_busy",
    "event_busy_expert",
    "event_search_busy",
    "event_rate_limited",
    "event_parallel_limit",
    "event_auth_expired",
    "event_pow_rejected",
    "event_content_filtered",
    "event_too_long",
    "event_challenge",
    "event_blocked",
    "event_maintenance",
    "event_dropped",
    "event_incomplete",
    "event_context_full",
    "event_message_limit",
    "event_unsupported_client",
    "event_muted",
    "event_stalled",
    "event_http_error",
    "event_server_message",
    "event_unknown",
];

/// Newest first, at most `limit` lines. An answer that came after automatic retries is folded
/// into the failure that started them (and the retries' own failures in that tab): one line says
/// what happened and that Unbusy got the answer.
pub fn lines(events: &[VerdictEvent], limit: usize) -> Vec<EventLine> {
    let mut folded = vec![false; events.len()];
    let mut endings: Vec<Option<Said>> = vec![None; events.len()];
    for (i, answer) in events.iter().enumerate() {
        let Some(after) = answer.after_retries.filter(|_| answer.verdict == Verdict::Ok) else { continue };
        let since = answer.at_ms - after.waited_ms - FOLD_SLACK_MS;
        // Older events come later in the list; the oldest failure of the run keeps the line. The
        // run ends at the tab's previous answer: a failure before it was another one.
        let mut run: Vec<usize> = Vec::new();
        for j in (i + 1..events.len()).filter(|&j| events[j].tab_id == answer.tab_id) {
            if events[j].verdict == Verdict::Ok || events[j].at_ms < since {
                break;
            }
            if !folded[j] {
                run.push(j);
            }
        }
        let Some(&first) = run.last() else { continue };
        folded[i] = true;
        for &j in &run[..run.len() - 1] {
            folded[j] = true;
        }
        let seconds = (after.waited_ms / 1000.0).round().max(0.0) as u64;
        endings[first] = Some(Said { key: ANSWERED_AFTER_RETRIES.into(), args: vec![after.attempts.to_string(), seconds.to_string()] });
    }
    events
        .iter()
        .enumerate()
        .filter(|(i, _)| !folded[*i])
        .take(limit)
        .map(|(i, e)| EventLine {
            at_ms: e.at_ms,
            tone: match (&e.verdict, &endings[i]) {
                (Verdict::Ok, _) | (_, Some(_)) => Tone::Good,
                _ => Tone::Problem,
            },
            what: words(&e.verdict),
            ended: endings[i].clone(),
            place: format!("{} · {}", e.route, e.transport.name()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{RetrySummary, Transport};

    fn event(at_ms: f64, tab_id: i32, verdict: Verdict, after: Option<RetrySummary>) -> VerdictEvent {
        VerdictEvent {
            at_ms,
            tab_id,
            route: "/api/v0/chat/completion".into(),
            transport: Transport::Xhr,
            label: verdict.label(),
            verdict,
            after_retries: after,
        }
    }

    #[test]
    fn an_answer_after_retries_is_told_with_the_failure_that_started_them() {
        let expert = Verdict::Busy { code: "expert_busy_use_default".into() };
        let events = vec![
            event(20_000.0, 1, Verdict::AuthExpired, None),
            event(12_000.0, 1, Verdict::Ok, Some(RetrySummary { attempts: 2, waited_ms: 6_500.0 })),
            event(9_000.0, 1, expert.clone(), None),
            event(6_000.0, 2, Verdict::Busy { code: "server_busy".into() }, None),
            event(5_600.0, 1, expert, None),
        ];
        let shown = lines(&events, 8);
        let said: Vec<(&str, Option<&str>)> = shown.iter().map(|l| (l.what.key.as_str(), l.ended.as_ref().map(|e| e.key.as_str()))).collect();
        assert_eq!(said, [("event_auth_expired", None), ("event_busy", None), ("event_busy_expert", Some(ANSWERED_AFTER_RETRIES))]);
        assert_eq!(shown[2].ended.as_ref().unwrap().args, ["2", "7"]);
        assert_eq!((shown[2].tone, shown[0].tone), (Tone::Good, Tone::Problem));
        assert_eq!(shown[2].place, "/api/v0/chat/completion · xhr");
    }

    #[test]
    fn a_failure_before_the_tabs_previous_answer_is_not_folded_into_a_later_run() {
        let busy = || Verdict::Busy { code: "server_busy".into() };
        let events = vec![
            event(10_000.0, 1, Verdict::Ok, Some(RetrySummary { attempts: 1, waited_ms: 8_000.0 })),
            event(4_000.0, 1, busy(), None),
            event(3_000.0, 1, Verdict::Ok, None),
            event(2_500.0, 1, Verdict::AuthExpired, None),
        ];
        let said: Vec<(String, bool)> = lines(&events, 8).into_iter().map(|l| (l.what.key, l.ended.is_some())).collect();
        let expected = [("event_busy", true), ("event_ok", false), ("event_auth_expired", false)];
        assert_eq!(said, expected.map(|(k, e)| (k.to_string(), e)));
    }

    #[test]
    fn every_verdict_has_its_own_words() {
        let mut examples = crate::text_keys::verdict_examples();
        examples.push(Verdict::Busy { code: "expert_busy_use_default".into() });
        for verdict in &examples {
            let said = words(verdict);
            assert!(EVENT_KEYS.contains(&said.key.as_str()));
            assert!(said.key != "event_unknown" || *verdict == Verdict::Unknown, "{verdict:?} has no words of its own");
        }
        let used: std::collections::BTreeSet<String> = examples.iter().map(|v| words(v).key).collect();
        assert_eq!(used.len(), EVENT_KEYS.len(), "every listed key is used");
    }
}
