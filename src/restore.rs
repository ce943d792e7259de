//! The hub as it comes back from storage after the background was stopped: every stored value is
//! read field by field and range-checked against the clock, so a damaged or hostile stored state
//! can neither stop retries for good nor overflow a counter.

use crate::budget::BudgetConfig;
use crate::diagnose::conflicts;
use crate::diagnose::history::History;
use crate::hub::{Hub, HubState, LATENCY_SAMPLES};
use crate::json::Json;
use crate::lenient;
use crate::retry::Policy;
use crate::settings::Settings;

/// Tabs remembered across a restart (more than any window holds).
pub const MAX_RESTORED_TABS: usize = 512;
/// Counters restored above this start from it: far beyond any real count, far below overflow.
pub const MAX_RESTORED_COUNT: u32 = 1_000_000;

/// The hub from what storage held (any of it may be missing, from another version, or garbage).
pub fn hub_from_storage(state: &Json, settings: &Json, history: &Json, now_ms: f64) -> Hub {
    let settings = Settings::from_stored_value(settings);
    let mut state: HubState = lenient::field_by_field(state);
    state.sanitize(now_ms, longest_wait_ms(&Policy::with_settings(&settings)));
    let mut history: History = lenient::field_by_field(history);
    history.sanitize();
    Hub::new(Some(state), settings, Some(history))
}

/// The longest any decision of `policy` makes a tab or the whole browser wait.
pub fn longest_wait_ms(policy: &Policy) -> f64 {
    let envelope = policy.busy_envelope_ms.iter().copied().max().unwrap_or(0) as f64 * (1.0 + policy.jitter.max(0.0));
    [policy.max_cooldown_ms, policy.maintenance_wait_ms, policy.max_hint_ms, policy.parallel_wait_ms, policy.dropped_grace_ms, policy.deadline_ms]
        .iter()
        .map(|ms| *ms as f64)
        .fold(envelope, f64::max)
}

/// Keeps at most `MAX_RESTORED_TABS` entries, the first for each tab.
fn first_per_tab<T>(items: &mut Vec<T>, tab_of: impl Fn(&T) -> i32) {
    items.truncate(MAX_RESTORED_TABS);
    let mut seen = Vec::new();
    items.retain(|item| {
        let tab = tab_of(item);
        !seen.contains(&tab) && {
            seen.push(tab);
            true
        }
    });
}

impl HubState {
    /// Range-checks a restored state against the clock (`now_ms`) and the policy's longest wait.
    pub fn sanitize(&mut self, now_ms: f64, max_wait_ms: f64) {
        let now_ms = if now_ms.is_finite() { now_ms } else { 0.0 };
        let past = |t: f64| if t.is_finite() { t.min(now_ms) } else { 0.0 };
        self.budget.sanitize(&BudgetConfig::default(), now_ms, max_wait_ms);
        first_per_tab(&mut self.tabs, |t| t.tab_id);
        for tab in &mut self.tabs {
            tab.attempts = tab.attempts.min(MAX_RESTORED_COUNT);
            tab.first_failure_ms = past(tab.first_failure_ms);
            tab.fired_at_ms = tab.fired_at_ms.filter(|t| t.is_finite()).map(past);
            tab.pending = tab.pending.take().filter(|p| !p.due_ms.is_nan()).map(|mut p| {
                p.due_ms = p.due_ms.min(now_ms + max_wait_ms);
                p.attempt = p.attempt.min(MAX_RESTORED_COUNT);
                p
            });
        }
        self.rate_limit_strikes = self.rate_limit_strikes.min(MAX_RESTORED_COUNT);
        self.missing_control = self.missing_control.min(MAX_RESTORED_COUNT);
        first_per_tab(&mut self.page_hooks, |t| t.tab_id);
        for tab in &mut self.page_hooks {
            tab.hooks.markers.retain(|m| conflicts::known_marker(m).is_some());
            tab.hooks.markers.dedup();
        }
        // A crash screen "seen" in the future would lead the popup for ever.
        self.site_crash_at_ms = self.site_crash_at_ms.filter(|t| t.is_finite()).map(past);
        self.latency_ms.retain(|ms| ms.is_finite() && (0.0..600_000.0).contains(ms));
        let excess = self.latency_ms.len().saturating_sub(LATENCY_SAMPLES);
        self.latency_ms.drain(..excess);
        // A pause lasts a day at most: a stored one that is longer (or not a time) is over.
        if !(self.paused_until_ms.is_finite() && self.paused_until_ms <= now_ms + crate::hub::MAX_PAUSE_MS) {
            self.paused_until_ms = 0.0;
        }
    }
}
