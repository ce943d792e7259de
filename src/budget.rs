//! One retry budget for the whole browser profile, kept by the background and persisted (MV3
//! backgrounds are stopped at will). Every tab asks it before an automatic retry, so ten busy
//! tabs do not become ten times the load. Pure: time comes in as an argument.

use crate::json::{FromJson, ToJson};

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct BudgetConfig {
    /// Token bucket of automatic retries: capacity and refill per minute.
    pub capacity: f64,
    pub refill_per_minute: f64,
    /// The site's anti-abuse limit is about 6 generation requests a minute per account; automatic
    /// retries are granted only while all requests in the last minute, the user's own included,
    /// stay below `site_limit_per_minute - headroom`.
    pub site_limit_per_minute: usize,
    pub headroom: usize,
    /// Grants to different tabs are at least this far apart (staggered release on recovery).
    pub stagger_ms: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig { capacity: 4.0, refill_per_minute: 3.0, site_limit_per_minute: 6, headroom: 2, stagger_ms: 3_000.0 }
    }
}

const WINDOW_MS: f64 = 60_000.0;

#[derive(Debug, Clone, Copy, PartialEq, ToJson, FromJson)]
#[json(tag = "grant", rename_all = "snake_case")]
pub enum Grant {
    Go,
    /// Ask again at `until_ms`.
    Wait {
        until_ms: f64,
    },
}

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct Budget {
    pub tokens: f64,
    pub updated_ms: f64,
    pub cooldown_until_ms: f64,
    /// Times of generation requests in the last minute, automatic or not.
    pub recent_requests: Vec<f64>,
    pub last_grant_ms: Option<f64>,
}

impl Budget {
    pub fn new(config: &BudgetConfig, now_ms: f64) -> Budget {
        Budget { tokens: config.capacity, updated_ms: now_ms, cooldown_until_ms: 0.0, recent_requests: Vec::new(), last_grant_ms: None }
    }

    fn refill(&mut self, config: &BudgetConfig, now_ms: f64) {
        if now_ms > self.updated_ms {
            self.tokens = (self.tokens + (now_ms - self.updated_ms) / WINDOW_MS * config.refill_per_minute).min(config.capacity);
            self.updated_ms = now_ms;
        }
        self.recent_requests.retain(|t| now_ms - t < WINDOW_MS);
    }

    /// Any generation request of the account in this browser (the stream's head arrived).
    pub fn note_request(&mut self, config: &BudgetConfig, now_ms: f64) {
        self.refill(config, now_ms);
        self.recent_requests.push(now_ms);
        self.keep_newest_requests(config);
    }

    /// `ask` only needs the newest `site_limit_per_minute` times: a page opening streams in a loop
    /// must not grow this list.
    fn keep_newest_requests(&mut self, config: &BudgetConfig) {
        let keep = config.site_limit_per_minute.max(1);
        if self.recent_requests.len() > keep {
            sort_times(&mut self.recent_requests);
            let excess = self.recent_requests.len() - keep;
            self.recent_requests.drain(..excess);
        }
    }

    /// Range-checks a restored budget against the clock: no time in the future (a cool-down no
    /// later than `now_ms + max_wait_ms`, the policy's longest wait), nothing non-finite, tokens
    /// within the bucket, the request list as short as `note_request` keeps it.
    pub fn sanitize(&mut self, config: &BudgetConfig, now_ms: f64, max_wait_ms: f64) {
        let past = |t: f64| if t.is_finite() { t.min(now_ms) } else { now_ms };
        self.tokens = if self.tokens.is_finite() { crate::bounded(self.tokens, 0.0, config.capacity) } else { 0.0 };
        self.updated_ms = past(self.updated_ms);
        self.cooldown_until_ms = if self.cooldown_until_ms.is_nan() { 0.0 } else { self.cooldown_until_ms.min(now_ms + max_wait_ms) };
        self.recent_requests.retain(|t| t.is_finite());
        self.recent_requests.iter_mut().for_each(|t| *t = t.min(now_ms));
        self.keep_newest_requests(config);
        self.last_grant_ms = self.last_grant_ms.filter(|t| t.is_finite()).map(past);
    }

    /// The whole browser holds off until `until_ms` (the site said "too fast").
    pub fn cool_down(&mut self, until_ms: f64) {
        self.cooldown_until_ms = self.cooldown_until_ms.max(until_ms);
    }

    pub fn ask(&mut self, config: &BudgetConfig, now_ms: f64) -> Grant {
        self.refill(config, now_ms);
        let mut until = now_ms;
        if now_ms < self.cooldown_until_ms {
            until = until.max(self.cooldown_until_ms);
        }
        let allowed = config.site_limit_per_minute.saturating_sub(config.headroom);
        if self.recent_requests.len() >= allowed {
            let mut times = self.recent_requests.clone();
            sort_times(&mut times);
            // When enough of them have left the window.
            let index = self.recent_requests.len() - allowed;
            until = until.max(times[index] + WINDOW_MS);
        }
        if self.tokens < 1.0 {
            until = until.max(now_ms + (1.0 - self.tokens) / config.refill_per_minute * WINDOW_MS);
        }
        if let Some(last) = self.last_grant_ms {
            until = until.max(last + config.stagger_ms);
        }
        if until > now_ms {
            return Grant::Wait { until_ms: until };
        }
        self.tokens -= 1.0;
        self.last_grant_ms = Some(now_ms);
        Grant::Go
    }
}

/// Sorts times, oldest first. The lists hold a handful of entries (the site's per-minute limit, or
/// what storage held, capped): an insertion sort, where std's sorts cost the WASM ~3 KiB.
fn sort_times(times: &mut [f64]) {
    for end in 1..times.len() {
        let mut at = end;
        while at > 0 && times[at - 1].total_cmp(&times[at]).is_gt() {
            times.swap(at - 1, at);
            at -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ten_busy_tabs_are_staggered_and_capped() {
        let config = BudgetConfig::default();
        let mut budget = Budget::new(&config, 0.0);
        let mut grants = Vec::new();
        let mut now = 0.0;
        while now < 60_000.0 {
            if budget.ask(&config, now) == Grant::Go {
                budget.note_request(&config, now);
                grants.push(now);
            }
            now += 100.0;
        }
        assert!(grants.windows(2).all(|w| w[1] - w[0] >= config.stagger_ms));
        assert!(grants.len() <= config.site_limit_per_minute - config.headroom, "{grants:?}");
    }

    #[test]
    fn a_request_flood_keeps_the_list_short_and_the_same_answer() {
        let config = BudgetConfig::default();
        let mut budget = Budget::new(&config, 0.0);
        for i in 0..10_000 {
            budget.note_request(&config, f64::from(i) * 5.0);
        }
        assert_eq!(budget.recent_requests.len(), config.site_limit_per_minute);
        // Retries wait until only 3 requests remain in the window: the 4th newest (49 980 ms) has left.
        assert_eq!(budget.ask(&config, 50_000.0), Grant::Wait { until_ms: 109_980.0 });
    }

    #[test]
    fn cool_down_holds() {
        let config = BudgetConfig::default();
        let mut budget = Budget::new(&config, 0.0);
        budget.cool_down(60_000.0);
        assert_eq!(budget.ask(&config, 1_000.0), Grant::Wait { until_ms: 60_000.0 });
        assert_eq!(budget.ask(&config, 60_000.0), Grant::Go);
    }

    proptest! {
        #[test]
        fn tokens_never_negative_and_site_limit_respected(steps in proptest::collection::vec((0u32..20_000, any::<bool>(), any::<bool>()), 1..200)) {
            let config = BudgetConfig::default();
            let mut budget = Budget::new(&config, 0.0);
            let mut now = 0.0;
            let mut requests: Vec<f64> = Vec::new();
            for (gap, user_sends, wants_retry) in steps {
                now += f64::from(gap);
                if user_sends {
                    budget.note_request(&config, now);
                    requests.push(now);
                }
                if wants_retry {
                    let before = requests.iter().filter(|t| now - **t < WINDOW_MS).count();
                    if budget.ask(&config, now) == Grant::Go {
                        prop_assert!(before < config.site_limit_per_minute - config.headroom);
                        budget.note_request(&config, now);
                        requests.push(now);
                    }
                }
                prop_assert!(budget.tokens >= 0.0);
                prop_assert!(budget.recent_requests.len() <= requests.len());
                prop_assert!(budget.recent_requests.len() <= config.site_limit_per_minute);
            }
        }
    }
}
