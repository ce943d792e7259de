//! Every fix of the source article, and a few it lacks, ranked by what the evidence says. A fix
//! that cannot help with what is seen says so ("unlikely to help") instead of disappearing.

use crate::json::{FromJson, ToJson};

use super::connection::Latency;
use super::history::History;
use super::{Action, Finding, Likelihood};
use crate::protocol::VerdictEvent;
use crate::verdict::{ChallengeKind, Verdict};

/// What the popup knows right now.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    pub recent: &'a [VerdictEvent],
    pub conflicts: usize,
    pub cookie_problems: usize,
    pub history: Option<&'a History>,
    /// `runtime.getPlatformInfo().os`: win, mac, linux, cros, android, openbsd.
    pub os: &'a str,
    /// The public status page says DeepSeek has an incident (`None`: not checked).
    pub status_incident: Option<bool>,
    pub latency: Option<Latency>,
    /// DeepSeek's own crash screen blamed browser extensions.
    pub site_crash: bool,
    /// The verdict the popup's headline names (the latest fresh failure), if any: its fix leads.
    pub headline: Option<&'a Verdict>,
}

/// The article's off-peak claim, shown as a claim until the user's own history speaks.
pub const ARTICLE_OFF_PEAK_UTC: (u8, u8) = (1, 5);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ToJson, FromJson)]
pub struct Counts {
    pub busy: u32,
    pub expert_busy: u32,
    pub search_busy: u32,
    pub rate_limited: u32,
    pub auth_expired: u32,
    pub pow_rejected: u32,
    pub challenge: u32,
    /// Blocked by a firewall or an edge in front of the site (not a puzzle to pass).
    pub blocked: u32,
    /// Too long, or the conversation is full: a new chat helps.
    pub too_long: u32,
    pub outdated_page: u32,
    pub muted: u32,
    pub dropped: u32,
    pub unknown: u32,
    pub maintenance: u32,
    pub ok: u32,
}

pub fn count(events: &[VerdictEvent]) -> Counts {
    let mut c = Counts::default();
    for e in events {
        match &e.verdict {
            Verdict::Busy { code } if code == "expert_busy_use_default" => c.expert_busy += 1,
            v if matches!(v, Verdict::Busy { .. }) || v.is_overload_status() => c.busy += 1,
            Verdict::SearchBusy => c.search_busy += 1,
            v if v.is_throttled() => c.rate_limited += 1,
            Verdict::AuthExpired => c.auth_expired += 1,
            Verdict::PowRejected => c.pow_rejected += 1,
            Verdict::Challenge { challenge: ChallengeKind::HuaweiWaf | ChallengeKind::Cloudfront } => c.blocked += 1,
            Verdict::Challenge { .. } => c.challenge += 1,
            Verdict::TooLong | Verdict::ContextFull | Verdict::MessageLimit => c.too_long += 1,
            // A cut answer is the server's trouble, like busy.
            Verdict::Incomplete => c.busy += 1,
            Verdict::UnsupportedClient => c.outdated_page += 1,
            Verdict::Muted { .. } => c.muted += 1,
            Verdict::Dropped => c.dropped += 1,
            Verdict::Maintenance => c.maintenance += 1,
            Verdict::Ok => c.ok += 1,
            _ => c.unknown += 1,
        }
    }
    c
}

pub fn dns_flush_command(os: &str) -> &'static str {
    match os {
        "win" => "ipconfig /flushdns",
        "mac" => "sudo dscacheutil -flushcache; sudo killall -HUP mDNSResponder",
        "linux" | "openbsd" => "resolvectl flush-caches",
        _ => "chrome://net-internals/#dns",
    }
}

fn fix(id: &str, likelihood: Likelihood, why: &str, args: Vec<String>, actions: Vec<Action>) -> Finding {
    Finding { id: id.into(), likelihood, title: format!("fix_{id}"), args, why: why.into(), actions }
}

fn when(condition: bool, yes: Likelihood, no: Likelihood) -> Likelihood {
    if condition {
        yes
    } else {
        no
    }
}

pub fn rank(evidence: &Evidence) -> Vec<Finding> {
    use Likelihood::*;
    let c = count(evidence.recent);
    let overloaded = c.busy + c.expert_busy + c.search_busy > 0;
    let client_side = c.pow_rejected + c.unknown > 0 || evidence.conflicts > 0 || evidence.site_crash;
    let mut fixes = vec![
        fix("wait_retry", when(overloaded, Likely, Possible), if overloaded { "whyWaitBusy" } else { "whyWaitIdle" }, vec![], vec![]),
        fix("instant_mode", when(c.expert_busy > 0, Likely, Unlikely), "whyInstantMode", vec![], vec![]),
        fix("search_off", when(c.search_busy > 0, Likely, Unlikely), "whySearchOff", vec![], vec![]),
        fix("new_chat", when(c.too_long > 0, Likely, Unlikely), "whyNewChat", vec![], vec![Action::NewChat]),
        fix("log_in", when(c.auth_expired > 0, Likely, Unlikely), "whyLogIn", vec![], vec![Action::HardRefresh]),
        fix(
            "hard_refresh",
            when(c.challenge + c.auth_expired + c.pow_rejected + c.outdated_page > 0, Likely, when(c.unknown > 0, Possible, Unlikely)),
            "whyHardRefresh",
            vec![],
            vec![Action::HardRefresh],
        ),
        fix(
            "clear_site_data",
            when(evidence.cookie_problems > 0 || c.challenge > 0, Possible, Unlikely),
            "whyClearSiteData",
            vec![],
            vec![Action::ClearSiteData],
        ),
        fix("extensions", when(client_side, Likely, Possible), "whyExtensions", vec![], vec![Action::CheckExtensions]),
        fix("filter_lists", when(c.auth_expired > 0 || evidence.site_crash, Possible, Unlikely), "whyFilterLists", vec![], vec![]),
        fix("private_window", when(client_side, Possible, Unlikely), "whyPrivateWindow", vec![], vec![]),
        fix(
            "status_page",
            match evidence.status_incident {
                Some(true) => Likely,
                Some(false) => Unlikely,
                None => when(overloaded || c.maintenance > 0, Possible, Unlikely),
            },
            "whyStatusPage",
            vec![],
            vec![Action::CheckStatus],
        ),
        match evidence.latency {
            Some(l) => fix(
                "connection_measured",
                when(c.dropped > 0 || l.is_poor(), Likely, Unlikely),
                "whyConnection",
                vec![format!("{:.0}", l.median_ms), format!("{:.0}", l.jitter_ms)],
                vec![],
            ),
            None => fix("connection", when(c.dropped > 0, Likely, Unlikely), "whyConnection", vec![], vec![]),
        },
        fix(
            "dns_flush",
            Unlikely,
            if overloaded { "whyDnsBusy" } else { "whyDns" },
            vec![],
            vec![Action::CopyText { text: dns_flush_command(evidence.os).into() }],
        ),
        fix("vpn", when(c.blocked > 0, Likely, when(c.challenge > 0 || c.rate_limited > 2, Possible, Unlikely)), "whyVpn", vec![], vec![]),
        fix(
            "official_api",
            when(overloaded && c.busy + c.expert_busy >= 5, Possible, Unlikely),
            "whyOfficialApi",
            vec![],
            vec![Action::OpenUrl { url: "https://platform.deepseek.com/".into() }],
        ),
    ];
    let off_peak = match evidence.history.and_then(History::quiet_hours) {
        Some(hours) => fix("off_peak", when(overloaded, Possible, Unlikely), "whyOffPeakHistory", vec![hour_ranges(&hours)], vec![]),
        None => {
            let (from, to) = ARTICLE_OFF_PEAK_UTC;
            fix("off_peak_claim", Unlikely, "whyOffPeakClaim", vec![format!("{from:02}:00–{to:02}:00 UTC")], vec![])
        }
    };
    fixes.push(off_peak);
    // Stable: equal likelihoods keep the article's order.
    fixes.sort_by_key(|f| std::cmp::Reverse(f.likelihood));
    // The site itself suspects an extension: that check comes first, unless the headline names a
    // failure, whose own fix leads (the headline and the first fix must agree).
    let lead = evidence.headline.and_then(headline_fix).or(evidence.site_crash.then_some("extensions"));
    // A measurement outranks the headline's guess: a stream that died on a connection measured
    // good points at the servers, so waiting leads, not the connection.
    let measured_good = fixes.iter().any(|f| f.id == "connection_measured" && f.likelihood == Unlikely);
    let lead = lead.map(|id| if id == "connection" && measured_good { "wait_retry" } else { id });
    // `connection` is `connection_measured` once the page's own requests were timed.
    if let Some(i) = lead.and_then(|id| fixes.iter().position(|f| f.id.starts_with(id))) {
        let mut first = fixes.remove(i);
        first.likelihood = Likely;
        fixes.insert(0, first);
    }
    fixes
}

/// The fix that answers a failure the popup's headline names.
pub fn headline_fix(verdict: &Verdict) -> Option<&'static str> {
    Some(match verdict {
        Verdict::Busy { code } if code == "expert_busy_use_default" => "instant_mode",
        Verdict::SearchBusy => "search_off",
        Verdict::AuthExpired => "log_in",
        Verdict::TooLong | Verdict::ContextFull | Verdict::MessageLimit => "new_chat",
        Verdict::Challenge { challenge: ChallengeKind::HuaweiWaf | ChallengeKind::Cloudfront } => "vpn",
        Verdict::Challenge { .. } | Verdict::PowRejected | Verdict::UnsupportedClient => "hard_refresh",
        Verdict::Maintenance => "status_page",
        Verdict::Dropped | Verdict::Stalled { .. } => "connection",
        v if matches!(v, Verdict::Busy { .. } | Verdict::Incomplete) || v.is_overload_status() || v.is_throttled() => "wait_retry",
        _ => return None,
    })
}

/// `[1, 2, 3, 7]` → "01:00–04:00, 07:00–08:00".
pub fn hour_ranges(hours: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &h in hours {
        match ranges.last_mut() {
            Some((_, end)) if *end == h => *end = h + 1,
            _ => ranges.push((h, h + 1)),
        }
    }
    ranges.iter().map(|(a, b)| format!("{a:02}:00–{:02}:00", b % 24)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Transport;

    fn event(verdict: Verdict) -> VerdictEvent {
        VerdictEvent {
            at_ms: 0.0,
            tab_id: 1,
            route: "/api/v0/chat/completion".into(),
            transport: Transport::Fetch,
            label: verdict.label(),
            verdict,
            after_retries: None,
        }
    }

    fn position(fixes: &[Finding], id: &str) -> usize {
        fixes.iter().position(|f| f.id == id).unwrap()
    }

    #[test]
    fn the_sites_crash_screen_puts_the_extension_check_first() {
        let recent = vec![event(Verdict::Busy { code: "server_busy".into() })];
        let fixes = rank(&Evidence { recent: &recent, os: "linux", site_crash: true, ..Evidence::default() });
        assert_eq!(fixes[0].id, "extensions");
        assert_eq!(fixes[0].likelihood, Likelihood::Likely);
    }

    #[test]
    fn new_late_2026_verdicts_point_at_their_fixes() {
        let recent = vec![event(Verdict::ContextFull), event(Verdict::Challenge { challenge: ChallengeKind::HuaweiWaf }), event(Verdict::UnsupportedClient)];
        let fixes = rank(&Evidence { recent: &recent, os: "linux", ..Evidence::default() });
        let likely: Vec<&str> = fixes.iter().filter(|f| f.likelihood == Likelihood::Likely).map(|f| f.id.as_str()).collect();
        assert!(likely.contains(&"new_chat") && likely.contains(&"vpn") && likely.contains(&"hard_refresh"), "{likely:?}");
        assert_eq!(count(&recent).unknown, 0, "known verdicts never feed the self-check");
    }

    #[test]
    fn expert_busy_ranks_instant_mode_high_and_dns_low() {
        let recent = vec![event(Verdict::Busy { code: "expert_busy_use_default".into() }); 3];
        let fixes = rank(&Evidence { recent: &recent, os: "win", ..Evidence::default() });
        assert_eq!(fixes.len(), 16);
        assert!(fixes.iter().any(|f| f.id == "connection"), "no samples: the unmeasured form");
        assert_eq!(fixes[0].id, "wait_retry");
        assert_eq!(fixes[1].id, "instant_mode");
        let dns = &fixes[position(&fixes, "dns_flush")];
        assert_eq!((dns.likelihood, dns.why.as_str()), (Likelihood::Unlikely, "whyDnsBusy"));
        assert_eq!(dns.actions, vec![Action::CopyText { text: "ipconfig /flushdns".into() }]);
        assert!(fixes.iter().any(|f| f.id == "off_peak_claim" && f.args == ["01:00–05:00 UTC"]));
    }

    #[test]
    fn a_rewritten_request_points_at_extensions() {
        let recent = vec![event(Verdict::PowRejected)];
        let fixes = rank(&Evidence { recent: &recent, os: "mac", conflicts: 1, ..Evidence::default() });
        assert!(position(&fixes, "extensions") < position(&fixes, "wait_retry"));
        assert_eq!(fixes[position(&fixes, "hard_refresh")].likelihood, Likelihood::Likely);
    }

    #[test]
    fn the_first_fix_answers_the_failure_the_headline_names() {
        // Busy, retried and answered, then the login expired: the headline says log in, so does the first fix.
        let recent = vec![event(Verdict::AuthExpired), event(Verdict::Ok), event(Verdict::Busy { code: "expert_busy_use_default".into() })];
        let fixes = rank(&Evidence { recent: &recent, os: "linux", headline: Some(&Verdict::AuthExpired), ..Evidence::default() });
        assert_eq!((fixes[0].id.as_str(), fixes[0].likelihood), ("log_in", Likelihood::Likely));
        let full = Verdict::ContextFull;
        let fixes = rank(&Evidence { recent: &[event(full.clone())], os: "linux", site_crash: true, headline: Some(&full), ..Evidence::default() });
        assert_eq!(fixes[0].id, "new_chat", "the headline's failure leads even after a crash screen");
        // Every verdict the headline can name that has a fix names one that exists.
        let all = rank(&Evidence { os: "linux", ..Evidence::default() });
        for verdict in crate::text_keys::verdict_examples() {
            if let Some(id) = headline_fix(&verdict) {
                assert!(all.iter().any(|f| f.id == id), "{verdict:?} → {id}");
            }
        }
    }

    #[test]
    fn a_connection_measured_good_does_not_lead_for_a_stream_that_went_silent() {
        let stalled = Verdict::Stalled { silent_s: 60 };
        let good = Latency { median_ms: 80.0, jitter_ms: 5.0, samples: 5 };
        let fixes = rank(&Evidence { recent: &[event(stalled.clone())], os: "linux", latency: Some(good), headline: Some(&stalled), ..Evidence::default() });
        assert_eq!((fixes[0].id.as_str(), fixes[0].likelihood), ("wait_retry", Likelihood::Likely));
        let measured = fixes.iter().find(|f| f.id == "connection_measured").expect("measured");
        assert_eq!(measured.likelihood, Likelihood::Unlikely, "not raised against the measurement");
        let poor = Latency { median_ms: 3000.0, ..good };
        let fixes = rank(&Evidence { recent: &[event(stalled.clone())], os: "linux", latency: Some(poor), headline: Some(&stalled), ..Evidence::default() });
        assert_eq!(fixes[0].id, "connection_measured", "a poor connection still leads");
    }

    #[test]
    fn hour_ranges_read_well() {
        assert_eq!(hour_ranges(&[1, 2, 3, 7, 23]), "01:00–04:00, 07:00–08:00, 23:00–00:00");
    }
}
