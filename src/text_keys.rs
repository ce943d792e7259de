//! Every `_locales` message key the core can put in front of the user, so that `cargo xtask tidy`
//! can check each one exists in every locale (a missing key shows as the raw key).
//!
//! The lists below are written out; the tests prove them complete: enum lists against the variant
//! names derived from the enums themselves, the banner's and the popup's keys against the
//! string literals of the modules that emit them.

use std::collections::BTreeSet;

use crate::json::{Json, ToJson};

use crate::banner::{stop_key, suggestion_key, TEXT_KEYS as BANNER_KEYS};
use crate::diagnose::{Action, Likelihood};
use crate::retry::{StopReason, Suggestion};
use crate::verdict::{ChallengeKind, Verdict};

/// One verdict of every kind, with every variation that changes its message key.
pub fn verdict_examples() -> Vec<Verdict> {
    let mut verdicts = vec![
        Verdict::Ok,
        Verdict::Busy { code: "server_busy".into() },
        Verdict::SearchBusy,
        Verdict::RateLimited,
        Verdict::ParallelLimit,
        Verdict::AuthExpired,
        Verdict::PowRejected,
        Verdict::ContentFiltered,
        Verdict::TooLong,
        Verdict::Maintenance,
        Verdict::Dropped,
        Verdict::Incomplete,
        Verdict::ContextFull,
        Verdict::MessageLimit,
        Verdict::UnsupportedClient,
        Verdict::Muted { until_s: None },
        Verdict::Muted { until_s: Some(0) },
        Verdict::Stalled { silent_s: 90 },
        Verdict::HttpError { status: 503, retry_after_secs: None },
        Verdict::ServerMessage { msg: String::new() },
        Verdict::Unknown,
    ];
    verdicts.extend(CHALLENGE_KINDS.iter().map(|&challenge| Verdict::Challenge { challenge }));
    verdicts
}

const CHALLENGE_KINDS: [ChallengeKind; 4] = [ChallengeKind::Cloudflare, ChallengeKind::Waf, ChallengeKind::HuaweiWaf, ChallengeKind::Cloudfront];

pub const SUGGESTIONS: [Suggestion; 7] = [
    Suggestion::InstantMode,
    Suggestion::SearchOff,
    Suggestion::NewChat,
    Suggestion::LogIn,
    Suggestion::ReloadPage,
    Suggestion::CheckStatus,
    Suggestion::CheckNetwork,
];

pub const STOP_REASONS: [StopReason; 5] = [StopReason::AttemptCap, StopReason::Deadline, StopReason::AutoRetryOff, StopReason::UserStopped, StopReason::Paused];

const LIKELIHOODS: [Likelihood; 3] = [Likelihood::Unlikely, Likelihood::Possible, Likelihood::Likely];

/// The popup names a likelihood tag `likelihood_<likelihood>`.
pub fn likelihood_key(likelihood: Likelihood) -> String {
    format!("likelihood_{}", wire_name(&likelihood))
}

/// The popup labels an action's button `action_<kind>`.
pub fn action_key(action: &Action) -> String {
    format!("action_{}", action.to_json().get("kind").and_then(Json::as_str).expect("actions are tagged by kind"))
}

fn action_examples() -> Vec<Action> {
    vec![
        Action::CheckExtensions,
        Action::OpenExtension { id: String::new() },
        Action::ClearSiteData,
        Action::HardRefresh,
        Action::NewChat,
        Action::CopyText { text: String::new() },
        Action::CheckStatus,
        Action::OpenUrl { url: String::new() },
    ]
}

/// Keys written in `src/diagnose/` (titles, reasons, the glance line); a fix `id` is shown as
/// `fix_<id>`. Named `finding…`, `why…`, `glance…`, `reported…` (the test relies on it).
const DIAGNOSE_KEYS: &[&str] = &[
    "findingCookieChallenge",
    "findingCookieDuplicate",
    "findingCookieExpiring",
    "findingCookieHeader",
    "findingCookieOversize",
    "findingCookieStale",
    "findingCoreRestarted",
    "findingExtension",
    "findingHookReplaced",
    "findingHookWrapped",
    "findingNoLogin",
    "findingOutOfDate",
    "findingPageFlood",
    "findingSiteCrash",
    "findingWatchFromReload",
    "glanceFindings",
    "glanceIdle",
    "glanceOk",
    "glanceRetrying",
    "reportedBadwareList",
    "reportedBlocksCaptcha",
    "reportedHooksPage",
    "reportedRewritesRequests",
    "whyBlocker",
    "whyChatHelper",
    "whyClearSiteData",
    "whyConnection",
    "whyCookieChallenge",
    "whyCookieDuplicate",
    "whyCookieExpiring",
    "whyCookieHeader",
    "whyCookieStale",
    "whyCoreRestarted",
    "whyDns",
    "whyDnsBusy",
    "whyExtensions",
    "whyFilterLists",
    "whyHardRefresh",
    "whyLogIn",
    "whyHookReplaced",
    "whyHookWrapped",
    "whyInstantMode",
    "whyNewChat",
    "whyNoControl",
    "whyNoLogin",
    "whyOffPeakClaim",
    "whyOffPeakHistory",
    "whyOfficialApi",
    "whyPageFlood",
    "whyPrivateWindow",
    "whyProxy",
    "whyScriptBlocker",
    "whySearchOff",
    "whySiteCrash",
    "whyStatusPage",
    "whyUnknownFrames",
    "whyUserscriptManager",
    "whyVpn",
    "whyWaitBusy",
    "whyWaitIdle",
    "whyWatchFromReload",
];

/// The ids of the fixes `diagnose::advice::rank` can list.
const FIX_IDS: &[&str] = &[
    "clear_site_data",
    "connection",
    "connection_measured",
    "dns_flush",
    "extensions",
    "filter_lists",
    "hard_refresh",
    "instant_mode",
    "log_in",
    "new_chat",
    "off_peak",
    "off_peak_claim",
    "official_api",
    "private_window",
    "search_off",
    "status_page",
    "vpn",
    "wait_retry",
];

/// Every message key the core can emit (or name through an enum the pages render), sorted.
pub fn all_text_keys() -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = verdict_examples().iter().map(|v| v.message().0.to_string()).collect();
    keys.extend(SUGGESTIONS.map(suggestion_key).map(String::from));
    keys.extend(STOP_REASONS.map(stop_key).map(String::from));
    keys.extend(BANNER_KEYS.iter().map(|k| k.to_string()));
    keys.extend(LIKELIHOODS.map(likelihood_key));
    keys.extend(action_examples().iter().map(action_key));
    keys.extend(DIAGNOSE_KEYS.iter().map(|k| k.to_string()));
    keys.extend(crate::api_endpoint::PROBLEMS.map(|p| p.text_key().to_string()));
    keys.extend(crate::api_answer::FAILURE_EXAMPLES.iter().map(|f| f.text().0.to_string()));
    keys.extend(FIX_IDS.iter().map(|id| format!("fix_{id}")));
    keys.extend(crate::diagnose::events::EVENT_KEYS.iter().map(|k| k.to_string()));
    keys.insert(crate::diagnose::events::ANSWERED_AFTER_RETRIES.into());
    keys
}

fn wire_name<T: ToJson>(value: &T) -> String {
    value.to_json().as_str().expect("unit variants are strings").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Variants;

    /// The variant names derived for `T`: the enum's own definition, so a new variant shows up
    /// here without anyone listing it.
    fn declared_variants<T: Variants>() -> BTreeSet<String> {
        T::NAMES.iter().map(|name| name.to_string()).collect()
    }

    fn kind_of<T: ToJson>(value: &T) -> String {
        value.to_json().get("kind").and_then(Json::as_str).unwrap().to_string()
    }

    #[test]
    fn the_verdict_examples_cover_every_verdict_and_challenge_kind() {
        let examples = verdict_examples();
        let kinds: BTreeSet<String> = examples.iter().map(kind_of).collect();
        assert_eq!(kinds, declared_variants::<Verdict>());
        let challenges: BTreeSet<String> = examples
            .iter()
            .filter_map(|v| match v {
                Verdict::Challenge { challenge } => Some(wire_name(challenge)),
                _ => None,
            })
            .collect();
        assert_eq!(challenges, declared_variants::<ChallengeKind>());
        // Both forms of a muted verdict: with and without the time it ends.
        assert!(examples.contains(&Verdict::Muted { until_s: None }) && examples.iter().any(|v| matches!(v, Verdict::Muted { until_s: Some(_) })));
    }

    #[test]
    fn the_enum_lists_hold_every_variant() {
        let names = |list: Vec<String>| list.into_iter().collect::<BTreeSet<_>>();
        assert_eq!(names(SUGGESTIONS.iter().map(wire_name).collect()), declared_variants::<Suggestion>());
        assert_eq!(names(STOP_REASONS.iter().map(wire_name).collect()), declared_variants::<StopReason>());
        assert_eq!(names(LIKELIHOODS.iter().map(wire_name).collect()), declared_variants::<Likelihood>());
        assert_eq!(names(action_examples().iter().map(kind_of).collect()), declared_variants::<Action>());
    }

    /// Source files without their test modules.
    fn without_tests(files: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        files.iter().map(|&(name, text)| (name, text.split("#[cfg(test)]").next().unwrap())).collect()
    }

    fn diagnose_sources() -> Vec<(&'static str, &'static str)> {
        without_tests(&[
            ("advice.rs", include_str!("diagnose/advice.rs")),
            ("conflicts.rs", include_str!("diagnose/conflicts.rs")),
            ("connection.rs", include_str!("diagnose/connection.rs")),
            ("cookies.rs", include_str!("diagnose/cookies.rs")),
            ("history.rs", include_str!("diagnose/history.rs")),
            ("mod.rs", include_str!("diagnose/mod.rs")),
            ("view.rs", include_str!("diagnose/view.rs")),
        ])
    }

    /// The `"…"` literals of `sources` shaped like a key named `<prefix><Name>`, with their file
    /// (comments skipped; no key literal spans lines or holds an escape).
    fn key_literals(sources: &[(&'static str, &'static str)], prefixes: &[&str]) -> BTreeSet<(String, &'static str)> {
        let is_key = |s: &str| {
            prefixes.iter().any(|p| s.strip_prefix(p).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase())))
                && s.chars().all(|c| c.is_ascii_alphanumeric())
        };
        let mut found = BTreeSet::new();
        for &(name, source) in sources {
            for line in source.lines().filter(|l| !l.trim_start().starts_with("//")) {
                found.extend(line.split('"').skip(1).step_by(2).filter(|s| is_key(s)).map(|s| (s.to_string(), name)));
            }
        }
        found
    }

    /// Every key literal of `sources` is `listed`, and every listed key is still used there.
    fn assert_listed_exactly(sources: &[(&'static str, &'static str)], prefixes: &[&str], listed: BTreeSet<String>, list_name: &str) {
        let found = key_literals(sources, prefixes);
        let unlisted: Vec<_> = found.iter().filter(|(key, _)| !listed.contains(key)).collect();
        assert!(unlisted.is_empty(), "key literals missing from {list_name}: {unlisted:?}");
        let unused: Vec<_> = listed.iter().filter(|key| !found.iter().any(|(k, _)| k == *key)).collect();
        assert!(unused.is_empty(), "{list_name} lists keys its sources no longer use: {unused:?}");
    }

    #[test]
    fn every_key_literal_in_diagnose_is_listed_and_every_listed_key_is_used() {
        let listed = DIAGNOSE_KEYS.iter().map(|k| k.to_string()).collect();
        assert_listed_exactly(&diagnose_sources(), &["finding", "why", "glance", "reported"], listed, "DIAGNOSE_KEYS");
    }

    #[test]
    fn every_banner_and_notification_key_literal_is_listed_and_every_listed_key_is_used() {
        let sources = without_tests(&[("banner.rs", include_str!("banner.rs")), ("hub.rs", include_str!("hub.rs"))]);
        // `banner::TEXT_KEYS` plus the stop reasons' keys, which are written in banner.rs too.
        let listed = BANNER_KEYS.iter().map(|k| k.to_string()).chain(STOP_REASONS.map(stop_key).map(String::from)).collect();
        assert_listed_exactly(&sources, &["banner", "notify"], listed, "banner::TEXT_KEYS");
    }

    #[test]
    fn every_fix_in_advice_is_listed() {
        let (_, advice) = diagnose_sources().into_iter().find(|(name, _)| *name == "advice.rs").unwrap();
        let calls: BTreeSet<&str> = advice
            .split("fix(")
            .skip(1)
            .filter_map(|after| after.trim_start().strip_prefix('"'))
            .filter_map(|literal| literal.split('"').next())
            .filter(|id| !id.contains(char::is_whitespace))
            .collect();
        assert_eq!(calls, FIX_IDS.iter().copied().collect(), "FIX_IDS must list exactly the fix(\"…\") ids of advice.rs");
    }

    #[test]
    fn the_fix_ids_are_what_rank_lists() {
        // Two evidences that together reach both arms of each fix whose id depends on the evidence.
        use crate::diagnose::advice::{rank, Evidence};
        use crate::diagnose::connection::Latency;
        let with_latency = Evidence { latency: Some(Latency { median_ms: 100.0, jitter_ms: 10.0, samples: 3 }), ..Default::default() };
        let mut ids: BTreeSet<String> = rank(&Evidence::default()).into_iter().map(|f| f.id).collect();
        ids.extend(rank(&with_latency).into_iter().map(|f| f.id));
        for id in ids {
            assert!(FIX_IDS.contains(&id.as_str()), "{id} is listed by rank but not in FIX_IDS");
        }
    }

    #[test]
    fn the_keys_are_sorted_unique_and_shaped_like_message_names() {
        let keys = all_text_keys();
        assert!(keys.len() > 90, "{}", keys.len());
        for key in &keys {
            // chrome.i18n: ASCII letters, digits and underscores only.
            assert!(!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{key}");
        }
        assert!(keys.contains("statusBusy") && keys.contains("statusMutedUntil") && keys.contains("fix_wait_retry") && keys.contains("action_open_url"));
    }
}
