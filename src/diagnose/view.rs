//! The popup's whole content, computed here; the popup only renders it.

use crate::json::{FromJson, ToJson};

use super::advice::{self, Evidence};
use super::conflicts::{self, ExtensionInfo, PageHooks};
use super::connection;
use super::cookies::{self, CookieInfo, FirstSeen};
use super::events::{self, EventLine};
use super::history::{History, HourCount};
use super::{Action, Finding, Likelihood};
use crate::protocol::VerdictEvent;
use crate::retry::Decision;
use crate::verdict::Verdict;
use crate::watch::DropCounts;

/// What the popup gathered (each part only if its permission is granted).
#[derive(Debug, Clone, Default, PartialEq, ToJson, FromJson)]
#[json(default)]
pub struct DiagnoseInput {
    pub extensions: Option<Vec<ExtensionInfo>>,
    pub cookies: Option<Vec<CookieInfo>>,
    pub first_seen: FirstSeen,
    pub recent: Vec<VerdictEvent>,
    pub os: String,
    pub now_ms: f64,
    pub self_id: String,
    pub version: String,
    pub status_incident: Option<bool>,
    /// The chat tabs open now (not discarded), when the popup could list them.
    pub chat_tabs: Option<Vec<i32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum Tone {
    Good,
    Waiting,
    Warning,
    Problem,
    Idle,
}

#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
pub struct Glance {
    pub tone: Tone,
    pub sentence: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct RetryStatus {
    pub tab_id: i32,
    pub attempt: u32,
    pub due_ms: f64,
}

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct PopupView {
    pub glance: Glance,
    pub recent: Vec<EventLine>,
    pub retries: Vec<RetryStatus>,
    pub findings: Vec<Finding>,
    pub fixes: Vec<Finding>,
    pub chart: Vec<HourCount>,
    pub extensions_checked: bool,
    pub cookies_checked: bool,
    /// A redacted, plain-text report the user may copy and send themselves.
    pub report: String,
    /// Paused until then (`Resume now`), or 0: not paused (`Pause for an hour`).
    pub paused_until_ms: f64,
}

/// Recent events this old or older no longer colour the glance.
const FRESH_MS: f64 = 10.0 * 60.0 * 1000.0;
const RECENT_SHOWN: usize = 8;

/// Times the background found the core trapped (or otherwise unusable) and started a new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, ToJson, FromJson)]
pub struct CoreFaults {
    pub count: u32,
    /// Milliseconds since the epoch of the latest one.
    pub last_ms: f64,
}

/// What only the background knows, for the popup: the hub sends it (`bg_facts`), and the popup's
/// own module builds the view from it and what the popup gathered.
#[derive(Debug, Clone, Default, PartialEq, ToJson, FromJson)]
#[json(default)]
pub struct HubFacts {
    pub latency_ms: Vec<f64>,
    pub retries: Vec<RetryStatus>,
    pub page_hooks: Vec<PageHooks>,
    pub history: History,
    pub missing_control: u32,
    pub dropped_messages: u32,
    /// When a chat tab last showed DeepSeek's own crash screen (it blames extensions).
    pub site_crash_at_ms: Option<f64>,
    /// `dropped_messages` by reason.
    pub drops: DropCounts,
    pub core_faults: CoreFaults,
    /// Tabs whose document told the hub it loaded (in time or not).
    pub known_tabs: Vec<i32>,
    /// Until when the user paused Unbusy (0: not paused).
    pub paused_until_ms: f64,
}

/// A crash screen older than this no longer leads the popup.
const SITE_CRASH_FRESH_MS: f64 = 60.0 * 60.0 * 1000.0;

pub fn build(input: &DiagnoseInput, facts: &HubFacts) -> (PopupView, FirstSeen) {
    let mut findings = Vec::new();
    for hooks in &facts.page_hooks {
        for f in conflicts::analyse_page_hooks(hooks) {
            if !findings.iter().any(|g: &Finding| g.id == f.id) {
                findings.push(f);
            }
        }
    }
    if let Some(extensions) = &input.extensions {
        findings.extend(conflicts::analyse_extensions(extensions, &input.self_id));
    }
    let conflicts = findings.iter().filter(|f| f.likelihood >= Likelihood::Possible).count();
    let (first_seen, cookie_findings) = match &input.cookies {
        Some(jar) => {
            let report = cookies::analyse(jar, &input.first_seen, input.now_ms);
            (report.first_seen, report.findings)
        }
        None => (input.first_seen.clone(), Vec::new()),
    };
    let cookie_problems = cookie_findings.iter().filter(|f| f.likelihood >= Likelihood::Possible).count();
    findings.extend(cookie_findings);
    // The web app's login token is missing (its presence only is known, never its value).
    if facts.page_hooks.iter().any(|h| h.login_token == Some(false)) {
        findings.insert(
            0,
            Finding {
                id: "login-missing".into(),
                likelihood: Likelihood::Likely,
                title: "findingNoLogin".into(),
                args: vec![],
                why: "whyNoLogin".into(),
                actions: vec![Action::HardRefresh],
            },
        );
    }
    // A chat tab open before Unbusy was installed, updated or enabled: Chromium runs no content
    // script there, and Firefox's ran after the page's (its messages cannot be told from the
    // page's, so the relay took none). Either way it is watched from its next reload.
    let unknown_tab = input.chat_tabs.iter().flatten().any(|id| !facts.known_tabs.contains(id));
    if unknown_tab || facts.page_hooks.iter().any(|h| h.is_not_watched()) {
        findings.insert(
            0,
            Finding {
                id: "not-watched-until-reload".into(),
                likelihood: Likelihood::Likely,
                title: "findingWatchFromReload".into(),
                args: vec![],
                why: "whyWatchFromReload".into(),
                actions: vec![Action::HardRefresh],
            },
        );
    }
    let site_crash = facts.site_crash_at_ms.is_some_and(|at| input.now_ms - at < SITE_CRASH_FRESH_MS);
    if site_crash {
        findings.insert(
            0,
            Finding {
                id: "site-crash".into(),
                likelihood: Likelihood::Likely,
                title: "findingSiteCrash".into(),
                args: vec![],
                why: "whySiteCrash".into(),
                actions: vec![Action::CheckExtensions],
            },
        );
    }
    // Refusals for size or rate: something on the page sent far more than a chat does.
    let flooded = facts.drops.oversized_chunks + facts.drops.message_rate + facts.drops.byte_rate + facts.drops.too_many_streams;
    if flooded > 0 {
        findings.push(Finding {
            id: "self-check:page-flood".into(),
            likelihood: Likelihood::Possible,
            title: "findingPageFlood".into(),
            args: vec![flooded.to_string()],
            why: "whyPageFlood".into(),
            actions: vec![Action::CheckExtensions],
        });
    }
    if facts.core_faults.count > 0 {
        findings.push(Finding {
            id: "self-check:core-restarted".into(),
            likelihood: Likelihood::Possible,
            title: "findingCoreRestarted".into(),
            args: vec![facts.core_faults.count.to_string()],
            why: "whyCoreRestarted".into(),
            actions: vec![],
        });
    }
    let unknown = input.recent.iter().filter(|e| e.verdict == Verdict::Unknown).count();
    if facts.missing_control > 0 || unknown >= 3 {
        findings.insert(
            0,
            Finding {
                id: "self-check".into(),
                likelihood: Likelihood::Likely,
                title: "findingOutOfDate".into(),
                args: vec![],
                why: if facts.missing_control > 0 { "whyNoControl".into() } else { "whyUnknownFrames".into() },
                actions: vec![],
            },
        );
    }
    let headline = headline_failure(input, facts);
    let fixes = advice::rank(&Evidence {
        recent: &input.recent,
        conflicts,
        cookie_problems,
        history: Some(&facts.history),
        os: &input.os,
        status_incident: input.status_incident,
        latency: connection::summarise(&facts.latency_ms),
        site_crash,
        headline,
    });
    let mut fixes = fixes;
    ask_extensions_once(&mut findings, &mut fixes);
    let glance = glance(input, facts, &findings);
    let report = report(input, facts, &findings, &fixes);
    let view = PopupView {
        glance,
        recent: events::lines(&input.recent, RECENT_SHOWN),
        retries: facts.retries.clone(),
        findings,
        fixes,
        chart: facts.history.hours.clone(),
        extensions_checked: input.extensions.is_some(),
        cookies_checked: input.cookies.is_some(),
        report,
        paused_until_ms: if facts.paused_until_ms > input.now_ms { facts.paused_until_ms } else { 0.0 },
    };
    (view, first_seen)
}

/// "Check my extensions" asks for a permission: one button for it, on the first card in reading
/// order (findings, then fixes) that offers it.
fn ask_extensions_once(findings: &mut [Finding], fixes: &mut [Finding]) {
    let mut offered = false;
    for card in findings.iter_mut().chain(fixes.iter_mut()) {
        if offered {
            card.actions.retain(|a| *a != Action::CheckExtensions);
        }
        offered |= card.actions.contains(&Action::CheckExtensions);
    }
}

/// The failure the headline names: the latest verdict if it is fresh and not an answer, unless a
/// retry is under way (then the headline says so).
fn headline_failure<'a>(input: &'a DiagnoseInput, facts: &HubFacts) -> Option<&'a Verdict> {
    if !facts.retries.is_empty() {
        return None;
    }
    input.recent.first().filter(|e| input.now_ms - e.at_ms < FRESH_MS).map(|e| &e.verdict).filter(|v| **v != Verdict::Ok)
}

fn glance(input: &DiagnoseInput, facts: &HubFacts, findings: &[Finding]) -> Glance {
    let sentence = |tone, key: &str, args: Vec<String>| Glance { tone, sentence: key.into(), args };
    if let Some(retry) = facts.retries.first() {
        return sentence(Tone::Waiting, "glanceRetrying", vec![retry.attempt.to_string()]);
    }
    let latest = input.recent.first().filter(|e| input.now_ms - e.at_ms < FRESH_MS);
    match headline_failure(input, facts) {
        None => {}
        Some(verdict) => {
            let retryable =
                matches!(crate::retry::Policy::default().decide(verdict, Default::default(), 0.5), Decision::Retry { .. } | Decision::AwaitResume { .. });
            let tone = if retryable { Tone::Warning } else { Tone::Problem };
            let (key, args) = verdict.message();
            return sentence(tone, key, args);
        }
    }
    if findings.iter().any(|f| f.likelihood == Likelihood::Likely) {
        return sentence(Tone::Warning, "glanceFindings", vec![]);
    }
    if latest.is_some() {
        sentence(Tone::Good, "glanceOk", vec![])
    } else {
        sentence(Tone::Idle, "glanceIdle", vec![])
    }
}

fn report(input: &DiagnoseInput, facts: &HubFacts, findings: &[Finding], fixes: &[Finding]) -> String {
    let counts = advice::count(&input.recent);
    let mut lines = vec![
        format!("Unbusy {} diagnostic report (no conversation content, no cookie values)", input.version),
        format!("platform: {}", input.os),
        format!("recent verdicts: {}", counts.to_json().to_text()),
        format!(
            "last verdicts: {}",
            input.recent.iter().take(RECENT_SHOWN).map(|e| format!("{} {}", e.route.rsplit('/').next().unwrap_or(""), e.label)).collect::<Vec<_>>().join(", ")
        ),
        format!("retries pending: {}", facts.retries.len()),
        format!("retry control not found: {} time(s)", facts.missing_control),
        format!("malformed page messages dropped: {}", facts.dropped_messages),
        format!("dropped by reason: {}", facts.drops.to_json().to_text()),
        format!("core restarted after a fault: {} time(s)", facts.core_faults.count),
        format!("extensions checked: {}, cookies checked: {}", input.extensions.is_some(), input.cookies.is_some()),
    ];
    lines.extend(findings.iter().map(|f| format!("finding: {} ({:?})", f.id.split(':').next().unwrap_or(""), f.likelihood)));
    lines.extend(fixes.iter().take(5).map(|f| format!("top fix: {} ({:?})", f.id, f.likelihood)));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Transport;

    #[test]
    fn a_busy_afternoon_with_a_blocker_and_a_fat_cookie() {
        let now = 1_800_000_000_000.0;
        let busy = Verdict::Busy { code: "server_busy".into() };
        let input = DiagnoseInput {
            extensions: Some(vec![ExtensionInfo {
                id: "cjpalhdlnbpafiamejdnhcphjbkeiagm".into(),
                name: "uBlock Origin".into(),
                enabled: true,
                ..Default::default()
            }]),
            cookies: Some(vec![CookieInfo { name: "secret_session".into(), domain: ".deepseek.com".into(), path: "/".into(), size: 4000, expires_ms: None }]),
            recent: vec![VerdictEvent {
                at_ms: now - 1000.0,
                tab_id: 1,
                route: "/api/v0/chat/completion".into(),
                transport: Transport::Fetch,
                label: busy.label(),
                verdict: busy,
                after_retries: None,
            }],
            os: "linux".into(),
            now_ms: now,
            version: "0.1.0".into(),
            ..Default::default()
        };
        let hooks = PageHooks { login_token: Some(false), ..PageHooks::default() };
        let facts = HubFacts {
            latency_ms: vec![90.0, 2100.0, 2300.0, 2500.0],
            retries: vec![],
            page_hooks: vec![hooks],
            history: History::default(),
            missing_control: 0,
            dropped_messages: 0,
            drops: DropCounts::default(),
            core_faults: CoreFaults::default(),
            site_crash_at_ms: None,
            known_tabs: vec![7],
            paused_until_ms: 0.0,
        };
        let (view, first_seen) = build(&input, &facts);
        assert_eq!(view.glance, Glance { tone: Tone::Warning, sentence: "statusBusy".into(), args: vec![] });
        assert_eq!(view.findings[0].id, "login-missing");
        assert_eq!(view.findings[1].args, ["uBlock Origin"]);
        let connection = view.fixes.iter().find(|f| f.id == "connection_measured").unwrap();
        assert_eq!((connection.likelihood, connection.args.clone()), (Likelihood::Likely, vec!["2200".to_string(), "200".to_string()]));
        assert!(view.findings.iter().any(|f| f.id.starts_with("cookie-oversize")));
        assert_eq!(first_seen.len(), 1);
        assert!(view.report.contains("busy"));
        assert!(!view.report.contains("secret_session"), "the report names no cookie");
        assert_eq!(view.chart.len(), 24);
        let asks = view.findings.iter().chain(&view.fixes).filter(|c| c.actions.contains(&Action::CheckExtensions)).count();
        assert_eq!(asks, 1, "one \"Check my extensions\" button");
        assert!(!view.findings.iter().any(|f| f.id == "not-watched-until-reload"), "the popup did not list tabs");
        let listed = DiagnoseInput { chat_tabs: Some(vec![7]), ..input.clone() };
        assert!(!build(&listed, &facts).0.findings.iter().any(|f| f.id == "not-watched-until-reload"));
        let open_before_install = DiagnoseInput { chat_tabs: Some(vec![7, 9]), ..input };
        assert_eq!(build(&open_before_install, &facts).0.findings[0].id, "not-watched-until-reload", "tab 9 never said it loaded");
    }
}
