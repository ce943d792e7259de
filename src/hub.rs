//! The background's brain: it takes every relay message, keeps each tab's retry state machine and
//! the shared budget, and says what to answer (the tab's whole view: banner, timer, press), record,
//! persist, badge and notify. Pure; state is serialisable so the MV3 background can be stopped and
//! restarted at any time.
//!
//! Per tab: idle → waiting (`pending`: due time, attempt, verdict) → pressing/confirming
//! (`fired_at_ms`) → idle (the new request arrived) or stopped (not confirmed, the user stood
//! down, navigation, no control). A hidden tab's countdown pauses when the settings say so.

use crate::json::{FromJson, ToJson};

use crate::banner;
use crate::budget::{Budget, BudgetConfig, Grant};
use crate::diagnose::conflicts::{self, PageHooks};
use crate::diagnose::history::History;
use crate::diagnose::view::{CoreFaults, HubFacts, RetryStatus};
use crate::protocol::{
    BadgeView, BgMessage, BgUiMessage, CsMessage, NoticeView, PressFailure, RetrySummary, Sender, StandDown, TabView, UiMessage, VerdictEvent,
};
use crate::retry::{Control, Decision, FailureContext, Policy, StopReason};
use crate::settings::{HiddenTabs, Settings};
use crate::verdict::Verdict;
use crate::watch::{DropCounts, DropReason, Found, Outcome as WatchOutcome, Watcher};

/// How early a relay may ask for its retry (timer granularity).
const DUE_TOLERANCE_MS: f64 = 100.0;
/// While another tab streams after `parallel_chat_limit`, ask again this much later.
const PARALLEL_RECHECK_MS: f64 = 5_000.0;
/// Latency samples kept for the connection check.
pub(crate) const LATENCY_SAMPLES: usize = 20;
/// The backstop alarm fires this long after a timer was due, in case the page's timer did not.
const BACKSTOP_SLACK_MS: f64 = 5_000.0;
/// Longest page path kept for hashing (a longer one is cut: still a stable name).
const MAX_CONVERSATION_CHARS: usize = 512;

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct Pending {
    pub due_ms: f64,
    pub attempt: u32,
    pub verdict: Verdict,
    #[json(default)]
    pub route: String,
    /// The conversation the failure belongs to (hash of the page path).
    #[json(default)]
    pub conversation: u64,
    /// Paused in a hidden tab, with this much left.
    #[json(default)]
    pub paused_left_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct TabRetry {
    pub tab_id: i32,
    /// Automatic attempts made for the current message.
    pub attempts: u32,
    pub first_failure_ms: f64,
    pub pending: Option<Pending>,
    /// Pressed at this time; confirmed by a new generation request within the confirm window.
    pub fired_at_ms: Option<f64>,
    /// The page's conversation, as last reported (hash of the path; never the path).
    #[json(default)]
    pub conversation: u64,
    #[json(default)]
    pub hidden: bool,
    /// The control pressed last (what the banner says while it is confirmed).
    #[json(default)]
    pub fired_control: Control,
    /// The user stood Unbusy down while it was pressing: what that press brings back is not
    /// retried. Until the user's own next request.
    #[json(default)]
    pub stood_down: bool,
}

/// Everything that must survive the background being stopped.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct HubState {
    pub budget: Budget,
    pub tabs: Vec<TabRetry>,
    pub rate_limit_strikes: u32,
    pub missing_control: u32,
    #[json(default)]
    pub page_hooks: Vec<TabHooks>,
    /// Recent times from the page's own JSON requests to their response heads (ms).
    #[json(default)]
    pub latency_ms: Vec<f64>,
    /// When a chat tab last showed DeepSeek's own crash screen.
    #[json(default)]
    pub site_crash_at_ms: Option<f64>,
    /// Whether Unbusy has pressed a control before (the first countdown explains that it will).
    #[json(default)]
    pub pressed_before: bool,
    /// Until when the user paused Unbusy from the popup (0: not paused).
    #[json(default)]
    pub paused_until_ms: f64,
}

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
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
            pressed_before: false,
            paused_until_ms: 0.0,
        }
    }
}

/// An answer arrived after automatic retries.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
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
    /// Set the sender tab's toolbar badge.
    pub badge: Option<BadgeView>,
    /// Show this notification.
    pub notice: Option<NoticeView>,
    /// Wake the background at this time (backstop for the page's timer).
    pub alarm_at_ms: Option<f64>,
    /// The busy-by-hour history changed (persist it in local storage).
    pub history_changed: bool,
    /// Check for dead (silent) streams at this time (`Hub::stalled`).
    pub silence_check_at_ms: Option<f64>,
    /// Open the API panel for the sender's tab (the banner's "Ask through the API").
    pub open_panel: bool,
    /// For tests and the fuzzer: what was decided and what came back after retries (not sent).
    pub decision: Option<Decision>,
    pub verdict: Option<Verdict>,
    pub recovered: Option<Recovered>,
}

impl Outcome {
    fn view(view: BgMessage) -> Outcome {
        Outcome { reply: Some(view), persist: true, ..Outcome::default() }
    }

    fn ack() -> Outcome {
        Outcome { reply: Some(BgMessage::BgAck), persist: true, ..Outcome::default() }
    }
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
    /// When the banner last opened an API panel: a button in the page's reach opens at most one
    /// window per `PANEL_REOPEN_MS` (a page could lay it under every click of the user's).
    panel_opened_at_ms: f64,
}

/// See `Hub::panel_opened_at_ms`.
const PANEL_REOPEN_MS: f64 = 2_000.0;

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
            panel_opened_at_ms: f64::NEG_INFINITY,
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
    pub fn handle_ui(&mut self, message: UiMessage, now_ms: f64) -> BgUiMessage {
        match message {
            UiMessage::UiGetSettings => BgUiMessage::BgSettings { settings: self.settings.clone(), problems: Vec::new(), saved: false },
            UiMessage::UiSaveSettings { settings } => {
                let parsed = Settings::from_json(&settings).ok_or_else(|| Settings::unreadable(&settings));
                match parsed.and_then(|s| if s.problems().is_empty() { Ok(s) } else { Err(s.problems()) }) {
                    Ok(settings) => {
                        self.set_settings(settings.clone());
                        BgUiMessage::BgSettings { settings, problems: Vec::new(), saved: true }
                    }
                    Err(problems) => BgUiMessage::BgSettings { settings: self.settings.clone(), problems, saved: false },
                }
            }
            UiMessage::UiFacts => BgUiMessage::BgFacts { facts: Box::new(self.facts()) },
            UiMessage::UiPause { minutes } => {
                self.state.paused_until_ms = now_ms + f64::from(minutes.clamp(1, MAX_PAUSE_MINUTES)) * 60_000.0;
                // Countdowns under way end now, and their tabs say why (not when they are due).
                let mut stopped = Vec::new();
                for tab in self.state.tabs.iter_mut().filter(|t| t.pending.is_some()) {
                    end_failure(tab);
                    let mut view = banner::stopped(banner::stop_key(StopReason::Paused));
                    banner::add_time_note(&mut view, None, self.state.paused_until_ms);
                    stopped.push(TabView { tab_id: tab.tab_id, view });
                }
                let mut reply = self.pause_reply(now_ms);
                if let BgUiMessage::BgPause { tabs, .. } = &mut reply {
                    *tabs = stopped;
                }
                reply
            }
            UiMessage::UiResume => {
                self.state.paused_until_ms = 0.0;
                self.pause_reply(now_ms)
            }
            UiMessage::UiAskApi { tab_id } => BgUiMessage::BgPanelOpening { tab_id },
        }
    }

    /// The pause's state and badge (the background's alarm asks again when the pause should end).
    pub fn pause_reply(&mut self, now_ms: f64) -> BgUiMessage {
        if self.state.paused_until_ms <= now_ms {
            self.state.paused_until_ms = 0.0;
        }
        let until_ms = self.state.paused_until_ms;
        BgUiMessage::BgPause { until_ms, badge: banner::pause_badge(until_ms > 0.0), tabs: Vec::new() }
    }

    /// What the popup shows that only the hub knows.
    pub fn facts(&self) -> HubFacts {
        HubFacts {
            retries: self
                .state
                .tabs
                .iter()
                .filter_map(|t| t.pending.as_ref().map(|p| RetryStatus { tab_id: t.tab_id, attempt: p.attempt, due_ms: p.due_ms }))
                .collect(),
            page_hooks: self.state.page_hooks.iter().map(|t| t.hooks.clone()).collect(),
            history: self.history.clone(),
            missing_control: self.state.missing_control,
            dropped_messages: self.watcher.dropped_messages(),
            drops: self.watcher.drops(),
            core_faults: self.core_faults,
            latency_ms: self.state.latency_ms.clone(),
            site_crash_at_ms: self.state.site_crash_at_ms,
            paused_until_ms: self.state.paused_until_ms,
            known_tabs: self.state.tabs.iter().map(|t| t.tab_id).chain(self.state.page_hooks.iter().map(|t| t.tab_id)).collect(),
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
        self.state.tabs.push(TabRetry {
            tab_id,
            attempts: 0,
            first_failure_ms: 0.0,
            pending: None,
            fired_at_ms: None,
            conversation: 0,
            hidden: false,
            fired_control: Control::Retry,
            stood_down: false,
        });
        self.state.tabs.last_mut().expect("just pushed")
    }

    /// `random` is uniform in [0, 1): the jitter of this decision.
    pub fn handle(&mut self, message: CsMessage, sender: Sender, random: f64) -> Outcome {
        let mut outcome = self.handle_message(message, sender, random);
        if outcome.alarm_at_ms.is_some() {
            // One alarm for all tabs: always the earliest, not the latest asked for.
            outcome.alarm_at_ms = self.next_backstop();
        }
        self.add_time_note(sender.tab_id, &mut outcome);
        outcome
    }

    /// The banner names a time of day: the end of its failure's retries, or of the pause.
    fn add_time_note(&self, tab_id: i32, outcome: &mut Outcome) {
        let started = self.tab_ref(tab_id).map_or(0.0, |t| t.first_failure_ms);
        let deadline = (started > 0.0).then_some(started + self.policy.deadline_ms as f64);
        if let Some(reply) = outcome.reply.as_mut() {
            banner::add_time_note(reply, deadline, self.state.paused_until_ms);
        }
    }

    /// When the backstop alarm should next wake the background: the earliest time a tab's timer
    /// (a countdown, or a press's confirm window) is overdue.
    fn next_backstop(&self) -> Option<f64> {
        self.state.tabs.iter().filter_map(|t| self.backstop_at(t)).min_by(f64::total_cmp)
    }

    /// When the tab's timer is overdue (its countdown, or its press's confirm window, plus slack);
    /// `None` when it runs no timer (idle, or paused in a hidden tab).
    fn backstop_at(&self, tab: &TabRetry) -> Option<f64> {
        let waiting = tab.pending.as_ref().filter(|p| p.paused_left_ms.is_none()).map(|p| p.due_ms);
        let confirming = tab.fired_at_ms.map(|f| f + self.policy.confirm_window_ms as f64);
        waiting.into_iter().chain(confirming).min_by(f64::total_cmp).map(|t| t + BACKSTOP_SLACK_MS)
    }

    fn tab_ref(&self, tab_id: i32) -> Option<&TabRetry> {
        self.state.tabs.iter().find(|t| t.tab_id == tab_id)
    }

    fn handle_message(&mut self, message: CsMessage, sender: Sender, random: f64) -> Outcome {
        if !self.watcher.admit(&message, sender) {
            return Outcome::default();
        }
        let now = sender.now_ms;
        match message {
            CsMessage::CsTimerDue => self.timer_due(sender),
            CsMessage::CsRetryNow => self.retry_now(sender),
            CsMessage::CsStandDown { reason } => self.stand_down(sender, reason),
            CsMessage::CsPressFailed { why } => self.press_failed(sender, why),
            CsMessage::CsPageState { conversation, hidden } => self.page_state(sender, &conversation, hidden),
            CsMessage::CsPageLoaded { late } => {
                // A reload ends the countdown and the old document's streams; only the top frame counts.
                if sender.frame_id != 0 {
                    return Outcome::ack();
                }
                self.watcher.forget_tab(sender.tab_id);
                // Kept per tab (it outlives a stopped worker) until a document loads in time.
                let tab_id = sender.tab_id;
                self.state.page_hooks.retain(|t| t.tab_id != tab_id || (!late && !t.hooks.is_not_watched()));
                if late {
                    self.state.page_hooks.push(TabHooks { tab_id, hooks: PageHooks::not_watched() });
                }
                let tab = self.tab(sender.tab_id);
                // The conversation is the new document's already (its page state comes first).
                let ended = tab.pending.is_some() || tab.fired_at_ms.is_some();
                end_failure(tab);
                // The new document says why nothing more happens for the old one's failure.
                if ended {
                    Outcome::view(banner::stopped("bannerReloaded"))
                } else {
                    Outcome::ack()
                }
            }
            CsMessage::CsSiteCrashed => {
                self.state.site_crash_at_ms = Some(now);
                Outcome::ack()
            }
            // Only the top frame shows the banner.
            CsMessage::CsAskApi => {
                let open_panel = sender.frame_id == 0 && now - self.panel_opened_at_ms >= PANEL_REOPEN_MS;
                if open_panel {
                    self.panel_opened_at_ms = now;
                }
                Outcome { open_panel, reply: Some(BgMessage::BgAck), ..Outcome::default() }
            }
            CsMessage::CsPageHooks { fetch, xhr, markers, login_token } => {
                // Only markers of the known table are kept (as the table writes them): page text is never shown.
                let known: Vec<String> = markers.iter().filter_map(|m| conflicts::known_marker(m)).map(str::to_string).collect();
                self.watcher.count_drops(DropReason::UnknownMarker, u32::try_from(markers.len() - known.len()).unwrap_or(u32::MAX));
                let markers = known.into_iter().take(conflicts::HOOK_MARKERS.len()).collect();
                let hooks = PageHooks { fetch: Some(fetch), xhr: Some(xhr), markers, login_token };
                self.state.page_hooks.retain(|t| t.tab_id != sender.tab_id);
                self.state.page_hooks.push(TabHooks { tab_id: sender.tab_id, hooks });
                Outcome::ack()
            }
            message @ (CsMessage::CsStreamOpen { .. }
            | CsMessage::CsStreamBytes { .. }
            | CsMessage::CsStreamEnd { .. }
            | CsMessage::CsJsonResponse { .. }
            | CsMessage::CsDropped { .. }) => {
                if let CsMessage::CsJsonResponse { elapsed_ms: Some(ms), .. } = &message {
                    if ms.is_finite() && *ms >= 0.0 && *ms < 600_000.0 {
                        self.state.latency_ms.push(*ms);
                        let excess = self.state.latency_ms.len().saturating_sub(LATENCY_SAMPLES);
                        self.state.latency_ms.drain(..excess);
                    }
                }
                let opened = match &message {
                    CsMessage::CsStreamOpen { stream, .. } => Some(*stream),
                    _ => None,
                };
                let watched = self.watcher.handle(message, sender);
                if let Some(stream) = opened {
                    let conversation = self.tab(sender.tab_id).conversation;
                    self.watcher.tag(sender, stream, conversation);
                }
                let mut outcome = match opened {
                    // A request that was refused (caps) changes nothing.
                    Some(stream) if self.watcher.watches(sender, stream) => self.generation_started(sender),
                    _ => Outcome::default(),
                };
                let judged = self.after_watch(watched, sender, random);
                if judged.reply.is_some() || judged.record.is_some() {
                    outcome = Outcome { persist: outcome.persist || judged.persist, ..judged };
                }
                outcome.silence_check_at_ms = self.arm_silence_alarm();
                outcome
            }
        }
    }

    /// A generation request left this browser (its response head arrived): Unbusy's own press
    /// (confirmed) or the user's (sent, edited or retried by hand: any countdown ends).
    fn generation_started(&mut self, sender: Sender) -> Outcome {
        let now = sender.now_ms;
        self.state.budget.note_request(&self.budget_config, now);
        let window = self.policy.confirm_window_ms as f64;
        let tab = self.tab(sender.tab_id);
        let automatic = tab.fired_at_ms.is_some_and(|t| now - t <= window);
        tab.fired_at_ms = None;
        if automatic && tab.stood_down {
            return Outcome::default();
        }
        if automatic {
            return Outcome::view(banner::retrying(tab.fired_control, None));
        }
        // The user acted (sent, edited, or retried by hand): the failure Unbusy was handling is over.
        end_failure(tab);
        tab.stood_down = false;
        Outcome::view(banner::hidden())
    }

    fn after_watch(&mut self, watched: WatchOutcome, sender: Sender, random: f64) -> Outcome {
        let mut outcome = Outcome { record: watched.record, ..Outcome::default() };
        let Some(Found { stream, route, verdict, conversation }) = watched.found else { return outcome };
        if stream.is_none() {
            // A JSON route's error is explained, never clicked, and never replaces a retry under way.
            let tab = self.tab(sender.tab_id);
            if tab.pending.is_some() || tab.fired_at_ms.is_some() {
                return outcome;
            }
            let decision = explain_only(self.policy.decide(&verdict, FailureContext::default(), random));
            outcome.reply = Some(banner::for_decision(&verdict, &route, &decision, false));
            outcome.badge = Some(banner::badge(&verdict, &decision, false));
            outcome.decision = Some(decision);
            outcome.verdict = Some(verdict);
            return outcome;
        }
        let tab = self.tab(sender.tab_id);
        if verdict != Verdict::Ok && conversation != 0 && tab.conversation != 0 && conversation != tab.conversation {
            // The request was made in another conversation than the one on screen now: its
            // controls are not here. Say so; nothing to press.
            end_failure(tab);
            outcome.reply = Some(banner::stopped("bannerNavigated"));
            outcome.persist = true;
            outcome.decision = Some(Decision::Explain { suggestion: None });
            outcome.verdict = Some(verdict);
            return outcome;
        }
        let decision = self.decide(&verdict, &route, sender, random, &mut outcome);
        if let (Some(record), Some(recovered)) = (outcome.record.as_mut(), outcome.recovered.as_ref()) {
            record.after_retries = Some(RetrySummary { attempts: recovered.attempts, waited_ms: recovered.waited_ms });
        }
        if !sender.incognito {
            self.history.note(&verdict, sender.local_hour);
            outcome.history_changed = true;
        }
        let first_press = !self.state.pressed_before;
        let mut reply = banner::for_decision(&verdict, &route, &decision, first_press);
        if let Some(recovered) = &outcome.recovered {
            outcome.notice = self.settings.notify.then(|| banner::recovered_notice(recovered));
        }
        outcome.badge = Some(banner::badge(&verdict, &decision, outcome.recovered.is_some()));
        // A hidden tab told to wait holds its countdown from the start.
        if let (Some(paused), BgMessage::BgView { banner, timer_ms, .. }) = (self.paused_left(sender.tab_id), &mut reply) {
            banner::pause(banner, paused);
            *timer_ms = None;
        }
        outcome.reply = Some(reply);
        outcome.decision = Some(decision);
        outcome.verdict = Some(verdict);
        outcome
    }

    fn decide(&mut self, verdict: &Verdict, route: &str, sender: Sender, random: f64, outcome: &mut Outcome) -> Decision {
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
            tab.stood_down = false;
            return Decision::Explain { suggestion: None };
        }
        if tab.attempts == 0 || tab.first_failure_ms <= 0.0 {
            tab.first_failure_ms = now;
        }
        let context = FailureContext { attempts: tab.attempts, first_failure_ms: tab.first_failure_ms, now_ms: now, rate_limit_strikes: strikes };
        let mut decision = self.policy.decide(verdict, context, random);
        // Every automatic click, a dropped stream's included, needs the switch on, no pause, and
        // the user not to have stood Unbusy down.
        if self.tab_ref(sender.tab_id).is_some_and(|t| t.stood_down) {
            decision = without_clicks(decision, StopReason::UserStopped);
        }
        if !self.settings.auto_retry {
            decision = without_clicks(decision, StopReason::AutoRetryOff);
        }
        if now < self.state.paused_until_ms {
            decision = without_clicks(decision, StopReason::Paused);
        }
        let pause_hidden = self.settings.hidden_tabs == HiddenTabs::Pause;
        let tab = self.tab(sender.tab_id);
        tab.pending = None;
        let due = match &decision {
            Decision::Retry { delay_ms, attempt, .. } => Some((*delay_ms as f64, *attempt)),
            Decision::AwaitResume { grace_ms } => Some((*grace_ms as f64, tab.attempts + 1)),
            Decision::Stop { .. } | Decision::Explain { .. } => None,
        };
        if let Some((delay_ms, attempt)) = due {
            let paused_left_ms = (pause_hidden && tab.hidden).then_some(delay_ms);
            let conversation = tab.conversation;
            tab.pending = Some(Pending { due_ms: now + delay_ms, attempt, verdict: verdict.clone(), route: route.to_string(), conversation, paused_left_ms });
            outcome.alarm_at_ms = Some(now + delay_ms + BACKSTOP_SLACK_MS);
            if throttled {
                // "Too fast" is about the account: every tab of this browser holds off.
                self.state.budget.cool_down(now + delay_ms);
            }
        }
        decision
    }

    /// Why a press for `pending` at `at_ms` is not allowed any more (every automatic press passes
    /// the switch, the cap and the deadline at the moment it happens, not only when scheduled).
    fn press_refused(&self, tab_id: i32, pending: &Pending, at_ms: f64) -> Option<StopReason> {
        if !self.settings.auto_retry {
            return Some(StopReason::AutoRetryOff);
        }
        if at_ms < self.state.paused_until_ms {
            return Some(StopReason::Paused);
        }
        let tab = self.tab_ref(tab_id)?;
        let cap = if pending.verdict == Verdict::Dropped { self.policy.dropped_max_attempts.min(self.policy.max_attempts) } else { self.policy.max_attempts };
        let context = FailureContext { attempts: tab.attempts, first_failure_ms: tab.first_failure_ms, now_ms: at_ms, rate_limit_strikes: 0 };
        self.policy.limit_reached(context, cap, 0)
    }

    /// The stop a press at `at_ms` would meet (the settings changed, or waiting that long would
    /// pass the deadline), with the failure ended; `None` if the press may happen then.
    fn stop_if_refused(&mut self, tab_id: i32, pending: &Pending, at_ms: f64) -> Option<Outcome> {
        let reason = self.press_refused(tab_id, pending, at_ms)?;
        end_failure(self.tab(tab_id));
        Some(Outcome::view(banner::stopped(banner::stop_key(reason))))
    }

    fn paused_left(&self, tab_id: i32) -> Option<f64> {
        self.tab_ref(tab_id)?.pending.as_ref()?.paused_left_ms
    }

    /// The relay's timer ran out: press, wait longer, or give up on an unconfirmed press.
    fn timer_due(&mut self, sender: Sender) -> Outcome {
        let now = sender.now_ms;
        let window = self.policy.confirm_window_ms as f64;
        let other_streaming = self.watcher.streaming_tabs().any(|t| t != sender.tab_id);
        let tab = self.tab(sender.tab_id);
        if let Some(fired) = tab.fired_at_ms {
            if now + DUE_TOLERANCE_MS < fired + window {
                return Outcome::view(banner::retrying(tab.fired_control, Some((fired + window - now).ceil() as u64)));
            }
            end_failure(tab);
            return Outcome::view(banner::stopped("bannerUnconfirmed"));
        }
        let Some(pending) = tab.pending.clone() else { return Outcome::default() };
        if pending.paused_left_ms.is_some() {
            return Outcome::default();
        }
        if pending.conversation != tab.conversation {
            end_failure(tab);
            return Outcome::view(banner::stopped("bannerNavigated"));
        }
        let mut until = now;
        if pending.due_ms > now + DUE_TOLERANCE_MS {
            until = pending.due_ms;
        }
        if pending.verdict == Verdict::ParallelLimit && other_streaming {
            until = until.max(now + PARALLEL_RECHECK_MS);
        }
        if let Some(stop) = self.stop_if_refused(sender.tab_id, &pending, until) {
            return stop;
        }
        if until <= now {
            match self.state.budget.ask(&self.budget_config, now) {
                Grant::Go => return self.press(sender, &pending),
                Grant::Wait { until_ms } => until = until_ms,
            }
            if let Some(stop) = self.stop_if_refused(sender.tab_id, &pending, until) {
                return stop;
            }
        }
        let tab = self.tab(sender.tab_id);
        if let Some(p) = tab.pending.as_mut() {
            p.due_ms = until;
        }
        let first_press = !self.state.pressed_before;
        let mut outcome = Outcome::view(banner::waiting(&pending, &self.policy, until - now, first_press));
        outcome.alarm_at_ms = Some(until + BACKSTOP_SLACK_MS);
        outcome
    }

    /// "Retry now": the user's own request, once, for the failure under way; the budget still
    /// counts it when it leaves.
    fn retry_now(&mut self, sender: Sender) -> Outcome {
        let tab = self.tab(sender.tab_id);
        match tab.pending.clone() {
            // The banner's button is in the page's reach (a page can move it under the user's
            // pointer): its press passes the switch, the pause, the cap and the deadline too.
            Some(pending) if pending.conversation == tab.conversation => {
                self.stop_if_refused(sender.tab_id, &pending, sender.now_ms).unwrap_or_else(|| self.press(sender, &pending))
            }
            Some(_) => {
                end_failure(tab);
                Outcome::view(banner::stopped("bannerNavigated"))
            }
            None => Outcome::default(),
        }
    }

    fn press(&mut self, sender: Sender, pending: &Pending) -> Outcome {
        let now = sender.now_ms;
        let window = self.policy.confirm_window_ms;
        self.state.pressed_before = true;
        let tab = self.tab(sender.tab_id);
        tab.attempts += 1;
        tab.pending = None;
        tab.fired_at_ms = Some(now);
        tab.fired_control = Control::for_verdict(&pending.verdict);
        let mut outcome = Outcome::view(banner::press(tab.fired_control, window));
        outcome.alarm_at_ms = Some(now + window as f64 + BACKSTOP_SLACK_MS);
        outcome
    }

    fn stand_down(&mut self, sender: Sender, reason: StandDown) -> Outcome {
        let tab = self.tab(sender.tab_id);
        if tab.pending.is_none() && tab.fired_at_ms.is_none() {
            return Outcome::default();
        }
        // Pressing already: the request it sends is still Unbusy's (so the user's own next one is
        // told apart), but the answer it brings back is not retried again.
        tab.stood_down = tab.fired_at_ms.is_some();
        tab.pending = None;
        if !tab.stood_down {
            end_failure(tab);
        }
        Outcome::view(banner::stopped(match reason {
            StandDown::Stop => "bannerStopped",
            StandDown::Typed => "bannerStoodDown",
        }))
    }

    fn press_failed(&mut self, sender: Sender, why: PressFailure) -> Outcome {
        let tab = self.tab(sender.tab_id);
        if tab.fired_at_ms.is_none() {
            return Outcome::default();
        }
        // Nothing was pressed: Unbusy is done with this failure.
        end_failure(tab);
        if why == PressFailure::NoControl {
            self.state.missing_control += 1;
        }
        Outcome::view(banner::stopped(match why {
            PressFailure::NoControl => "bannerNoControl",
            PressFailure::NotRendered => "bannerNotRendered",
        }))
    }

    /// Where the page is now. Another conversation ends any countdown or press under way (the
    /// control on screen belongs to another answer); a hidden tab pauses if the settings say so.
    fn page_state(&mut self, sender: Sender, conversation: &str, hidden: bool) -> Outcome {
        let now = sender.now_ms;
        let conversation = conversation_hash(conversation);
        let pause_hidden = self.settings.hidden_tabs == HiddenTabs::Pause;
        let first_press = !self.state.pressed_before;
        let policy = self.policy.clone();
        let tab = self.tab(sender.tab_id);
        let moved = tab.conversation != 0 && tab.conversation != conversation;
        tab.conversation = conversation;
        tab.hidden = hidden;
        if moved {
            tab.stood_down = false;
        }
        if moved && (tab.pending.is_some() || tab.fired_at_ms.is_some()) {
            end_failure(tab);
            return Outcome::view(banner::stopped("bannerNavigated"));
        }
        let Some(pending) = tab.pending.as_mut() else { return Outcome::ack() };
        if pending.conversation == 0 {
            // Failed before the page said where it was: it was here.
            pending.conversation = conversation;
        }
        match (pause_hidden && hidden, pending.paused_left_ms) {
            (true, None) => {
                let left = (pending.due_ms - now).max(0.0);
                pending.paused_left_ms = Some(left);
                let mut view = banner::waiting(pending, &policy, left, first_press);
                if let BgMessage::BgView { banner, timer_ms, .. } = &mut view {
                    banner::pause(banner, left);
                    *timer_ms = None;
                }
                Outcome::view(view)
            }
            (false, Some(left)) => {
                pending.paused_left_ms = None;
                pending.due_ms = now + left;
                let mut outcome = Outcome::view(banner::waiting(pending, &policy, left, first_press));
                outcome.alarm_at_ms = Some(now + left + BACKSTOP_SLACK_MS);
                outcome
            }
            _ => Outcome::ack(),
        }
    }

    /// The silence alarm fired: the streams silent past their limit (for each, the tab and what to
    /// send it unasked, with the usual record and persistence), and when to check next, if ever.
    pub fn stalled(&mut self, now_ms: f64) -> (Vec<(i32, Outcome)>, Option<f64>) {
        self.silence_alarm_ms = None;
        let found = self.watcher.stalled(now_ms);
        let outcomes = found
            .into_iter()
            .map(|(sender, watched)| {
                let mut outcome = self.after_watch(watched, sender, 0.5);
                self.add_time_note(sender.tab_id, &mut outcome);
                (sender.tab_id, outcome)
            })
            .collect();
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

    /// The backstop alarm fired: for each tab whose timer is overdue (a throttled hidden tab's
    /// timer may never fire), what its timer would have brought; the background sends it unasked.
    pub fn overdue(&mut self, now_ms: f64) -> Vec<(i32, Outcome)> {
        let overdue: Vec<i32> = self.state.tabs.iter().filter(|t| self.backstop_at(t).is_some_and(|at| at <= now_ms)).map(|t| t.tab_id).collect();
        let mut found: Vec<(i32, Outcome)> =
            overdue.into_iter().map(|tab_id| (tab_id, self.timer_due(Sender { tab_id, now_ms, ..Sender::default() }))).collect();
        // Re-armed for the tabs still waiting (the background sets what the last outcome says).
        let next = self.next_backstop();
        for (tab_id, outcome) in &mut found {
            outcome.alarm_at_ms = next;
            self.add_time_note(*tab_id, outcome);
        }
        found
    }
}

/// `decision` without its automatic click: a stop for `reason` instead.
fn without_clicks(decision: Decision, reason: StopReason) -> Decision {
    match decision {
        Decision::Retry { suggestion, .. } => Decision::Stop { reason, suggestion },
        Decision::AwaitResume { .. } => Decision::Stop { reason, suggestion: None },
        other => other,
    }
}

/// Unbusy is done with the tab's failure (the user acted, the page moved, a press failed or was
/// not confirmed): no countdown, no press under way, and the next failure starts afresh.
fn end_failure(tab: &mut TabRetry) {
    tab.pending = None;
    tab.fired_at_ms = None;
    tab.attempts = 0;
    tab.first_failure_ms = 0.0;
}

/// The longest pause the popup can ask for (and the longest a restored state keeps).
pub const MAX_PAUSE_MINUTES: u32 = 24 * 60;
pub const MAX_PAUSE_MS: f64 = MAX_PAUSE_MINUTES as f64 * 60_000.0;

/// A stable name for the page's conversation: its path, hashed (FNV-1a), so the state never holds
/// it; 53 bits, so JavaScript stores it as a number exactly. The new-chat page (`/`) is 0, unknown:
/// the app gives a new chat its address (`/a/chat/s/…`) only once its first message is sent, so
/// that move is not another conversation (the relay's "still the last message" check still holds).
fn conversation_hash(path: &str) -> u64 {
    if path.is_empty() || path == "/" {
        return 0;
    }
    let path: String = path.chars().take(MAX_CONVERSATION_CHARS).collect();
    let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    (hash & ((1 << 53) - 1)).max(1)
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
    use crate::json::{from_serde, Json};
    use crate::protocol::{EndKind, PressControl, SelectedHeaders, Transport};

    fn at(tab_id: i32, now_ms: f64) -> Sender {
        Sender { tab_id, frame_id: 0, incognito: false, now_ms, local_hour: 12 }
    }

    fn open(hub: &mut Hub, tab: i32, id: u32, route: &str, now: f64) -> Outcome {
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        hub.handle(CsMessage::CsStreamOpen { stream: id, route: route.into(), transport: Transport::Xhr, status: 200, headers }, at(tab, now), 0.5)
    }

    fn bytes(hub: &mut Hub, tab: i32, id: u32, body: &str, now: f64) -> Outcome {
        hub.handle(CsMessage::CsStreamBytes { stream: id, bytes: body.into() }, at(tab, now), 0.5)
    }

    fn end(hub: &mut Hub, tab: i32, id: u32, now: f64) -> Outcome {
        hub.handle(CsMessage::CsStreamEnd { stream: id, end: EndKind::Complete }, at(tab, now), 0.5)
    }

    /// A failure (or answer) in `tab`: the request opens and its body says `body`.
    fn answer(hub: &mut Hub, tab: i32, id: u32, route: &str, body: &str, now: f64) -> Outcome {
        open(hub, tab, id, route, now);
        bytes(hub, tab, id, body, now)
    }

    fn due(hub: &mut Hub, tab: i32, now: f64) -> Outcome {
        hub.handle(CsMessage::CsTimerDue, at(tab, now), 0.5)
    }

    fn page(hub: &mut Hub, tab: i32, path: &str, hidden: bool, now: f64) -> Outcome {
        hub.handle(CsMessage::CsPageState { conversation: path.into(), hidden }, at(tab, now), 0.5)
    }

    fn pressed(outcome: &Outcome) -> Option<PressControl> {
        match &outcome.reply {
            Some(BgMessage::BgView { press, .. }) => *press,
            _ => None,
        }
    }

    fn timer(outcome: &Outcome) -> Option<u64> {
        match &outcome.reply {
            Some(BgMessage::BgView { timer_ms, .. }) => *timer_ms,
            _ => None,
        }
    }

    /// The banner's state and detail key.
    fn shown(outcome: &Outcome) -> Option<(String, Option<String>)> {
        match &outcome.reply {
            Some(BgMessage::BgView { banner, .. }) => Some((banner.state.clone(), banner.detail.as_ref().map(|d| d.key.clone()))),
            _ => None,
        }
    }

    fn stopped(why: &str) -> Option<(String, Option<String>)> {
        Some(("stopped".into(), Some(why.into())))
    }

    const COMPLETION: &str = "/api/v0/chat/completion";
    const REGENERATE: &str = "/api/v0/chat/regenerate";
    const BUSY: &str = "event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"server_busy\"}\n\n";
    const RATE: &str = "event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"rate_limit_reached\"}\n\n";
    const OK: &str = "event: finish\ndata: {}\n\n";
    const DROPPED: &str = "data: {\"v\":\"Hel\",\"p\":\"response/fragments/0/content\",\"o\":\"APPEND\"}\n\n";

    #[test]
    fn busy_then_retry_then_recovered() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let busy = answer(&mut hub, 1, 1, COMPLETION, BUSY, 1_000.0);
        assert_eq!(busy.decision, Some(Decision::Retry { delay_ms: 5_000, attempt: 1, max_attempts: 9, suggestion: None, control: Control::Retry }));
        assert_eq!((timer(&busy), shown(&busy).map(|s| s.0)), (Some(5_000), Some("waiting".into())));
        assert!(matches!(busy.reply, Some(BgMessage::BgView { mark_message: true, .. })), "the failed message is marked");
        assert_eq!(busy.badge.as_ref().map(|b| b.text.as_str()), Some("…"));
        assert_eq!(end(&mut hub, 1, 1, 1_000.0).reply, None, "the verdict came with the bytes; the end adds nothing");
        let early = due(&mut hub, 1, 3_000.0);
        assert_eq!((timer(&early), pressed(&early)), (Some(3_000), None), "asked too early: wait the rest");
        let go = due(&mut hub, 1, 6_000.0);
        assert_eq!((pressed(&go), timer(&go)), (Some(PressControl::Retry), Some(10_000)), "press, then confirm within the window");
        let confirmed = open(&mut hub, 1, 2, REGENERATE, 6_100.0);
        assert_eq!((shown(&confirmed).map(|s| s.0), timer(&confirmed)), (Some("retrying".into()), None));
        let ok = bytes(&mut hub, 1, 2, OK, 6_200.0);
        assert_eq!(ok.recovered, Some(Recovered { tab_id: 1, attempts: 1, waited_ms: 5_200.0 }));
        assert_eq!(ok.record.and_then(|r| r.after_retries), Some(RetrySummary { attempts: 1, waited_ms: 5_200.0 }));
        assert_eq!(ok.badge.map(|b| b.text), Some("✓".into()));
        assert_eq!(ok.notice, None, "notifications are off by default");
        assert_eq!(due(&mut hub, 1, 7_000.0).reply, None, "nothing pending");
    }

    #[test]
    fn a_recovery_is_notified_when_the_user_asked_for_it() {
        let mut hub = Hub::new(None, Settings { notify: true, ..Settings::default() }, None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        due(&mut hub, 1, 6_000.0);
        let ok = answer(&mut hub, 1, 2, REGENERATE, OK, 6_500.0);
        assert_eq!(ok.notice.map(|n| (n.message.key, n.message.args)), Some(("notifyRecovered".into(), vec!["1".into(), "7".into()])));
    }

    #[test]
    fn rate_limit_holds_every_tab_and_state_survives_a_restart() {
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, RATE, 0.0);
        answer(&mut hub, 2, 1, COMPLETION, BUSY, 1_000.0);
        // The background is stopped and started again from its persisted state.
        let saved = hub.state().to_json().to_text();
        let mut hub = Hub::new(Some(HubState::from_json(&Json::parse(&saved).unwrap()).unwrap()), Settings::default(), None);
        let held = due(&mut hub, 2, 10_000.0);
        assert_eq!((pressed(&held), timer(&held)), (None, Some(56_000)), "tab 2 waits out tab 1's cool-down (60 s, jitter only lengthens)");
        assert_eq!(pressed(&due(&mut hub, 1, 66_000.0)), Some(PressControl::Retry));
    }

    #[test]
    fn auto_retry_off_and_non_retryable_never_schedule() {
        let mut hub = Hub::new(None, Settings { auto_retry: false, ..Settings::default() }, None);
        let out = answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        assert!(matches!(out.decision, Some(Decision::Stop { reason: StopReason::AutoRetryOff, .. })));
        assert_eq!((timer(&out), shown(&out)), (None, stopped("bannerAutoRetryOff")));
        assert_eq!(due(&mut hub, 1, 60_000.0).reply, None);
        assert_eq!(hub.handle(CsMessage::CsRetryNow, at(1, 60_000.0), 0.5).reply, None);
        assert!(hub.overdue(600_000.0).is_empty());
    }

    #[test]
    fn settings_are_validated_before_they_apply() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let bad = hub.handle_ui(UiMessage::UiSaveSettings { settings: from_serde(serde_json::json!({"max_attempts": 60})) }, 0.0);
        assert!(matches!(bad, BgUiMessage::BgSettings { saved: false, ref problems, .. } if problems[0].field == "max_attempts"));
        let junk = hub.handle_ui(UiMessage::UiSaveSettings { settings: from_serde(serde_json::json!({"max_attempts": "lots"})) }, 0.0);
        assert!(matches!(junk, BgUiMessage::BgSettings { saved: false, ref problems, .. } if problems[0].field == "max_attempts"));
        assert_eq!(hub.settings(), &Settings::default());
        let good = hub.handle_ui(UiMessage::UiSaveSettings { settings: from_serde(serde_json::json!({"max_attempts": 3, "auto_retry": false})) }, 0.0);
        assert!(matches!(good, BgUiMessage::BgSettings { saved: true, .. }));
        assert_eq!(hub.settings().max_attempts, 3);
    }

    #[test]
    fn a_silent_stream_is_declared_dead_after_the_servers_heartbeat_limit() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), heartbeat_timeout_secs: Some("60".into()), ..Default::default() };
        let opened =
            hub.handle(CsMessage::CsStreamOpen { stream: 1, route: COMPLETION.into(), transport: Transport::Xhr, status: 200, headers }, at(1, 0.0), 0.5);
        assert_eq!(opened.silence_check_at_ms, Some(75_000.0), "60 s from the header plus 15 s slack");
        let beat = bytes(&mut hub, 1, 1, ": \n\n", 50_000.0);
        assert_eq!(beat.silence_check_at_ms, None, "the alarm already set comes first: no new one");
        // The alarm fires at 75 s: the heartbeat kept the stream alive, so it is re-armed for 125 s.
        let (dead, next) = hub.stalled(75_000.0);
        assert!(dead.is_empty());
        assert_eq!(next, Some(125_000.0), "a heartbeat keeps it alive");
        let (dead, next) = hub.stalled(125_000.0);
        assert_eq!(dead.len(), 1);
        assert!(matches!(dead[0].1.decision, Some(Decision::Explain { .. })), "never clicked: the page still waits on it");
        assert_eq!((pressed(&dead[0].1), timer(&dead[0].1)), (None, None));
        assert_eq!(dead[0].1.record.as_ref().map(|r| r.label.as_str()), Some("stalled"));
        assert_eq!(next, None, "nothing left to watch");
        assert!(hub.stalled(500_000.0).0.is_empty(), "reported once");
    }

    #[test]
    fn a_pause_stops_every_automatic_click_until_it_ends_or_the_user_resumes() {
        let mut hub = Hub::new(None, Settings::default(), None);
        // A countdown that began before the pause never presses.
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 1_000.0);
        answer(&mut hub, 4, 4, COMPLETION, BUSY, 1_500.0);
        let paused = hub.handle_ui(UiMessage::UiPause { minutes: 60 }, 2_000.0);
        let until = 2_000.0 + 3_600_000.0;
        let BgUiMessage::BgPause { until_ms, badge, tabs } = paused else { panic!("{paused:?}") };
        assert_eq!((until_ms, badge), (until, banner::pause_badge(true)));
        // The tabs counting down are told at once, not when their press was due.
        assert_eq!(tabs.iter().map(|t| t.tab_id).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(shown(&Outcome::view(tabs[0].view.clone())), stopped("bannerPaused"));
        assert_eq!(pressed(&due(&mut hub, 1, 7_000.0)), None);
        // A new failure while paused: no countdown, the banner says until when.
        let busy = answer(&mut hub, 2, 2, COMPLETION, BUSY, 8_000.0);
        assert!(matches!(busy.decision, Some(Decision::Stop { reason: StopReason::Paused, .. })), "{busy:?}");
        assert_eq!(timer(&busy), None);
        match &busy.reply {
            Some(BgMessage::BgView { banner, .. }) => {
                assert_eq!(banner.time_note.as_ref().map(|t| (t.key.as_str(), t.at_ms)), Some(("bannerPausedUntil", until)))
            }
            other => panic!("{other:?}"),
        }
        // The tab's own badge says something failed; every other tab shows the pause's (global) badge.
        assert_eq!(busy.badge.as_ref().map(|b| b.text.as_str()), Some("!"));
        assert_eq!(pressed(&hub.handle(CsMessage::CsRetryNow, at(4, 8_500.0), 0.5)), None, "no countdown left to press");
        // Resumed: the next failure is retried again.
        hub.handle_ui(UiMessage::UiResume, 9_000.0);
        assert!(matches!(answer(&mut hub, 3, 3, COMPLETION, BUSY, 10_000.0).decision, Some(Decision::Retry { .. })));
        // A pause ends on its own; asking for a week gives a day at most.
        hub.handle_ui(UiMessage::UiPause { minutes: 7 * 24 * 60 }, 20_000.0);
        assert_eq!(hub.state().paused_until_ms, 20_000.0 + 24.0 * 3_600_000.0, "a day");
        assert_eq!(hub.pause_reply(20_000.0 + 25.0 * 3_600_000.0), BgUiMessage::BgPause { until_ms: 0.0, badge: banner::pause_badge(false), tabs: vec![] });
    }

    #[test]
    fn a_waiting_banner_says_until_when_it_keeps_trying_and_a_stopped_one_does_not() {
        let until = |outcome: &Outcome| match &outcome.reply {
            Some(BgMessage::BgView { banner, .. }) => banner.time_note.as_ref().map(|t| t.at_ms),
            _ => None,
        };
        let mut hub = Hub::new(None, Settings::default(), None);
        let deadline = 1_000.0 + hub.policy.deadline_ms as f64;
        assert_eq!(until(&answer(&mut hub, 1, 1, COMPLETION, BUSY, 1_000.0)), Some(deadline));
        let pressed_view = due(&mut hub, 1, 7_000.0);
        assert!(pressed(&pressed_view).is_some());
        assert_eq!(until(&pressed_view), None, "pressing: nothing to wait for");
        // The next failure of the same message keeps the first one's deadline.
        assert_eq!(until(&answer(&mut hub, 1, 2, REGENERATE, BUSY, 8_000.0)), Some(deadline));
        let stop = hub.handle(CsMessage::CsStandDown { reason: crate::protocol::StandDown::Stop }, at(1, 9_000.0), 0.5);
        assert_eq!(until(&stop), None);
    }

    #[test]
    fn a_dropped_stream_obeys_the_switch_the_cap_and_the_deadline_and_is_regenerated_once_at_most() {
        let mut off = Hub::new(None, Settings { auto_retry: false, ..Settings::default() }, None);
        answer(&mut off, 1, 1, COMPLETION, DROPPED, 0.0);
        let ended = end(&mut off, 1, 1, 0.0);
        assert!(matches!(ended.decision, Some(Decision::Stop { reason: StopReason::AutoRetryOff, .. })), "{ended:?}");
        assert_eq!(pressed(&due(&mut off, 1, 20_000.0)), None);
        assert!(off.overdue(100_000.0).is_empty());

        let mut on = Hub::new(None, Settings::default(), None);
        answer(&mut on, 1, 1, COMPLETION, DROPPED, 0.0);
        let first = end(&mut on, 1, 1, 0.0);
        assert!(matches!(first.decision, Some(Decision::AwaitResume { .. })));
        assert_eq!(pressed(&due(&mut on, 1, 16_000.0)), Some(PressControl::Retry));
        // The regenerated answer ends without its marker again (say the site changed it): no second click.
        answer(&mut on, 1, 2, REGENERATE, DROPPED, 16_500.0);
        let second = end(&mut on, 1, 2, 17_000.0);
        assert!(matches!(second.decision, Some(Decision::Stop { reason: StopReason::AttemptCap, .. })), "{second:?}");
        assert_eq!(pressed(&due(&mut on, 1, 40_000.0)), None);

        // Past the deadline: a busy message retried once, then dropped near the end of its time.
        let mut late = Hub::new(None, Settings::default(), None);
        answer(&mut late, 1, 1, COMPLETION, BUSY, 0.0);
        due(&mut late, 1, 6_000.0);
        answer(&mut late, 1, 2, REGENERATE, DROPPED, 6_100.0);
        let dropped_late = end(&mut late, 1, 2, 890_000.0);
        assert!(matches!(dropped_late.decision, Some(Decision::Stop { .. })), "{dropped_late:?}");
        assert_eq!(pressed(&due(&mut late, 1, 910_000.0)), None);
    }

    #[test]
    fn a_json_routes_error_never_leads_to_a_click_nor_replaces_a_countdown() {
        let json = |status| CsMessage::CsJsonResponse {
            route: "/api/v0/chat/create_pow_challenge".into(),
            transport: Transport::Xhr,
            status,
            headers: SelectedHeaders::default(),
            envelope: crate::protocol::Envelope::default(),
            elapsed_ms: None,
        };
        let mut hub = Hub::new(None, Settings::default(), None);
        let out = hub.handle(json(503), at(1, 0.0), 0.5);
        assert!(matches!(out.decision, Some(Decision::Explain { .. })), "{out:?}");
        assert_eq!((timer(&out), shown(&out).map(|s| s.0)), (None, Some("explained".into())));
        assert_eq!(due(&mut hub, 1, 60_000.0).reply, None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 70_000.0);
        assert_eq!(hub.handle(json(503), at(1, 71_000.0), 0.5).reply, None, "the countdown stays on screen");
        assert_eq!(pressed(&due(&mut hub, 1, 76_000.0)), Some(PressControl::Retry));
    }

    #[test]
    fn a_cut_answer_waits_for_the_pages_auto_resume_then_presses_continue() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let cut = "data: {\"p\":\"response/status\",\"o\":\"SET\",\"v\":\"INCOMPLETE\"}\n\n";
        let out = answer(&mut hub, 1, 1, COMPLETION, cut, 0.0);
        assert!(matches!(out.decision, Some(Decision::Retry { delay_ms: 5_000, control: Control::Continue, .. })), "{out:?}");
        assert_eq!(pressed(&due(&mut hub, 1, 5_000.0)), Some(PressControl::Continue));
    }

    #[test]
    fn the_banners_ask_through_the_api_opens_one_panel_at_most_every_few_seconds_and_only_from_the_top_frame() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let asked = |hub: &mut Hub, sender: Sender| hub.handle(CsMessage::CsAskApi, sender, 0.5).open_panel;
        assert!(asked(&mut hub, at(1, 10_000.0)));
        assert!(!asked(&mut hub, at(2, 11_000.0)), "a flood of clicks (a page may lay the button under every click)");
        assert!(asked(&mut hub, at(2, 12_000.0)));
        assert!(!asked(&mut hub, Sender { frame_id: 3, ..at(1, 30_000.0) }), "a frame shows no banner");
        assert_eq!(
            crate::effects::on_ui(&mut hub, UiMessage::UiAskApi { tab_id: 4 }, 15_100.0).1,
            [crate::effects::Effect::OpenPanel { tab_id: 4 }],
            "the popup's: no page can press it"
        );
    }

    #[test]
    fn a_reload_ends_the_countdown() {
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        let reloaded = hub.handle(CsMessage::CsPageLoaded { late: false }, at(1, 2_000.0), 0.5);
        assert_eq!((shown(&reloaded), timer(&reloaded)), (stopped("bannerReloaded"), None));
        assert_eq!(due(&mut hub, 1, 9_000.0).reply, None);
        assert_eq!(hub.handle(CsMessage::CsPageLoaded { late: false }, at(1, 3_000.0), 0.5).reply, Some(BgMessage::BgAck), "nothing to say the next time");
        assert!(hub.overdue(100_000.0).is_empty());
    }

    #[test]
    fn the_user_sending_a_message_ends_the_countdown() {
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        let sent = open(&mut hub, 1, 2, COMPLETION, 2_000.0);
        assert_eq!((shown(&sent).map(|s| s.0), timer(&sent)), (Some("idle".into()), None), "the banner goes, the timer stops");
        bytes(&mut hub, 1, 2, OK, 2_500.0);
        assert_eq!(due(&mut hub, 1, 9_000.0).reply, None);
    }

    #[test]
    fn another_conversation_ends_the_countdown_and_the_banner_says_why() {
        let mut hub = Hub::new(None, Settings::default(), None);
        page(&mut hub, 1, "/a/chat/s/one", false, 0.0);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 100.0);
        let moved = page(&mut hub, 1, "/a/chat/s/two", false, 2_000.0);
        assert_eq!((shown(&moved), timer(&moved)), (stopped("bannerNavigated"), None));
        assert_eq!(due(&mut hub, 1, 9_000.0).reply, None);
        assert_eq!(hub.handle(CsMessage::CsRetryNow, at(1, 9_000.0), 0.5).reply, None);
        // The first page state after a load names the conversation; it is no navigation.
        let mut fresh = Hub::new(None, Settings::default(), None);
        answer(&mut fresh, 1, 1, COMPLETION, BUSY, 0.0);
        assert_eq!(page(&mut fresh, 1, "/a/chat/s/one", false, 100.0).reply, Some(BgMessage::BgAck));
        assert_eq!(pressed(&due(&mut fresh, 1, 6_000.0)), Some(PressControl::Retry));
        // The state keeps a hash, never the path, and JavaScript can hold it exactly.
        assert!(!fresh.state().to_json().to_text().contains("chat/s"));
        assert!(fresh.state().tabs.iter().all(|t| t.conversation < 1 << 53));
    }

    #[test]
    fn a_new_chat_getting_its_address_is_the_same_conversation_and_leaving_it_is_not() {
        let mut hub = Hub::new(None, Settings::default(), None);
        page(&mut hub, 1, "/", false, 0.0);
        open(&mut hub, 1, 1, COMPLETION, 100.0);
        assert_eq!(page(&mut hub, 1, "/a/chat/s/new", false, 200.0).reply, Some(BgMessage::BgAck));
        bytes(&mut hub, 1, 1, BUSY, 300.0);
        assert_eq!(pressed(&due(&mut hub, 1, 6_000.0)), Some(PressControl::Retry));
        // From a conversation to the new-chat page is leaving it.
        let mut hub = Hub::new(None, Settings::default(), None);
        page(&mut hub, 1, "/a/chat/s/one", false, 0.0);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 100.0);
        assert_eq!(shown(&page(&mut hub, 1, "/", false, 1_000.0)), stopped("bannerNavigated"));
    }

    #[test]
    fn a_hidden_tab_pauses_its_countdown_when_the_settings_say_so() {
        let mut hub = Hub::new(None, Settings { hidden_tabs: HiddenTabs::Pause, ..Settings::default() }, None);
        page(&mut hub, 1, "/", false, 0.0);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        let hidden = page(&mut hub, 1, "/", true, 2_000.0);
        assert_eq!((shown(&hidden).map(|s| s.0), timer(&hidden)), (Some("paused".into()), None));
        assert_eq!(due(&mut hub, 1, 6_000.0).reply, None, "no press while hidden");
        assert!(hub.overdue(60_000.0).is_empty(), "the backstop leaves a paused tab alone");
        let shown_again = page(&mut hub, 1, "/", false, 60_000.0);
        assert_eq!(timer(&shown_again), Some(3_000), "the rest of the countdown");
        assert_eq!(pressed(&due(&mut hub, 1, 63_000.0)), Some(PressControl::Retry));
        // Hidden from the start: the countdown waits from the start.
        let mut background = Hub::new(None, Settings { hidden_tabs: HiddenTabs::Pause, ..Settings::default() }, None);
        page(&mut background, 1, "/", true, 0.0);
        let out = answer(&mut background, 1, 1, COMPLETION, BUSY, 0.0);
        assert_eq!((shown(&out).map(|s| s.0), timer(&out)), (Some("paused".into()), None));
        // Hidden tabs keep going by default.
        let mut default = Hub::new(None, Settings::default(), None);
        page(&mut default, 1, "/", true, 0.0);
        assert_eq!(timer(&answer(&mut default, 1, 1, COMPLETION, BUSY, 0.0)), Some(5_000));
    }

    #[test]
    fn a_press_without_a_new_request_stops_after_the_confirm_window() {
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        assert_eq!(pressed(&due(&mut hub, 1, 6_000.0)), Some(PressControl::Retry));
        assert_eq!(timer(&due(&mut hub, 1, 8_000.0)), Some(8_000), "asked early: the window is not over");
        let gave_up = due(&mut hub, 1, 16_000.0);
        assert_eq!(shown(&gave_up), stopped("bannerUnconfirmed"));
        // A request after the window is the user's own.
        assert_eq!(shown(&open(&mut hub, 1, 2, REGENERATE, 17_000.0)).map(|s| s.0), Some("idle".into()));
    }

    #[test]
    fn a_control_that_is_missing_or_belongs_to_another_message_stops_without_an_attempt() {
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        due(&mut hub, 1, 6_000.0);
        let failed = hub.handle(CsMessage::CsPressFailed { why: PressFailure::NotRendered }, at(1, 6_010.0), 0.5);
        assert_eq!(shown(&failed), stopped("bannerNotRendered"));
        assert_eq!((hub.state().tabs[0].attempts, hub.state().missing_control), (0, 0));
        answer(&mut hub, 1, 2, COMPLETION, BUSY, 10_000.0);
        due(&mut hub, 1, 16_000.0);
        let missing = hub.handle(CsMessage::CsPressFailed { why: PressFailure::NoControl }, at(1, 16_010.0), 0.5);
        assert_eq!(shown(&missing), stopped("bannerNoControl"));
        assert_eq!(hub.state().missing_control, 1, "counted for the self-check");
        assert_eq!(hub.handle(CsMessage::CsPressFailed { why: PressFailure::NoControl }, at(1, 16_020.0), 0.5).reply, None, "only after a press");
    }

    #[test]
    fn only_the_tab_whose_request_failed_acts() {
        let mut hub = Hub::new(None, Settings::default(), None);
        page(&mut hub, 1, "/a/chat/s/same", false, 0.0);
        page(&mut hub, 2, "/a/chat/s/same", false, 0.0);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        assert_eq!(due(&mut hub, 2, 6_000.0).reply, None);
        assert_eq!(hub.handle(CsMessage::CsRetryNow, at(2, 6_000.0), 0.5).reply, None);
        assert_eq!(pressed(&due(&mut hub, 1, 6_000.0)), Some(PressControl::Retry));
    }

    #[test]
    fn the_user_stands_unbusy_down() {
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        assert_eq!(shown(&hub.handle(CsMessage::CsStandDown { reason: StandDown::Typed }, at(1, 1_000.0), 0.5)), stopped("bannerStoodDown"));
        assert_eq!(due(&mut hub, 1, 6_000.0).reply, None);
        answer(&mut hub, 1, 2, COMPLETION, BUSY, 10_000.0);
        assert_eq!(shown(&hub.handle(CsMessage::CsStandDown { reason: StandDown::Stop }, at(1, 11_000.0), 0.5)), stopped("bannerStopped"));
        answer(&mut hub, 1, 3, COMPLETION, BUSY, 20_000.0);
        assert_eq!(pressed(&hub.handle(CsMessage::CsRetryNow, at(1, 20_500.0), 0.5)), Some(PressControl::Retry), "Retry now does not wait");
    }

    #[test]
    fn every_press_passes_the_switch_and_the_deadline_when_it_happens() {
        // Auto-retry turned off during a countdown (options page, or another device through sync).
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        hub.set_settings(Settings { auto_retry: false, ..Settings::default() });
        let due_off = due(&mut hub, 1, 6_000.0);
        assert_eq!((pressed(&due_off), shown(&due_off)), (None, stopped("bannerAutoRetryOff")));
        assert!(hub.overdue(60_000.0).is_empty());
        // Waiting longer (another tab streams after a parallel limit) must not pass the deadline.
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 1_000.0);
        due(&mut hub, 1, 7_000.0);
        let parallel = "event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"parallel_chat_limit\"}\n\n";
        // The press's request opens at once; its answer says "parallel limit" only at 840 s.
        open(&mut hub, 1, 2, REGENERATE, 7_100.0);
        let limited = bytes(&mut hub, 1, 2, parallel, 840_000.0);
        assert!(matches!(limited.decision, Some(Decision::Retry { .. })), "{limited:?}");
        open(&mut hub, 2, 1, COMPLETION, 860_000.0);
        let mut now = 870_000.0;
        let mut last = due(&mut hub, 1, now);
        while timer(&last).is_some() && pressed(&last).is_none() && now < 1_000_000.0 {
            now += 5_000.0;
            last = due(&mut hub, 1, now);
        }
        assert_eq!((pressed(&last), shown(&last)), (None, stopped("bannerDeadline")), "at {now}");
        assert!(now <= 906_000.0, "stopped at the deadline, not after: {now}");
    }

    #[test]
    fn a_failure_of_a_request_made_in_another_conversation_is_not_pressed_here() {
        let mut hub = Hub::new(None, Settings::default(), None);
        page(&mut hub, 1, "/a/chat/s/one", false, 0.0);
        open(&mut hub, 1, 1, COMPLETION, 100.0);
        page(&mut hub, 1, "/a/chat/s/two", false, 1_000.0);
        let late = bytes(&mut hub, 1, 1, BUSY, 2_000.0);
        assert_eq!((shown(&late), timer(&late)), (stopped("bannerNavigated"), None));
        assert_eq!(due(&mut hub, 1, 10_000.0).reply, None);
    }

    #[test]
    fn after_the_user_stands_down_the_next_failure_starts_afresh() {
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        due(&mut hub, 1, 6_000.0);
        answer(&mut hub, 1, 2, REGENERATE, BUSY, 6_100.0);
        hub.handle(CsMessage::CsStandDown { reason: StandDown::Stop }, at(1, 7_000.0), 0.5);
        // Twenty minutes later the user regenerates by hand: a new failure, its own deadline.
        let again = answer(&mut hub, 1, 3, REGENERATE, BUSY, 1_207_000.0);
        assert!(matches!(again.decision, Some(Decision::Retry { attempt: 1, .. })), "{again:?}");
    }

    #[test]
    fn typing_while_a_press_is_confirmed_keeps_its_answer_from_being_retried() {
        let mut hub = Hub::new(None, Settings::default(), None);
        answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        assert_eq!(pressed(&due(&mut hub, 1, 6_000.0)), Some(PressControl::Retry));
        let typed = hub.handle(CsMessage::CsStandDown { reason: StandDown::Typed }, at(1, 6_050.0), 0.5);
        assert_eq!(shown(&typed), stopped("bannerStoodDown"));
        // The press's request still arrives (the page sent it), and comes back busy: not retried.
        open(&mut hub, 1, 2, REGENERATE, 6_100.0);
        let back = bytes(&mut hub, 1, 2, BUSY, 6_200.0);
        assert!(matches!(back.decision, Some(Decision::Stop { reason: StopReason::UserStopped, .. })), "{back:?}");
        // The user's own next message is handled again.
        let next = answer(&mut hub, 1, 3, COMPLETION, BUSY, 30_000.0);
        assert!(matches!(next.decision, Some(Decision::Retry { .. })), "{next:?}");
    }

    #[test]
    fn the_one_backstop_alarm_is_always_the_earliest_any_tab_needs() {
        let mut hub = Hub::new(None, Settings::default(), None);
        assert_eq!(answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0).alarm_at_ms, Some(10_000.0));
        assert_eq!(answer(&mut hub, 2, 1, COMPLETION, BUSY, 1_000.0).alarm_at_ms, Some(10_000.0), "tab 2's later alarm must not replace tab 1's");
    }

    #[test]
    fn the_backstop_acts_for_a_tab_whose_timer_never_fired() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let busy = answer(&mut hub, 1, 1, COMPLETION, BUSY, 0.0);
        assert_eq!(busy.alarm_at_ms, Some(10_000.0));
        assert!(hub.overdue(9_000.0).is_empty(), "not overdue yet");
        let found = hub.overdue(10_000.0);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0, pressed(&found[0].1)), (1, Some(PressControl::Retry)));
        // The press is never confirmed: the backstop ends it too.
        let found = hub.overdue(30_000.0);
        assert_eq!(shown(&found[0].1), stopped("bannerUnconfirmed"));
    }
}
