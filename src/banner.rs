//! What a tab shows and does, from the hub's decisions: the in-page banner (text keys only), the
//! one timer the relay runs, the control it presses, the toolbar badge and the notification.
//! Domain types go in, wire types (`protocol`) come out.

use crate::hub::{Pending, Recovered};
use crate::protocol::{BadgeView, BannerView, BgMessage, Countdown, NoticeView, PressControl, Text, TimeText};
use crate::retry::{Control, Decision, Policy, StopReason, Suggestion};
use crate::verdict::Verdict;

fn text(key: &str, args: Vec<String>) -> Text {
    Text { key: key.into(), args }
}

fn key(key: &str) -> Text {
    text(key, Vec::new())
}

fn blank(state: &str) -> BannerView {
    BannerView {
        visible: true,
        state: state.into(),
        verdict: String::new(),
        route: String::new(),
        reason: None,
        detail: None,
        countdown: None,
        notes: Vec::new(),
        time_note: None,
        buttons: false,
    }
}

/// A time of day in the banner: until when a waiting banner keeps trying (the failure's
/// deadline), or until when Unbusy is paused; other views say nothing.
pub fn add_time_note(reply: &mut BgMessage, deadline_ms: Option<f64>, paused_until_ms: f64) {
    let BgMessage::BgView { banner, .. } = reply else { return };
    let paused = banner.detail.as_ref().is_some_and(|d| d.key == stop_key(StopReason::Paused));
    banner.time_note = match (banner.state.as_str(), deadline_ms) {
        _ if paused => Some(TimeText { key: "bannerPausedUntil".into(), at_ms: paused_until_ms }),
        ("waiting" | "paused", Some(at_ms)) => Some(TimeText { key: "bannerKeepsTrying".into(), at_ms }),
        _ => None,
    };
}

/// The toolbar badge of every tab while Unbusy is paused (none once it is not).
pub fn pause_badge(paused: bool) -> BadgeView {
    BadgeView { text: if paused { "II" } else { "" }.into(), color: "#4b5563".into() }
}

fn view(banner: BannerView, timer_ms: Option<u64>) -> BgMessage {
    BgMessage::BgView { banner: Box::new(banner), timer_ms, press: None, mark_message: false }
}

pub fn suggestion_key(suggestion: Suggestion) -> &'static str {
    match suggestion {
        Suggestion::InstantMode => "suggestInstantMode",
        Suggestion::SearchOff => "suggestSearchOff",
        Suggestion::NewChat => "suggestNewChat",
        Suggestion::LogIn => "suggestLogIn",
        Suggestion::ReloadPage => "suggestReloadPage",
        Suggestion::CheckStatus => "suggestCheckStatus",
        Suggestion::CheckNetwork => "suggestCheckNetwork",
    }
}

pub fn stop_key(reason: StopReason) -> &'static str {
    match reason {
        StopReason::AttemptCap => "bannerAttemptCap",
        StopReason::Deadline => "bannerDeadline",
        StopReason::AutoRetryOff => "bannerAutoRetryOff",
        StopReason::UserStopped => "bannerStoodDown",
        StopReason::Paused => "bannerPaused",
    }
}

/// Every key this module can put in a view (the locale check reads it).
pub const TEXT_KEYS: &[&str] = &[
    "bannerRetryIn",
    "bannerContinueIn",
    "bannerAwaitResume",
    "bannerRetrying",
    "bannerContinuing",
    "bannerFirstClick",
    "bannerStopped",
    "bannerStoodDown",
    "bannerNoControl",
    "bannerNotRendered",
    "bannerUnconfirmed",
    "bannerNavigated",
    "bannerReloaded",
    "bannerPausedHidden",
    "bannerKeepsTrying",
    "bannerPausedUntil",
    "bannerDismiss",
    "bannerRetryNow",
    "bannerStop",
    "bannerAskApi",
    "bannerNewChat",
    "notifyRecoveredTitle",
    "notifyRecovered",
];

/// A countdown at least this long offers "Ask through the API" (besides retries that stopped).
pub const ASK_API_AFTER_WAIT_MS: u64 = 3 * 60 * 1000;

/// The failures a new chat fixes (the conversation is full, or the message too long for it): the
/// banner offers to start one with the failed prompt.
pub const NEW_CHAT_VERDICTS: &[&str] = &["too_long", "context_full", "message_limit"];

/// The banner's elements, built by the relay in this order (a parent before its children; `root`
/// is the banner's shadow root) and filled from each view by name: `reason`, `detail`, `note`,
/// `actions`. Styles go through the CSSOM: the page's CSP may forbid an inline `<style>`. A
/// button's `click` is the message the user's own click sends; `local` names what the relay does
/// itself instead (`newChat`: a new chat with the last prompt in the message box); neither: it only
/// hides the banner. A node with `offer` shows only in the views one of its rules names: a view
/// in one of `states`, with one of `verdicts` if given, and a countdown of at least
/// `waitingAtLeastMs` if given.
#[cfg(not(target_arch = "wasm32"))]
pub fn layout() -> serde_json::Value {
    use crate::json::ToJson;
    use crate::protocol::{CsMessage, StandDown};
    use serde_json::json;
    let message = |m: CsMessage| serde_json::from_str::<serde_json::Value>(&m.to_json().to_text()).expect("messages are JSON");
    let button_style = json!({ "font": "inherit", "padding": "3px 10px", "borderRadius": "6px", "border": "1px solid #c2410c",
        "background": "#fff", "color": "#7c2d12", "cursor": "pointer" });
    json!([
        { "name": "box", "parent": "root", "tag": "div", "attrs": { "role": "region", "aria-label": "Unbusy" }, "style": {
            "position": "fixed", "right": "16px", "top": "16px", "zIndex": "2147483647", "maxWidth": "380px",
            "display": "flex", "flexDirection": "column", "gap": "6px", "padding": "10px 12px", "borderRadius": "10px",
            "font": "14px/1.4 system-ui, 'Noto Sans CJK SC', sans-serif", "color": "#1f2937", "background": "#fff7ed",
            "border": "1px solid #fdba74", "boxShadow": "0 4px 16px rgba(0,0,0,.15)" } },
        { "name": "top", "parent": "box", "tag": "div", "style": { "display": "flex", "gap": "10px", "alignItems": "flex-start" } },
        { "name": "reason", "parent": "top", "tag": "span", "attrs": { "role": "status", "aria-live": "polite" }, "style": { "flex": "1" } },
        { "name": "close", "parent": "top", "tag": "button", "attrs": { "type": "button" }, "text": "×", "label": "bannerDismiss",
          "style": { "border": "0", "background": "transparent", "font": "inherit", "fontSize": "18px", "lineHeight": "1", "cursor": "pointer", "color": "inherit" } },
        { "name": "detail", "parent": "box", "tag": "span" },
        { "name": "note", "parent": "box", "tag": "span", "style": { "fontSize": "12px", "color": "#7c2d12" } },
        { "name": "actions", "parent": "box", "tag": "div", "style": { "display": "flex", "gap": "8px" } },
        { "name": "retryNow", "parent": "actions", "tag": "button", "attrs": { "type": "button", "data-action": "retry-now" }, "textKey": "bannerRetryNow",
          "style": button_style, "click": message(CsMessage::CsRetryNow) },
        { "name": "stop", "parent": "actions", "tag": "button", "attrs": { "type": "button", "data-action": "stop" }, "textKey": "bannerStop",
          "style": button_style, "click": message(CsMessage::CsStandDown { reason: StandDown::Stop }) },
        { "name": "offers", "parent": "box", "tag": "div", "style": { "display": "flex", "gap": "8px", "flexWrap": "wrap" } },
        // Retries stopped, or the wait is long: the API runs on other servers (issue 13).
        { "name": "askApi", "parent": "offers", "tag": "button", "attrs": { "type": "button", "data-action": "ask-api" }, "textKey": "bannerAskApi",
          "style": button_style, "click": message(CsMessage::CsAskApi), "offer": [{ "states": ["stopped"] }, { "states": ["waiting", "paused"], "waitingAtLeastMs": ASK_API_AFTER_WAIT_MS }] },
        { "name": "newChat", "parent": "offers", "tag": "button", "attrs": { "type": "button", "data-action": "new-chat" }, "textKey": "bannerNewChat",
          // Retries stopped: the article's "context flush" (a fresh chat loads no long history).
          "style": button_style, "local": "newChat", "offer": [{ "states": ["explained"], "verdicts": NEW_CHAT_VERDICTS }, { "states": ["stopped"] }] },
    ])
}

fn reason_of(verdict: &Verdict) -> Text {
    let (key, args) = verdict.message();
    text(key, args)
}

/// The view right after a verdict.
pub fn for_decision(verdict: &Verdict, route: &str, decision: &Decision, first_press: bool) -> BgMessage {
    if *verdict == Verdict::Ok {
        let banner = BannerView { visible: false, verdict: verdict.label(), route: route.into(), ..blank("ok") };
        return view(banner, None);
    }
    let with_verdict = |state: &str| BannerView { verdict: verdict.label(), route: route.into(), reason: Some(reason_of(verdict)), ..blank(state) };
    match decision {
        Decision::Retry { delay_ms, attempt, max_attempts, suggestion, control } => {
            let mut banner = with_verdict("waiting");
            banner.countdown = Some(retry_countdown(*control, *attempt, *max_attempts, *delay_ms as f64));
            banner.notes = waiting_notes(*suggestion, first_press);
            banner.buttons = true;
            BgMessage::BgView { banner: Box::new(banner), timer_ms: Some(*delay_ms), press: None, mark_message: true }
        }
        Decision::AwaitResume { grace_ms } => {
            let mut banner = with_verdict("waiting");
            banner.countdown = Some(Countdown { key: "bannerAwaitResume".into(), args: Vec::new(), remaining_ms: *grace_ms, paused: false });
            banner.notes = waiting_notes(None, first_press);
            banner.buttons = true;
            BgMessage::BgView { banner: Box::new(banner), timer_ms: Some(*grace_ms), press: None, mark_message: true }
        }
        Decision::Stop { reason, suggestion } => {
            let mut banner = with_verdict("stopped");
            banner.detail = Some(key(stop_key(*reason)));
            banner.notes = suggestion.map(|s| key(suggestion_key(s))).into_iter().collect();
            view(banner, None)
        }
        Decision::Explain { suggestion } => {
            let mut banner = with_verdict("explained");
            banner.notes = suggestion.map(|s| key(suggestion_key(s))).into_iter().collect();
            view(banner, None)
        }
    }
}

fn retry_countdown(control: Control, attempt: u32, max_attempts: u32, left_ms: f64) -> Countdown {
    let key = match control {
        Control::Retry => "bannerRetryIn",
        Control::Continue => "bannerContinueIn",
    };
    Countdown { key: key.into(), args: vec![attempt.to_string(), max_attempts.to_string()], remaining_ms: left_ms.max(0.0).ceil() as u64, paused: false }
}

fn waiting_notes(suggestion: Option<Suggestion>, first_press: bool) -> Vec<Text> {
    let mut notes: Vec<Text> = suggestion.map(|s| key(suggestion_key(s))).into_iter().collect();
    if first_press {
        notes.push(key("bannerFirstClick"));
    }
    notes
}

/// A countdown still under way (asked again, resumed after a pause), `left_ms` to go.
pub fn waiting(pending: &Pending, policy: &Policy, left_ms: f64, first_press: bool) -> BgMessage {
    let control = Control::for_verdict(&pending.verdict);
    let countdown = if pending.verdict == Verdict::Dropped {
        Countdown { key: "bannerAwaitResume".into(), args: Vec::new(), remaining_ms: left_ms.max(0.0).ceil() as u64, paused: false }
    } else {
        retry_countdown(control, pending.attempt, policy.max_attempts, left_ms)
    };
    let banner = BannerView {
        verdict: pending.verdict.label(),
        route: pending.route.clone(),
        reason: Some(reason_of(&pending.verdict)),
        countdown: Some(countdown),
        notes: waiting_notes(None, first_press),
        buttons: true,
        ..blank("waiting")
    };
    view(banner, Some(left_ms.max(0.0).ceil() as u64))
}

/// Freezes a waiting banner: a hidden tab that waits until it is shown again.
pub fn pause(banner: &mut BannerView, left_ms: f64) {
    banner.state = "paused".into();
    if let Some(countdown) = banner.countdown.as_mut() {
        countdown.paused = true;
        countdown.remaining_ms = left_ms.max(0.0).ceil() as u64;
    }
    banner.detail = Some(key("bannerPausedHidden"));
}

/// Press `control` now; the new request must follow within `window_ms`.
pub fn press(control: Control, window_ms: u64) -> BgMessage {
    let (detail, press) = match control {
        Control::Retry => ("bannerRetrying", PressControl::Retry),
        Control::Continue => ("bannerContinuing", PressControl::Continue),
    };
    let banner = BannerView { detail: Some(key(detail)), ..blank("retrying") };
    BgMessage::BgView { banner: Box::new(banner), timer_ms: Some(window_ms), press: Some(press), mark_message: false }
}

/// The press is under way: still waiting for the request (`timer_ms` left), or it arrived (`None`).
pub fn retrying(control: Control, timer_ms: Option<u64>) -> BgMessage {
    let detail = if control == Control::Continue { "bannerContinuing" } else { "bannerRetrying" };
    view(BannerView { detail: Some(key(detail)), ..blank("retrying") }, timer_ms)
}

/// The banner goes away (the user acted, or a new answer is on its way).
pub fn hidden() -> BgMessage {
    view(BannerView { visible: false, ..blank("idle") }, None)
}

/// Unbusy stopped for this failure; `why` says so.
pub fn stopped(why: &str) -> BgMessage {
    view(BannerView { detail: Some(key(why)), ..blank("stopped") }, None)
}

pub fn badge(verdict: &Verdict, decision: &Decision, recovered: bool) -> BadgeView {
    let (text, color) = match (verdict, decision) {
        (Verdict::Ok, _) if recovered => ("✓", "#047857"),
        (Verdict::Ok, _) => ("", "#000000"),
        (_, Decision::Retry { .. } | Decision::AwaitResume { .. }) => ("…", "#b45309"),
        _ => ("!", "#b91c1c"),
    };
    BadgeView { text: text.into(), color: color.into() }
}

pub fn recovered_notice(recovered: &Recovered) -> NoticeView {
    // Whole seconds, formatted as an integer (a float's formatting costs the WASM kilobytes).
    let waited_s = ((recovered.waited_ms / 1000.0).round().max(0.0) as u64).to_string();
    NoticeView {
        id: format!("recovered-{}", recovered.tab_id),
        title: key("notifyRecoveredTitle"),
        message: text("notifyRecovered", vec![recovered.attempts.to_string(), waited_s]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::FailureContext;

    #[test]
    fn the_banner_offers_a_new_chat_for_exactly_the_failures_the_policy_says_a_new_chat_fixes() {
        let policy = Policy::default();
        let first = FailureContext { attempts: 0, first_failure_ms: 0.0, now_ms: 0.0, rate_limit_strikes: 0 };
        for verdict in crate::text_keys::verdict_examples() {
            let fixes = matches!(policy.decide(&verdict, first, 0.5), Decision::Explain { suggestion: Some(Suggestion::NewChat) });
            assert_eq!(NEW_CHAT_VERDICTS.contains(&verdict.label().as_str()), fixes, "{verdict:?}");
        }
    }
}
