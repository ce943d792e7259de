//! The background's brain: it takes every relay message, keeps the per-tab retry state and the
//! shared budget, and says what to answer, record, persist and notify. Pure; state is serialisable
//! so the MV3 background can be stopped and restarted at any time.

use serde::{Deserialize, Serialize};

use crate::budget::{Budget, BudgetConfig, Grant};
use crate::diagnose::conflicts::{self, PageHooks};
use crate::diagnose::history::History;
use crate::diagnose::view::{self, CoreFaults, HubFacts, RetryStatus};
use crate::protocol::{BgMessage, BgUiMessage, CancelReason, CsMessage, RetrySummary, Sender, UiMessage, VerdictEvent};
use crate::retry::{Control, Decision, FailureContext, Policy, StopReason};
use crate::settings::{HiddenTabs, Problem, Settings};
use crate::verdict::Verdict;
use crate::watch::{DropCounts, DropReason, Outcome as WatchOutcome, Watcher};

/// A confirmed automatic retry must show up as a new generation request within this time.
const FIRED_WINDOW_MS: f64 = 10_000.0;
/// How early a relay may ask for its retry (timer granularity).
const DUE_TOLERANCE_MS: f64 = 100.0;
/// While another tab streams after `parallel_chat_limit`, ask again this much later.
const PARALLEL_RECHECK_MS: f64 = 5_000.0;
/// Latency samples kept for the connection check.
pub(crate) const LATENCY_SAMPLES: usize = 20;
/// The backstop alarm fires this long after a retry was due, in case the page's timer did not.
const BACKSTOP_SLACK_MS: f64 = 5_000.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub due_ms: f64,
    pub attempt: u32,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabRetry {
    pub tab_id: i32,
    /// Automatic attempts made for the current message.
    pub attempts: u32,
    pub first_failure_ms: f64,
    pub pending: Option<Pending>,
    pub fired_at_ms: Option<f64>,
}

/// Everything that must survive the background being stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubState {
    pub budget: Budget,
    pub tabs: Vec<TabRetry>,
    pub rate_limit_strikes: u32,
    pub missing_control: u32,
    #[serde(default)]
    pub page_hooks: Vec<TabHooks>,
    /// Recent times from the page's own JSON requests to their response heads (ms).
    #[serde(default)]
    pub latency_ms: Vec<f64>,
    /// When a chat tab last showed DeepSeek's own crash screen.
    #[serde(default)]
    pub site_crash_at_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabHooks {
    pub tab_id: i32,
    pub hooks: PageHooks,
}

impl Default for HubState {
    fn default() -> Self {
        HubState {
            budget: Budget::new(&BudgetConfig::default(), 0.0),
            tabs: Vec::new(),
            rate_limit_strikes: 0,
            missing_control: 0,
            page_hooks: Vec::new(),
            latency_ms: Vec::new(),
            site_crash_at_ms: None,
        }
    }
}

/// An answer arrived after automatic retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovered {
    pub tab_id: i32,
    pub attempts: u32,
    pub waited_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub reply: Option<BgMessage>,
    pub record: Option<VerdictEvent>,
    pub persist: bool,
    pub recovered: Option<Recovered>,
    /// Wake the background at this time (backstop for the page's countdown).
    pub alarm_at_ms: Option<f64>,
    /// The busy-by-hour history changed (persist it in local storage).
    pub history_changed: bool,
    /// Check for dead (silent) streams at this time (`Hub::stalled`).
    pub silence_check_at_ms: Option<f64>,
}

pub struct Hub {
    watcher: Watcher,
    state: HubState,
    history: History,
    settings: Settings,
    policy: Policy,
    budget_config: BudgetConfig,
    core_faults: CoreFaults,
    /// When the background's silence alarm is set to wake the hub (one alarm, re-armed by
    /// `stalled`): most messages move no deadline earlier, so most set no alarm.
    silence_alarm_ms: Option<f64>,
}

impl Hub {
    pub fn new(state: Option<HubState>, settings: Settings, history: Option<History>) -> Hub {
        Hub {
            watcher: Watcher::new(),
            state: state.unwrap_or_default(),
            history: history.filter(|h| h.hours.len() == 24).unwrap_or_default(),
            policy: Policy::with_settings(&settings),
            settings,
            budget_config: BudgetConfig::default(),
            core_faults: CoreFaults::default(),
            silence_alarm_ms: None,
        }
    }

    pub fn state(&self) -> &HubState {
        &self.state
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn dropped_messages(&self) -> u32 {
        self.watcher.dropped_messages()
    }

    pub fn drops(&self) -> DropCounts {
        self.watcher.drops()
    }

    pub fn reject(&mut self) -> Outcome {
        self.watcher.reject();
        Outcome::default()
    }

    /// A message refused before it was decoded (the bindings check sizes first).
    pub fn refuse(&mut self, reason: DropReason) -> Outcome {
        self.watcher.refuse(reason);
        Outcome::default()
    }

    /// The background restarted the core after it trapped (kept by the background, shown by the self-check).
    pub fn note_core_faults(&mut self, faults: CoreFaults) {
        self.core_faults = faults;
    }

    pub fn set_settings(&mut self, settings: Settings) {
        self.policy = Policy::with_settings(&settings);
        self.settings = settings;
    }

    /// A message from the extension's own pages.
    pub fn handle_ui(&mut self, message: UiMessage) -> BgUiMessage {
        match message {
            UiMessage::UiGetSettings => BgUiMessage::BgSettings { settings: self.settings.clone(), problems: Vec::new(), saved: false },
            UiMessage::UiSaveSettings { settings } => {
                let parsed = serde_json::from_value::<Settings>(settings).map_err(|e| vec![Problem { field: "settings".into(), message: e.to_string() }]);
                match parsed.and_then(|s| if s.problems().is_empty() { Ok(s) } else { Err(s.problems()) }) {
                    Ok(settings) => {
                        self.set_settings(settings.clone());
                        BgUiMessage::BgSettings { settings, problems: Vec::new(), saved: true }
                    }
                    Err(problems) => BgUiMessage::BgSettings { settings: self.settings.clone(), problems, saved: false },
                }
            }
            UiMessage::UiDiagnose { input } => {
                let retries = self
                    .state
                    .tabs
                    .iter()
                    .filter_map(|t| t.pending.as_ref().map(|p| RetryStatus { tab_id: t.tab_id, attempt: p.attempt, due_ms: p.due_ms }))
                    .collect();
                let facts = HubFacts {
                    retries,
                    page_hooks: self.state.page_hooks.iter().map(|t| &t.hooks).collect(),
                    history: &self.history,
                    missing_control: self.state.missing_control,
                    dropped_messages: self.watcher.dropped_messages(),
                    drops: self.watcher.drops(),
                    core_faults: self.core_faults,
                    latency_ms: &self.state.latency_ms,
                    site_crash_at_ms: self.state.site_crash_at_ms,
                };
                let (view, first_seen) = view::build(&input, &facts);
                BgUiMessage::BgDiagnosis { view, first_seen }
            }
        }
    }

    pub fn forget_tab(&mut self, tab_id: i32) {
        self.watcher.forget_tab(tab_id);
        self.state.tabs.retain(|t| t.tab_id != tab_id);
        self.state.page_hooks.retain(|t| t.tab_id != tab_id);
    }

    fn tab(&mut self, tab_id: i32) -> &mut TabRetry {
        if let Some(i) = self.state.tabs.iter().position(|t| t.tab_id == tab_id) {
            return &mut self.state.tabs[i];
        }
        self.state.tabs.push(TabRetry { tab_id, attempts: 0, first_failure_ms: 0.0, pending: None, fired_at_ms: None });
        self.state.tabs.last_mut().expect("just pushed")
    }

    /// `random` is uniform in [0, 1): the jitter of this decision.
    pub fn handle(&mut self, message: CsMessage, sender: Sender, random: f64) -> Outcome {
        if !self.watcher.admit(&message, sender) {
            return Outcome::default();
        }
        let now = sender.now_ms;
        match message {
            CsMessage::CsRetryDue { manual } => self.retry_due(sender, manual),
            CsMessage::CsRetryFired => {
                let tab = self.tab(sender.tab_id);
                tab.attempts += 1;
                tab.pending = None;
                tab.fired_at_ms = Some(now);
                Outcome { reply: Some(BgMessage::BgAck), persist: true, ..Outcome::default() }
            }
            CsMessage::CsRetryCancel { reason } => {
                let tab = self.tab(sender.tab_id);
                tab.pending = None;
                if reason == CancelReason::NoControl {
                    self.state.missing_control += 1;
                }
                Outcome { reply: Some(BgMessage::BgAck), persist: true, ..Outcome::default() }
            }
            CsMessage::CsPageLoaded { late } => {
                // A reload ends the countdown and the old document's streams; only the top frame counts.
                if sender.frame_id == 0 {
                    self.watcher.forget_tab(sender.tab_id);
                    let tab = self.tab(sender.tab_id);
                    tab.pending = None;
                    tab.fired_at_ms = None;
                    // Kept per tab (it outlives a stopped worker) until a document loads in time.
                    let tab_id = sender.tab_id;
                    self.state.page_hooks.retain(|t| t.tab_id != tab_id || (!late && !t.hooks.is_not_watched()));
                    if late {
                        self.state.page_hooks.push(TabHooks { tab_id, hooks: PageHooks::not_watched() });
                    }
                }
                Outcome { reply: Some(BgMessage::BgAck), persist: true, ..Outcome::default() }
            }
            CsMessage::CsSiteCrashed => {
                self.state.site_crash_at_ms = Some(now);
                Outcome { reply: Some(BgMessage::BgAck), persist: true, ..Outcome::default() }
            }
            CsMessage::CsPageHooks { fetch, xhr, markers, login_token } => {
                // Only markers of the known table are kept (as the table writes them): page text is never shown.
                let known: Vec<String> = markers.iter().filter_map(|m| conflicts::known_marker(m)).map(str::to_string).collect();
                self.watcher.count_drops(DropReason::UnknownMarker, u32::try_from(markers.len() - known.len()).unwrap_or(u32::MAX));
                let markers = known.into_iter().take(conflicts::HOOK_MARKERS.len()).collect();
                let hooks = PageHooks { fetch: Some(fetch), xhr: Some(xhr), markers, login_token };
                self.state.page_hooks.retain(|t| t.tab_id != sender.tab_id);
                self.state.page_hooks.push(TabHooks { tab_id: sender.tab_id, hooks });
                Outcome { reply: Some(BgMessage::BgAck), persist: true, ..Outcome::default() }
            }
            message => {
                if let CsMessage::CsJsonResponse { elapsed_ms: Some(ms), .. } = &message {
                    if ms.is_finite() && *ms >= 0.0 && *ms < 600_000.0 {
                        self.state.latency_ms.push(*ms);
                        let excess = self.state.latency_ms.len().saturating_sub(LATENCY_SAMPLES);
                        self.state.latency_ms.drain(..excess);
                    }
                }
                let opens_stream = matches!(&message, CsMessage::CsStreamOpen { .. });
                let new_message =
                    matches!(&message, CsMessage::CsStreamOpen { route, .. } if route.ends_with("/completion") || route.ends_with("/edit_message"));
                let watched = self.watcher.handle(message, sender);
                let mut persist = false;
                if opens_stream && watched.reply.is_some() {
                    self.note_generation(sender, new_message);
                    persist = true;
                }
                let mut outcome = self.after_watch(watched, sender, random);
                outcome.persist |= persist;
                outcome.silence_check_at_ms = self.arm_silence_alarm();
                outcome
            }
        }
    }

    /// A generation request left this browser (its response head arrived).
    fn note_generation(&mut self, sender: Sender, new_message: bool) {
        let now = sender.now_ms;
        self.state.budget.note_request(&self.budget_config, now);
        let tab = self.tab(sender.tab_id);
        let automatic = tab.fired_at_ms.is_some_and(|t| now - t <= FIRED_WINDOW_MS);
        tab.fired_at_ms = None;
        if !automatic {
            // The user acted (sent, edited or retried by hand): any countdown for the old failure ends.
            tab.pending = None;
            if new_message {
                tab.attempts = 0;
                tab.first_failure_ms = 0.0;
            }
        }
    }

    fn after_watch(&mut self, watched: WatchOutcome, sender: Sender, random: f64) -> Outcome {
        let mut outcome = Outcome { reply: watched.reply, record: watched.record, ..Outcome::default() };
        let Some(BgMessage::BgVerdict { verdict, stream, route, label, message, message_args, .. }) = outcome.reply.clone() else { return outcome };
        // Only generation streams drive retries; a JSON route's verdict is explained, never clicked.
        let decision = if stream.is_some() {
            self.decide(&verdict, sender, random, &mut outcome)
        } else {
            explain_only(self.policy.decide(&verdict, FailureContext::default(), random))
        };
        if let (Some(record), Some(recovered)) = (outcome.record.as_mut(), outcome.recovered.as_ref()) {
            record.after_retries = Some(RetrySummary { attempts: recovered.attempts, waited_ms: recovered.waited_ms });
        }
        if stream.is_some() && !sender.incognito {
            self.history.note(&verdict, sender.local_hour);
            outcome.history_changed = true;
        }
        outcome.reply = Some(BgMessage::BgVerdict {
            stream,
            route,
            verdict,
            label,
            message,
            message_args,
            decision: Some(decision),
            pause_hidden: self.settings.hidden_tabs == HiddenTabs::Pause,
        });
        outcome
    }

    fn decide(&mut self, verdict: &Verdict, sender: Sender, random: f64, outcome: &mut Outcome) -> Decision {
        let now = sender.now_ms;
        outcome.persist = true;
        let throttled = verdict.is_throttled();
        if throttled {
            self.state.rate_limit_strikes += 1;
        } else if *verdict == Verdict::Ok {
            self.state.rate_limit_strikes = 0;
        }
        let strikes = self.state.rate_limit_strikes;
        let tab = self.tab(sender.tab_id);
        if *verdict == Verdict::Ok {
            if tab.attempts > 0 {
                outcome.recovered = Some(Recovered { tab_id: tab.tab_id, attempts: tab.attempts, waited_ms: (now - tab.first_failure_ms).max(0.0) });
            }
            tab.attempts = 0;
            tab.first_failure_ms = 0.0;
            tab.pending = None;
            return Decision::Explain { suggestion: None };
        }
        if tab.attempts == 0 || tab.first_failure_ms <= 0.0 {
            tab.first_failure_ms = now;
        }
        let context = FailureContext { attempts: tab.attempts, first_failure_ms: tab.first_failure_ms, now_ms: now, rate_limit_strikes: strikes };
        let mut decision = self.policy.decide(verdict, context, random);
        if !self.settings.auto_retry {
            // Every automatic click, a dropped stream's included, needs the switch on.
            match decision {
                Decision::Retry { suggestion, .. } => decision = Decision::Stop { reason: StopReason::AutoRetryOff, suggestion },
                Decision::AwaitResume { .. } => decision = Decision::Stop { reason: StopReason::AutoRetryOff, suggestion: None },
                Decision::Stop { .. } | Decision::Explain { .. } => {}
            }
        }
        let tab = self.tab(sender.tab_id);
        tab.pending = None;
        let due = match &decision {
            Decision::Retry { delay_ms, attempt, .. } => Some((now + *delay_ms as f64, *attempt)),
            Decision::AwaitResume { grace_ms } => Some((now + *grace_ms as f64, tab.attempts + 1)),
            Decision::Stop { .. } | Decision::Explain { .. } => None,
        };
        if let Some((due_ms, attempt)) = due {
            tab.pending = Some(Pending { due_ms, attempt, verdict: verdict.clone() });
            outcome.alarm_at_ms = Some(due_ms + BACKSTOP_SLACK_MS);
        }
        if throttled {
            if let Some((due_ms, _)) = due {
                // "Too fast" is about the account: every tab of this browser holds off.
                self.state.budget.cool_down(due_ms);
            }
        }
        decision
    }

    fn retry_due(&mut self, sender: Sender, manual: bool) -> Outcome {
        let now = sender.now_ms;
        let other_streaming = self.watcher.streaming_tabs().any(|t| t != sender.tab_id);
        let tab = self.tab(sender.tab_id);
        let Some(pending) = tab.pending.clone() else {
            return Outcome { reply: Some(BgMessage::BgRetryStop), ..Outcome::default() };
        };
        let attempt = pending.attempt;
        let control = Control::for_verdict(&pending.verdict);
        if manual {
            // "Retry now": the user's own request, once; the budget still counts it when it leaves.
            return Outcome { reply: Some(BgMessage::BgRetryGo { attempt, control }), persist: true, ..Outcome::default() };
        }
        let mut until = now;
        if pending.due_ms > now + DUE_TOLERANCE_MS {
            until = pending.due_ms;
        }
        if pending.verdict == Verdict::ParallelLimit && other_streaming {
            until = until.max(now + PARALLEL_RECHECK_MS);
        }
        if until <= now {
            match self.state.budget.ask(&self.budget_config, now) {
                Grant::Go => return Outcome { reply: Some(BgMessage::BgRetryGo { attempt, control }), persist: true, ..Outcome::default() },
                Grant::Wait { until_ms } => until = until_ms,
            }
        }
        let tab = self.tab(sender.tab_id);
        if let Some(p) = tab.pending.as_mut() {
            p.due_ms = until;
        }
        Outcome {
            reply: Some(BgMessage::BgRetryWait { delay_ms: (until - now).max(0.0).ceil() as u64 }),
            persist: true,
            alarm_at_ms: Some(until + BACKSTOP_SLACK_MS),
            ..Outcome::default()
        }
    }

    /// The silence alarm fired: the streams silent past their limit (for each, the tab and what to
    /// send it unasked, with the usual record and persistence), and when to check next, if ever.
    pub fn stalled(&mut self, now_ms: f64) -> (Vec<(i32, Outcome)>, Option<f64>) {
        self.silence_alarm_ms = None;
        let found = self.watcher.stalled(now_ms);
        let outcomes = found.into_iter().map(|(sender, watched)| (sender.tab_id, self.after_watch(watched, sender, 0.5))).collect();
        (outcomes, self.arm_silence_alarm())
    }

    /// The time to set the silence alarm to, when the earliest silence deadline now comes before
    /// the alarm already set (or none is set); `None` when the alarm set already serves.
    fn arm_silence_alarm(&mut self) -> Option<f64> {
        let next = self.watcher.next_silence_deadline()?;
        if self.silence_alarm_ms.is_some_and(|armed| armed <= next) {
            return None;
        }
        self.silence_alarm_ms = Some(next);
        Some(next)
    }

    /// Tabs whose retry is overdue (the backstop alarm fired): the background pokes them.
    pub fn overdue_tabs(&self, now_ms: f64) -> Vec<i32> {
        self.state.tabs.iter().filter(|t| t.pending.as_ref().is_some_and(|p| p.due_ms + BACKSTOP_SLACK_MS <= now_ms)).map(|t| t.tab_id).collect()
    }
}

/// A decision that never leads to a click: what a JSON route's error gets.
fn explain_only(decision: Decision) -> Decision {
    match decision {
        Decision::Retry { suggestion, .. } | Decision::Stop { suggestion, .. } | Decision::Explain { suggestion } => Decision::Explain { suggestion },
        Decision::AwaitResume { .. } => Decision::Explain { suggestion: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EndKind, SelectedHeaders, Transport};

    fn at(tab_id: i32, now_ms: f64) -> Sender {
        Sender { tab_id, frame_id: 0, incognito: false, now_ms, local_hour: 12 }
    }

    fn stream(hub: &mut Hub, tab: i32, id: u32, route: &str, body: &str, now: f64) -> Outcome {
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(CsMessage::CsStreamOpen { stream: id, route: route.into(), transport: Transport::Fetch, status: 200, headers }, at(tab, now), 0.5);
        hub.handle(CsMessage::CsStreamBytes { stream: id, bytes: body.into() }, at(tab, now), 0.5);
        hub.handle(CsMessage::CsStreamEnd { stream: id, end: EndKind::Complete }, at(tab, now), 0.5)
    }

    const BUSY: &str = "event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"server_busy\"}\n\n";
    const RATE: &str = "event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"rate_limit_reached\"}\n\n";
    const OK: &str = "event: finish\ndata: {}\n\n";

    fn decision_of(outcome: &Outcome) -> Option<Decision> {
        match &outcome.reply {
            Some(BgMessage::BgVerdict { decision, .. }) => decision.clone(),
            _ => None,
        }
    }

    #[test]
    fn busy_then_retry_then_recovered() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let busy = stream(&mut hub, 1, 1, "/api/v0/chat/completion", BUSY, 1_000.0);
        // The verdict came with the bytes; the end adds nothing.
        assert_eq!(busy.reply, Some(BgMessage::BgAck));
        let mut hub = Hub::new(None, Settings::default(), None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Fetch, status: 200, headers },
            at(1, 1_000.0),
            0.5,
        );
        let verdict = hub.handle(CsMessage::CsStreamBytes { stream: 1, bytes: BUSY.into() }, at(1, 1_000.0), 0.5);
        assert_eq!(decision_of(&verdict), Some(Decision::Retry { delay_ms: 5_000, attempt: 1, max_attempts: 9, suggestion: None, control: Control::Retry }));
        hub.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, at(1, 1_000.0), 0.5);
        assert_eq!(hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 3_000.0), 0.5).reply, Some(BgMessage::BgRetryWait { delay_ms: 3_000 }));
        assert_eq!(
            hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 6_000.0), 0.5).reply,
            Some(BgMessage::BgRetryGo { attempt: 1, control: Control::Retry })
        );
        hub.handle(CsMessage::CsRetryFired, at(1, 6_000.0), 0.5);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(
            CsMessage::CsStreamOpen { stream: 2, route: "/api/v0/chat/regenerate".into(), transport: Transport::Fetch, status: 200, headers },
            at(1, 6_100.0),
            0.5,
        );
        let ok = hub.handle(CsMessage::CsStreamBytes { stream: 2, bytes: OK.into() }, at(1, 6_200.0), 0.5);
        assert_eq!(ok.recovered, Some(Recovered { tab_id: 1, attempts: 1, waited_ms: 5_200.0 }));
        assert_eq!(ok.record.and_then(|r| r.after_retries), Some(RetrySummary { attempts: 1, waited_ms: 5_200.0 }));
        assert_eq!(hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 7_000.0), 0.5).reply, Some(BgMessage::BgRetryStop));
    }

    #[test]
    fn rate_limit_holds_every_tab_and_state_survives_a_restart() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Fetch, status: 200, headers: headers.clone() },
            at(1, 0.0),
            0.0,
        );
        hub.handle(CsMessage::CsStreamBytes { stream: 1, bytes: RATE.into() }, at(1, 0.0), 0.0);
        hub.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Fetch, status: 200, headers },
            at(2, 1_000.0),
            0.0,
        );
        hub.handle(CsMessage::CsStreamBytes { stream: 1, bytes: BUSY.into() }, at(2, 1_000.0), 0.0);
        // The background is stopped and started again from its persisted state.
        let saved = serde_json::to_string(hub.state()).unwrap();
        let mut hub = Hub::new(Some(serde_json::from_str(&saved).unwrap()), Settings::default(), None);
        assert_eq!(hub.handle(CsMessage::CsRetryDue { manual: false }, at(2, 10_000.0), 0.5).reply, Some(BgMessage::BgRetryWait { delay_ms: 50_000 }));
        assert_eq!(
            hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 60_000.0), 0.5).reply,
            Some(BgMessage::BgRetryGo { attempt: 1, control: Control::Retry })
        );
    }

    #[test]
    fn auto_retry_off_and_non_retryable_never_schedule() {
        let mut hub = Hub::new(None, Settings { auto_retry: false, ..Settings::default() }, None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Fetch, status: 200, headers },
            at(1, 0.0),
            0.0,
        );
        let out = hub.handle(CsMessage::CsStreamBytes { stream: 1, bytes: BUSY.into() }, at(1, 0.0), 0.0);
        assert!(matches!(decision_of(&out), Some(Decision::Stop { reason: StopReason::AutoRetryOff, .. })));
        assert_eq!(hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 60_000.0), 0.5).reply, Some(BgMessage::BgRetryStop));
    }

    #[test]
    fn settings_are_validated_before_they_apply() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let bad = hub.handle_ui(UiMessage::UiSaveSettings { settings: serde_json::json!({"max_attempts": 60}) });
        assert!(matches!(bad, BgUiMessage::BgSettings { saved: false, ref problems, .. } if problems[0].field == "max_attempts"));
        let junk = hub.handle_ui(UiMessage::UiSaveSettings { settings: serde_json::json!({"max_attempts": "lots"}) });
        assert!(matches!(junk, BgUiMessage::BgSettings { saved: false, .. }));
        assert_eq!(hub.settings(), &Settings::default());
        let good = hub.handle_ui(UiMessage::UiSaveSettings { settings: serde_json::json!({"max_attempts": 3, "auto_retry": false}) });
        assert!(matches!(good, BgUiMessage::BgSettings { saved: true, .. }));
        assert_eq!(hub.settings().max_attempts, 3);
    }

    #[test]
    fn a_silent_stream_is_declared_dead_after_the_servers_heartbeat_limit() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), heartbeat_timeout_secs: Some("60".into()), ..Default::default() };
        let opened = hub.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Xhr, status: 200, headers },
            at(1, 0.0),
            0.5,
        );
        assert_eq!(opened.silence_check_at_ms, Some(75_000.0), "60 s from the header plus 15 s slack");
        let beat = hub.handle(CsMessage::CsStreamBytes { stream: 1, bytes: ": \n\n".into() }, at(1, 50_000.0), 0.5);
        assert_eq!(beat.silence_check_at_ms, None, "the alarm already set comes first: no new one");
        // The alarm fires at 75 s: the heartbeat kept the stream alive, so it is re-armed for 125 s.
        let (dead, next) = hub.stalled(75_000.0);
        assert!(dead.is_empty());
        assert_eq!(next, Some(125_000.0), "a heartbeat keeps it alive");
        let (dead, next) = hub.stalled(125_000.0);
        assert_eq!(dead.len(), 1);
        assert!(matches!(decision_of(&dead[0].1), Some(Decision::Explain { .. })), "never clicked: the page still waits on it");
        assert_eq!(dead[0].1.record.as_ref().map(|r| r.label.as_str()), Some("stalled"));
        assert_eq!(next, None, "nothing left to watch");
        assert!(hub.stalled(500_000.0).0.is_empty(), "reported once");
    }

    #[test]
    fn a_dropped_stream_obeys_the_switch_the_cap_and_is_regenerated_once_at_most() {
        let dropped = "data: {\"v\":\"Hel\",\"p\":\"response/fragments/0/content\",\"o\":\"APPEND\"}\n\n";
        let mut off = Hub::new(None, Settings { auto_retry: false, ..Settings::default() }, None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        off.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Xhr, status: 200, headers: headers.clone() },
            at(1, 0.0),
            0.5,
        );
        off.handle(CsMessage::CsStreamBytes { stream: 1, bytes: dropped.into() }, at(1, 0.0), 0.5);
        let end = off.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, at(1, 0.0), 0.5);
        assert!(matches!(decision_of(&end), Some(Decision::Stop { reason: StopReason::AutoRetryOff, .. })), "{end:?}");
        assert_eq!(off.handle(CsMessage::CsRetryDue { manual: false }, at(1, 20_000.0), 0.5).reply, Some(BgMessage::BgRetryStop));

        let mut on = Hub::new(None, Settings::default(), None);
        on.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Xhr, status: 200, headers: headers.clone() },
            at(1, 0.0),
            0.5,
        );
        on.handle(CsMessage::CsStreamBytes { stream: 1, bytes: dropped.into() }, at(1, 0.0), 0.5);
        let first = on.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, at(1, 0.0), 0.5);
        assert!(matches!(decision_of(&first), Some(Decision::AwaitResume { .. })));
        assert!(matches!(on.handle(CsMessage::CsRetryDue { manual: false }, at(1, 16_000.0), 0.5).reply, Some(BgMessage::BgRetryGo { .. })));
        on.handle(CsMessage::CsRetryFired, at(1, 16_000.0), 0.5);
        // The regenerated answer ends without its marker again (say the site changed it): no second click.
        on.handle(
            CsMessage::CsStreamOpen { stream: 2, route: "/api/v0/chat/regenerate".into(), transport: Transport::Xhr, status: 200, headers },
            at(1, 16_500.0),
            0.5,
        );
        on.handle(CsMessage::CsStreamBytes { stream: 2, bytes: dropped.into() }, at(1, 17_000.0), 0.5);
        let second = on.handle(CsMessage::CsStreamEnd { stream: 2, end: EndKind::Complete }, at(1, 17_000.0), 0.5);
        assert!(matches!(decision_of(&second), Some(Decision::Stop { reason: StopReason::AttemptCap, .. })), "{second:?}");
    }

    #[test]
    fn a_json_routes_error_never_leads_to_a_click() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let message = CsMessage::CsJsonResponse {
            route: "/api/v0/chat/create_pow_challenge".into(),
            transport: Transport::Xhr,
            status: 503,
            headers: SelectedHeaders::default(),
            envelope: crate::protocol::Envelope::default(),
            elapsed_ms: None,
        };
        let out = hub.handle(message, at(1, 0.0), 0.5);
        assert!(matches!(decision_of(&out), Some(Decision::Explain { .. })), "{out:?}");
        assert_eq!(hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 60_000.0), 0.5).reply, Some(BgMessage::BgRetryStop));
    }

    #[test]
    fn a_cut_answer_waits_for_the_pages_auto_resume_then_presses_continue() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Xhr, status: 200, headers },
            at(1, 0.0),
            0.0,
        );
        let cut = "data: {\"p\":\"response/status\",\"o\":\"SET\",\"v\":\"INCOMPLETE\"}\n\n";
        let out = hub.handle(CsMessage::CsStreamBytes { stream: 1, bytes: cut.into() }, at(1, 0.0), 0.0);
        assert!(matches!(decision_of(&out), Some(Decision::Retry { delay_ms: 5_000, control: Control::Continue, .. })), "{out:?}");
        assert_eq!(
            hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 5_000.0), 0.5).reply,
            Some(BgMessage::BgRetryGo { attempt: 1, control: Control::Continue })
        );
    }

    #[test]
    fn a_reload_ends_the_countdown() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Xhr, status: 200, headers },
            at(1, 0.0),
            0.0,
        );
        hub.handle(CsMessage::CsStreamBytes { stream: 1, bytes: BUSY.into() }, at(1, 0.0), 0.0);
        hub.handle(CsMessage::CsPageLoaded { late: false }, at(1, 2_000.0), 0.5);
        assert_eq!(hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 9_000.0), 0.5).reply, Some(BgMessage::BgRetryStop));
        assert!(hub.overdue_tabs(100_000.0).is_empty());
    }

    #[test]
    fn the_user_sending_a_message_ends_the_countdown() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(
            CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Fetch, status: 200, headers },
            at(1, 0.0),
            0.0,
        );
        hub.handle(CsMessage::CsStreamBytes { stream: 1, bytes: BUSY.into() }, at(1, 0.0), 0.0);
        stream(&mut hub, 1, 2, "/api/v0/chat/completion", OK, 2_000.0);
        assert_eq!(hub.handle(CsMessage::CsRetryDue { manual: false }, at(1, 9_000.0), 0.5).reply, Some(BgMessage::BgRetryStop));
    }
}
