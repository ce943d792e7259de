//! What the background does for the core. Each of the background's entry points (a tab's
//! message, an extension page's, an alarm, a closed tab) gives a reply, if any, and effects the
//! background carries out in order without deciding anything: record an event, store what the
//! core holds, set or clear an alarm, set a badge, show a notification, send a tab its view.

use crate::json::ToJson;

use crate::hub::{Hub, Outcome};
use crate::protocol::{BadgeView, BgMessage, BgUiMessage, NoticeView, UiMessage, VerdictEvent};

/// What the core holds that the background stores (`storage.session` / `.local` / `.sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson)]
#[json(rename_all = "snake_case")]
pub enum Stored {
    State,
    History,
    Settings,
}

#[derive(Debug, Clone, PartialEq, ToJson)]
#[json(tag = "do", rename_all = "snake_case")]
pub enum Effect {
    /// Put first in the recent events the popup lists (capped).
    Record {
        event: VerdictEvent,
    },
    /// The bindings attach the value and where it goes.
    Store {
        what: Stored,
    },
    /// Wake the background at `at_ms`; `None` clears the alarm.
    Alarm {
        name: &'static str,
        at_ms: Option<f64>,
    },
    /// `action.setBadgeText` and, for a badge with text, `action.setBadgeBackgroundColor`.
    Badge {
        text: BadgeText,
        color: Option<BadgeColor>,
    },
    Notify {
        notice: NoticeView,
    },
    Send {
        tab_id: i32,
        message: BgMessage,
    },
    /// The API panel for this tab, in a window of its own, with a one-time token.
    OpenPanel {
        tab_id: i32,
    },
}

/// `action.setBadgeText`'s argument: one tab's badge, or every tab's (no tab: the pause). A tab
/// whose badge is empty gets `null`, which shows the badge every tab has (the pause's) again.
#[derive(Debug, Clone, PartialEq, ToJson)]
pub struct BadgeText {
    #[json(rename = "tabId", skip_if = "Option::is_none")]
    pub tab_id: Option<i32>,
    pub text: Option<String>,
}

/// `action.setBadgeBackgroundColor`'s argument.
#[derive(Debug, Clone, PartialEq, ToJson)]
pub struct BadgeColor {
    #[json(rename = "tabId", skip_if = "Option::is_none")]
    pub tab_id: Option<i32>,
    pub color: String,
}

fn badge(tab_id: Option<i32>, view: &BadgeView) -> Effect {
    let empty = view.text.is_empty();
    let text = BadgeText { tab_id, text: (!empty || tab_id.is_none()).then(|| view.text.clone()) };
    Effect::Badge { text, color: (!empty).then(|| BadgeColor { tab_id, color: view.color.clone() }) }
}

/// Backstop for a timer the page did not run (a throttled hidden tab): the core acts for it.
pub const BACKSTOP_ALARM: &str = "retry-backstop";
/// Streams that went silent past the server's heartbeat limit: the core names them dead.
pub const SILENCE_ALARM: &str = "stream-silence";
/// The end of the popup's pause.
pub const PAUSE_ALARM: &str = "pause-end";

/// A tab's outcome as effects. Its reply is not among them: it answers the tab's own message.
pub fn of_outcome(outcome: &Outcome, tab_id: i32) -> Vec<Effect> {
    let mut effects = Vec::new();
    effects.extend(outcome.record.clone().map(|event| Effect::Record { event }));
    if outcome.persist {
        effects.push(Effect::Store { what: Stored::State });
    }
    if outcome.history_changed {
        effects.push(Effect::Store { what: Stored::History });
    }
    effects.extend(outcome.alarm_at_ms.map(|at| Effect::Alarm { name: BACKSTOP_ALARM, at_ms: Some(at) }));
    effects.extend(outcome.silence_check_at_ms.map(|at| Effect::Alarm { name: SILENCE_ALARM, at_ms: Some(at) }));
    effects.extend(outcome.badge.as_ref().map(|view| badge(Some(tab_id), view)));
    effects.extend(outcome.notice.clone().map(|notice| Effect::Notify { notice }));
    if outcome.open_panel {
        effects.push(Effect::OpenPanel { tab_id });
    }
    effects
}

/// Outcomes found without a message from their tab (alarms): each tab is sent its reply too.
/// What is stored is read once, when the effects are handed over: one store of each kind is
/// enough however many tabs asked for it.
fn delivered(found: Vec<(i32, Outcome)>) -> Vec<Effect> {
    let mut effects: Vec<Effect> = Vec::new();
    for (tab_id, outcome) in found {
        for effect in of_outcome(&outcome, tab_id) {
            // Compared by what is stored only: a whole-`Effect` comparison costs the WASM ~1 KiB.
            let stored_already = |what: &Stored| effects.iter().any(|e| matches!(e, Effect::Store { what: held } if held == what));
            if !matches!(&effect, Effect::Store { what } if stored_already(what)) {
                effects.push(effect);
            }
        }
        effects.extend(outcome.reply.map(|message| Effect::Send { tab_id, message }));
    }
    effects
}

/// The pause as it is now: every tab's badge, the views of the tabs whose countdown it ended,
/// an alarm at its end (or none).
fn pause_effects(reply: &BgUiMessage) -> Vec<Effect> {
    let BgUiMessage::BgPause { until_ms, badge, tabs } = reply else { return Vec::new() };
    let mut effects = vec![self::badge(None, badge)];
    effects.extend(tabs.iter().map(|tab| Effect::Send { tab_id: tab.tab_id, message: tab.view.clone() }));
    effects.push(Effect::Alarm { name: PAUSE_ALARM, at_ms: (*until_ms > 0.0).then_some(*until_ms) });
    effects.push(Effect::Store { what: Stored::State });
    effects
}

/// An extension page's message: the reply, and what follows from it (saved settings, the pause).
pub fn on_ui(hub: &mut Hub, message: UiMessage, now_ms: f64) -> (BgUiMessage, Vec<Effect>) {
    let reply = hub.handle_ui(message, now_ms);
    let effects = match &reply {
        BgUiMessage::BgSettings { saved: true, .. } => vec![Effect::Store { what: Stored::Settings }],
        BgUiMessage::BgPause { .. } => pause_effects(&reply),
        BgUiMessage::BgPanelOpening { tab_id } => vec![Effect::OpenPanel { tab_id: *tab_id }],
        _ => Vec::new(),
    };
    (reply, effects)
}

/// One of the core's alarms fired (an unknown name does nothing).
pub fn on_alarm(hub: &mut Hub, name: &str, now_ms: f64) -> Vec<Effect> {
    match name {
        BACKSTOP_ALARM => delivered(hub.overdue(now_ms)),
        SILENCE_ALARM => {
            let (found, next) = hub.stalled(now_ms);
            let mut effects = delivered(found);
            effects.extend(next.map(|at| Effect::Alarm { name: SILENCE_ALARM, at_ms: Some(at) }));
            effects
        }
        PAUSE_ALARM => pause_effects(&hub.pause_reply(now_ms)),
        _ => Vec::new(),
    }
}

/// A tab was closed: nothing of it is kept.
pub fn on_tab_removed(hub: &mut Hub, tab_id: i32) -> Vec<Effect> {
    hub.forget_tab(tab_id);
    vec![Effect::Store { what: Stored::State }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::from_serde;
    use crate::protocol::{Text, Transport};
    use crate::settings::Settings;
    use crate::verdict::Verdict;

    fn hub() -> Hub {
        Hub::new(None, Settings::default(), None)
    }

    #[test]
    fn an_outcome_keeps_the_backgrounds_order_record_first() {
        let event = VerdictEvent {
            at_ms: 1.0,
            tab_id: 3,
            route: "/api/v0/chat/completion".into(),
            transport: Transport::Xhr,
            verdict: Verdict::Ok,
            label: "ok".into(),
            after_retries: None,
        };
        let view = BadgeView { text: "1".into(), color: "#000".into() };
        let notice = NoticeView { id: "n".into(), title: Text { key: "a".into(), args: Vec::new() }, message: Text { key: "b".into(), args: Vec::new() } };
        let outcome = Outcome {
            record: Some(event.clone()),
            persist: true,
            history_changed: true,
            alarm_at_ms: Some(5.0),
            badge: Some(view.clone()),
            notice: Some(notice.clone()),
            ..Outcome::default()
        };
        assert_eq!(
            of_outcome(&outcome, 3),
            [
                Effect::Record { event },
                Effect::Store { what: Stored::State },
                Effect::Store { what: Stored::History },
                Effect::Alarm { name: BACKSTOP_ALARM, at_ms: Some(5.0) },
                badge(Some(3), &view),
                Effect::Notify { notice },
            ]
        );
        assert!(of_outcome(&Outcome::default(), 3).is_empty());
    }

    #[test]
    fn a_pause_badges_every_tab_and_arms_its_end_and_resuming_clears_it() {
        let mut hub = hub();
        let (reply, effects) = on_ui(&mut hub, UiMessage::UiPause { minutes: 60 }, 1_000.0);
        assert!(matches!(reply, BgUiMessage::BgPause { .. }));
        let Effect::Badge { text, color } = &effects[0] else { panic!("{effects:?}") };
        assert_eq!((text.tab_id, color.as_ref().map(|c| c.tab_id)), (None, Some(None)), "every tab's badge");
        assert!(effects.contains(&Effect::Alarm { name: PAUSE_ALARM, at_ms: Some(1_000.0 + 3_600_000.0) }));
        assert_eq!(effects.last(), Some(&Effect::Store { what: Stored::State }));
        let (_, resumed) = on_ui(&mut hub, UiMessage::UiResume, 2_000.0);
        assert!(resumed.contains(&Effect::Alarm { name: PAUSE_ALARM, at_ms: None }));
        // The alarm at the pause's end: the badge goes, no alarm is left.
        let ended = on_alarm(&mut hub, PAUSE_ALARM, 2_000.0);
        assert!(ended.contains(&Effect::Alarm { name: PAUSE_ALARM, at_ms: None }));
    }

    #[test]
    fn several_tabs_delivered_at_once_store_the_state_once() {
        let outcome = || Outcome { persist: true, reply: Some(BgMessage::BgAck), ..Outcome::default() };
        let effects = delivered(vec![(1, outcome()), (2, outcome())]);
        assert_eq!(
            effects,
            [
                Effect::Store { what: Stored::State },
                Effect::Send { tab_id: 1, message: BgMessage::BgAck },
                Effect::Send { tab_id: 2, message: BgMessage::BgAck },
            ]
        );
    }

    #[test]
    fn an_empty_tab_badge_falls_back_to_every_tabs_and_sets_no_colour() {
        let empty = BadgeView { text: String::new(), color: "#fff".into() };
        let Effect::Badge { text, color } = badge(Some(2), &empty) else { unreachable!() };
        assert_eq!(text.to_json(), from_serde(serde_json::json!({ "tabId": 2, "text": null })));
        assert_eq!(color, None);
        let Effect::Badge { text, .. } = badge(None, &empty) else { unreachable!() };
        assert_eq!(text.to_json(), from_serde(serde_json::json!({ "text": "" })), "the pause's end clears every tab's");
    }

    #[test]
    fn only_saved_settings_are_stored_and_unknown_alarms_do_nothing() {
        let mut hub = hub();
        let bad = UiMessage::UiSaveSettings { settings: from_serde(serde_json::json!({ "max_attempts": 0 })) };
        assert!(on_ui(&mut hub, bad, 0.0).1.is_empty());
        let good = UiMessage::UiSaveSettings { settings: from_serde(serde_json::json!({ "auto_retry": false })) };
        assert_eq!(on_ui(&mut hub, good, 0.0).1, [Effect::Store { what: Stored::Settings }]);
        assert!(on_ui(&mut hub, UiMessage::UiGetSettings, 0.0).1.is_empty());
        assert!(on_alarm(&mut hub, "something-else", 0.0).is_empty());
        assert_eq!(on_tab_removed(&mut hub, 7), [Effect::Store { what: Stored::State }]);
    }
}
