//! The retry policy: what to do after a verdict, for one message. Pure: time and randomness come in
//! as arguments. Every number lives in `Policy`; settings can only make it more cautious.

use crate::json::{FromJson, ToJson};

use crate::settings::{Settings, DEADLINE_MINUTES_RANGE};
use crate::verdict::{ChallengeKind, Verdict};

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct Policy {
    /// The envelope of automatic delays, after the manual advice users know (5 s, 10 s, 30 s),
    /// then capped: attempt n waits about `busy_envelope_ms[n-1]`, later attempts the last entry.
    pub busy_envelope_ms: Vec<u64>,
    /// In the last `closing_window_ms` before the deadline, busy delays are at most
    /// `closing_delay_ms`: when every client backs off, growing gaps hand the free slots to fresh
    /// messages and the old ones are abandoned; trying more often near the deadline evens that out.
    pub closing_window_ms: u64,
    pub closing_delay_ms: u64,
    /// Jitter around the envelope, as a fraction: spreads clients without near-zero delays.
    pub jitter: f64,
    /// No automatic retry ever comes sooner than this after a failure.
    pub floor_ms: u64,
    /// First cool-down after "too fast" (site rate limit or HTTP 429); doubled on each repeat.
    pub rate_limit_cooldown_ms: u64,
    pub max_cooldown_ms: u64,
    /// Wait after `parallel_chat_limit` before trying again (unless the other generation ends).
    pub parallel_wait_ms: u64,
    pub maintenance_wait_ms: u64,
    /// After a dropped stream, how long the page gets to resume by itself.
    pub dropped_grace_ms: u64,
    /// Automatic regenerations after dropped streams, per message: if the site's end-of-stream
    /// marker changed, every finished answer would look dropped, so never more than this.
    pub dropped_max_attempts: u32,
    /// After a cut answer, the page resumes by itself after `auto_resume_ms` (about 3 s, client
    /// settings): Unbusy presses Continue no sooner than this.
    pub incomplete_grace_ms: u64,
    /// Server hints (`Retry-After`, `x-fetch-after-sec`) are honoured up to this.
    pub max_hint_ms: u64,
    /// Automatic attempts per message: what the schedule and the deadline imply
    /// (`implied_max_attempts`), or fewer if the user's settings say so.
    pub max_attempts: u32,
    /// The time from a message's first failure after which Unbusy gives up (the user's setting).
    pub deadline_ms: u64,
    /// After a press, the page's new generation request must arrive within this time, or the
    /// press did not work and Unbusy stops (and a request within it counts as automatic).
    pub confirm_window_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        let mut policy = Policy {
            // One quick probe for a passing hiccup, then quiet until the last minutes: under
            // overload that leaves the free slots to the messages about to be abandoned.
            busy_envelope_ms: vec![5_000, 600_000],
            closing_window_ms: 240_000,
            closing_delay_ms: 45_000,
            jitter: 0.2,
            floor_ms: 4_000,
            rate_limit_cooldown_ms: 60_000,
            max_cooldown_ms: 600_000,
            parallel_wait_ms: 30_000,
            maintenance_wait_ms: 300_000,
            dropped_grace_ms: 15_000,
            dropped_max_attempts: 1,
            incomplete_grace_ms: 5_000,
            max_hint_ms: 300_000,
            max_attempts: 0,
            deadline_ms: 15 * 60_000,
            confirm_window_ms: 10_000,
        };
        policy.max_attempts = policy.implied_max_attempts();
        policy
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum Suggestion {
    InstantMode,
    SearchOff,
    NewChat,
    LogIn,
    ReloadPage,
    CheckStatus,
    /// A firewall or edge block: turn off VPN/proxy and request-changing extensions.
    CheckNetwork,
}

/// Which of the page's own controls an automatic attempt presses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum Control {
    /// Regenerate (the icon holding `#重新生成`).
    #[default]
    Retry,
    /// Continue a cut answer (继续生成), keeping its text.
    Continue,
}

impl Control {
    pub fn for_verdict(verdict: &Verdict) -> Control {
        if *verdict == Verdict::Incomplete {
            Control::Continue
        } else {
            Control::Retry
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum StopReason {
    AttemptCap,
    Deadline,
    AutoRetryOff,
    /// The user stood Unbusy down (Stop, or typing) while it was pressing: the answer that comes
    /// back from that press is not retried again.
    UserStopped,
    /// The user paused Unbusy from the popup (for an hour, or until resumed).
    Paused,
}

#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
#[json(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// Wait `delay_ms`, then press the page's `control` (automatic attempt number `attempt`).
    Retry { delay_ms: u64, attempt: u32, max_attempts: u32, suggestion: Option<Suggestion>, control: Control },
    /// Let the page resume the stream by itself; ask again after `grace_ms` if it did not.
    AwaitResume { grace_ms: u64 },
    /// Retryable, but Unbusy has done enough for this message.
    Stop { reason: StopReason, suggestion: Option<Suggestion> },
    /// Never retried: say what it is and what helps.
    Explain { suggestion: Option<Suggestion> },
}

/// What is known about the message that failed.
#[derive(Debug, Clone, Copy, PartialEq, Default, ToJson, FromJson)]
pub struct FailureContext {
    /// Automatic attempts already made for this message.
    pub attempts: u32,
    pub first_failure_ms: f64,
    pub now_ms: f64,
    /// How many "too fast" verdicts this browser has had in a row.
    pub rate_limit_strikes: u32,
}

impl Policy {
    /// The default policy made more cautious by the user's settings (never less): later or fewer
    /// attempts, and the user's own deadline, never a longer one.
    pub fn with_settings(settings: &Settings) -> Policy {
        let base = Policy::default();
        let scale = settings.delay_scale.max(1.0);
        let scaled = |d: u64| (d as f64 * scale) as u64;
        let (shortest, longest) = DEADLINE_MINUTES_RANGE;
        let mut policy = Policy {
            busy_envelope_ms: base.busy_envelope_ms.iter().copied().map(scaled).collect(),
            closing_delay_ms: scaled(base.closing_delay_ms),
            deadline_ms: u64::from(settings.deadline_minutes.clamp(shortest, longest)) * 60_000,
            ..base
        };
        policy.max_attempts = policy.implied_max_attempts().min(settings.max_attempts);
        policy
    }

    /// The most automatic attempts a message can get before the deadline: the path on which every
    /// delay is at its shortest. `max_attempts` holds it (or less), so it bounds every other path.
    pub fn implied_max_attempts(&self) -> u32 {
        let (mut attempts, mut elapsed) = (0u32, 0u64);
        loop {
            let delay = self.busy_delay_ms(attempts, elapsed as f64, 0.0).max(self.floor_ms).max(1);
            if elapsed + delay > self.deadline_ms {
                return attempts;
            }
            elapsed += delay;
            attempts += 1;
        }
    }

    /// `random` is uniform in [0, 1).
    pub fn decide(&self, verdict: &Verdict, ctx: FailureContext, random: f64) -> Decision {
        let random = if random.is_finite() { crate::bounded(random, 0.0, 1.0) } else { 0.5 };
        let mut decision = self.reaction(verdict, ctx, random);
        if let Decision::Retry { control, .. } = &mut decision {
            *control = Control::for_verdict(verdict);
        }
        decision
    }

    fn reaction(&self, verdict: &Verdict, ctx: FailureContext, random: f64) -> Decision {
        match verdict {
            Verdict::Busy { code } => {
                let suggestion = (code == "expert_busy_use_default").then_some(Suggestion::InstantMode);
                self.busy_retry(ctx, random, 0, suggestion)
            }
            Verdict::SearchBusy => self.busy_retry(ctx, random, 0, Some(Suggestion::SearchOff)),
            Verdict::HttpError { retry_after_secs, .. } if verdict.is_overload_status() => self.busy_retry(ctx, random, self.hint_ms(*retry_after_secs), None),
            Verdict::RateLimited => self.cooldown_retry(ctx, random, 0),
            Verdict::HttpError { retry_after_secs, .. } if verdict.is_throttled() => self.cooldown_retry(ctx, random, self.hint_ms(*retry_after_secs)),
            Verdict::ParallelLimit => self.fixed_retry(ctx, self.parallel_wait_ms, None),
            Verdict::Maintenance => self.fixed_retry(ctx, self.maintenance_wait_ms, Some(Suggestion::CheckStatus)),
            Verdict::Dropped => self.await_resume(ctx),
            Verdict::Incomplete => self.busy_retry(ctx, random, self.incomplete_grace_ms, None),
            Verdict::AuthExpired => Decision::Explain { suggestion: Some(Suggestion::LogIn) },
            Verdict::Challenge { challenge: ChallengeKind::Cloudflare | ChallengeKind::Waf } => Decision::Explain { suggestion: Some(Suggestion::ReloadPage) },
            Verdict::Challenge { challenge: ChallengeKind::HuaweiWaf | ChallengeKind::Cloudfront } => {
                Decision::Explain { suggestion: Some(Suggestion::CheckNetwork) }
            }
            Verdict::TooLong | Verdict::ContextFull | Verdict::MessageLimit => Decision::Explain { suggestion: Some(Suggestion::NewChat) },
            Verdict::UnsupportedClient => Decision::Explain { suggestion: Some(Suggestion::ReloadPage) },
            // The page still waits on a dead stream: no control to press yet; say so.
            Verdict::Stalled { .. } => Decision::Explain { suggestion: None },
            Verdict::Ok
            | Verdict::Muted { .. }
            | Verdict::PowRejected
            | Verdict::ContentFiltered
            | Verdict::ServerMessage { .. }
            | Verdict::HttpError { .. }
            | Verdict::Unknown => Decision::Explain { suggestion: None },
        }
    }

    /// A dropped stream: the page gets `dropped_grace_ms` to resume by itself, then one
    /// regeneration at most, within the same cap and deadline as every automatic attempt.
    fn await_resume(&self, ctx: FailureContext) -> Decision {
        match self.limit_reached(ctx, self.dropped_max_attempts.min(self.max_attempts), self.dropped_grace_ms) {
            Some(reason) => Decision::Stop { reason, suggestion: None },
            None => Decision::AwaitResume { grace_ms: self.dropped_grace_ms },
        }
    }

    /// Why one more automatic attempt after `delay_ms` is not allowed: the cap (`max_attempts`
    /// for this kind of failure) or the deadline; `None` if it is.
    pub fn limit_reached(&self, ctx: FailureContext, max_attempts: u32, delay_ms: u64) -> Option<StopReason> {
        let elapsed = (ctx.now_ms - ctx.first_failure_ms).max(0.0);
        if ctx.attempts >= max_attempts {
            Some(StopReason::AttemptCap)
        } else if elapsed + delay_ms as f64 > self.deadline_ms as f64 {
            Some(StopReason::Deadline)
        } else {
            None
        }
    }

    fn hint_ms(&self, secs: Option<u32>) -> u64 {
        secs.map_or(0, |s| (u64::from(s) * 1000).clamp(self.floor_ms, self.max_hint_ms))
    }

    /// The busy delay after `attempts` automatic attempts, `elapsed_ms` after the first failure:
    /// the envelope, but never past the opening of the closing window, and within it at most
    /// the closing delay.
    fn busy_delay_ms(&self, attempts: u32, elapsed_ms: f64, random: f64) -> u64 {
        let index = (attempts as usize).min(self.busy_envelope_ms.len().saturating_sub(1));
        let mut base = self.busy_envelope_ms.get(index).copied().unwrap_or(self.floor_ms) as f64;
        let until_closing = self.deadline_ms as f64 - self.closing_window_ms as f64 - elapsed_ms;
        if until_closing <= 0.0 {
            base = base.min(self.closing_delay_ms as f64);
        }
        let jittered = base * (1.0 - self.jitter + 2.0 * self.jitter * random);
        if until_closing > 0.0 {
            return jittered.min(until_closing) as u64;
        }
        jittered as u64
    }

    fn busy_retry(&self, ctx: FailureContext, random: f64, hint_ms: u64, suggestion: Option<Suggestion>) -> Decision {
        let elapsed = (ctx.now_ms - ctx.first_failure_ms).max(0.0);
        self.retry_after(ctx, self.busy_delay_ms(ctx.attempts, elapsed, random).max(hint_ms), suggestion)
    }

    fn cooldown_retry(&self, ctx: FailureContext, random: f64, hint_ms: u64) -> Decision {
        let doublings = ctx.rate_limit_strikes.saturating_sub(1).min(16);
        let base = self.rate_limit_cooldown_ms.saturating_mul(1 << doublings).min(self.max_cooldown_ms) as f64;
        // Jitter only lengthens a cool-down.
        let jittered = base * (1.0 + self.jitter * random);
        self.retry_after(ctx, (jittered as u64).max(hint_ms), None)
    }

    fn fixed_retry(&self, ctx: FailureContext, delay_ms: u64, suggestion: Option<Suggestion>) -> Decision {
        self.retry_after(ctx, delay_ms, suggestion)
    }

    fn retry_after(&self, ctx: FailureContext, delay_ms: u64, suggestion: Option<Suggestion>) -> Decision {
        let delay_ms = delay_ms.max(self.floor_ms);
        match self.limit_reached(ctx, self.max_attempts, delay_ms) {
            Some(reason) => Decision::Stop { reason, suggestion },
            None => Decision::Retry { delay_ms, attempt: ctx.attempts + 1, max_attempts: self.max_attempts, suggestion, control: Control::Retry },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx(attempts: u32) -> FailureContext {
        FailureContext { attempts, first_failure_ms: 0.0, now_ms: 0.0, rate_limit_strikes: 1 }
    }

    fn delay(d: Decision) -> u64 {
        match d {
            Decision::Retry { delay_ms, .. } => delay_ms,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    fn at(attempts: u32, elapsed_ms: f64) -> FailureContext {
        FailureContext { now_ms: elapsed_ms, ..ctx(attempts) }
    }

    #[test]
    fn busy_probes_once_then_waits_for_the_closing_window() {
        let p = Policy::default();
        let busy = Verdict::Busy { code: "server_busy".into() };
        assert_eq!(delay(p.decide(&busy, ctx(0), 0.5)), 5_000);
        assert_eq!(delay(p.decide(&busy, ctx(0), 0.0)), 4_000, "jitter never goes under the floor");
        // The window opens 4 minutes before the 15-minute deadline: 11 minutes in.
        assert_eq!(delay(p.decide(&busy, at(1, 5_000.0), 0.5)), 600_000);
        assert_eq!(delay(p.decide(&busy, at(2, 605_000.0), 0.5)), 55_000, "never past the window's opening");
        assert_eq!(delay(p.decide(&busy, at(3, 660_000.0), 0.5)), 45_000);
        assert_eq!(delay(p.decide(&busy, at(3, 660_000.0), 1.0)), 54_000);
        assert!(matches!(p.decide(&busy, at(4, 870_000.0), 0.5), Decision::Stop { reason: StopReason::Deadline, .. }));
        assert_eq!(p.max_attempts, 9, "1 probe + 2 waits + 6 in the window at the shortest delays");
        assert!(matches!(p.decide(&busy, ctx(9), 0.5), Decision::Stop { reason: StopReason::AttemptCap, .. }));
    }

    #[test]
    fn the_deadline_is_the_users_and_the_attempt_setting_never_binds_by_default() {
        let (shortest, longest) = DEADLINE_MINUTES_RANGE;
        for minutes in shortest..=longest {
            let p = Policy::with_settings(&Settings { deadline_minutes: minutes, ..Settings::default() });
            assert_eq!(p.deadline_ms, u64::from(minutes) * 60_000);
            assert_eq!(p.max_attempts, p.implied_max_attempts(), "{minutes} min");
            assert!(p.max_attempts >= 1 && p.max_attempts < crate::settings::MAX_ATTEMPTS_RANGE.1, "{minutes} min: {}", p.max_attempts);
        }
        let short = Policy::with_settings(&Settings { deadline_minutes: 1, ..Settings::default() });
        assert_eq!(short.max_attempts, 2, "5 s, then the window: 45 s");
    }

    #[test]
    fn hints_only_lengthen_and_are_clamped() {
        let p = Policy::default();
        let v = |secs| Verdict::HttpError { status: 503, retry_after_secs: Some(secs) };
        assert_eq!(delay(p.decide(&v(1), ctx(0), 0.5)), 5_000);
        assert_eq!(delay(p.decide(&v(20), ctx(0), 0.5)), 20_000);
        assert_eq!(delay(p.decide(&v(100_000), ctx(0), 0.5)), 300_000);
    }

    #[test]
    fn rate_limit_cools_down_longer_on_repeat() {
        let p = Policy::default();
        let first = delay(p.decide(&Verdict::RateLimited, ctx(0), 0.0));
        let again = delay(p.decide(&Verdict::RateLimited, FailureContext { rate_limit_strikes: 2, ..ctx(0) }, 0.0));
        assert_eq!((first, again), (60_000, 120_000));
    }

    #[test]
    fn settings_only_make_it_more_cautious() {
        let cautious = Policy::with_settings(&Settings { delay_scale: 2.0, max_attempts: 3, ..Settings::default() });
        assert_eq!(cautious.busy_envelope_ms[0], 10_000);
        assert_eq!(cautious.closing_delay_ms, 90_000);
        assert_eq!(cautious.max_attempts, 3);
        let slower = Policy::with_settings(&Settings { delay_scale: 2.0, ..Settings::default() });
        assert!(slower.max_attempts < Policy::default().max_attempts, "later attempts are fewer attempts");
        let bold = Policy::with_settings(&Settings { delay_scale: 0.1, max_attempts: 50, deadline_minutes: 90, ..Settings::default() });
        assert_eq!(bold.busy_envelope_ms, Policy::default().busy_envelope_ms);
        assert_eq!(bold.deadline_ms, 30 * 60_000, "never beyond the longest deadline");
        assert!(bold.max_attempts <= Policy::with_settings(&Settings { deadline_minutes: 30, ..Settings::default() }).max_attempts);
    }

    fn any_verdict() -> impl Strategy<Value = Verdict> {
        prop_oneof![
            Just(Verdict::Ok),
            "[a-z_]{1,24}".prop_map(|code| Verdict::Busy { code }),
            Just(Verdict::SearchBusy),
            Just(Verdict::RateLimited),
            Just(Verdict::ParallelLimit),
            Just(Verdict::AuthExpired),
            Just(Verdict::PowRejected),
            Just(Verdict::ContentFiltered),
            Just(Verdict::TooLong),
            Just(Verdict::Maintenance),
            Just(Verdict::Dropped),
            (100u16..600, proptest::option::of(any::<u32>())).prop_map(|(status, retry_after_secs)| Verdict::HttpError { status, retry_after_secs }),
            Just(Verdict::Unknown),
        ]
    }

    proptest! {
        #[test]
        fn every_delay_within_bounds_and_attempts_within_cap(verdict in any_verdict(), attempts in 0u32..20, strikes in 0u32..40, random in any::<f64>(), elapsed in 0.0f64..2_000_000.0) {
            let p = Policy::default();
            let c = FailureContext { attempts, first_failure_ms: 1_000.0, now_ms: 1_000.0 + elapsed, rate_limit_strikes: strikes };
            match p.decide(&verdict, c, random) {
                Decision::Retry { delay_ms, attempt, max_attempts, .. } => {
                    prop_assert!(delay_ms >= p.floor_ms);
                    prop_assert!(delay_ms <= p.max_cooldown_ms * 2);
                    prop_assert!(attempt <= max_attempts && max_attempts <= p.max_attempts);
                    prop_assert!(elapsed + delay_ms as f64 <= p.deadline_ms as f64);
                }
                Decision::AwaitResume { .. } => prop_assert_eq!(verdict, Verdict::Dropped),
                Decision::Stop { .. } | Decision::Explain { .. } => {}
            }
        }

        /// Following busy decisions with any jitter, a message stops at its deadline: the cap is
        /// what the schedule implies, so it only ever stops a path whose next try would be late.
        #[test]
        fn busy_paths_end_at_the_deadline_within_the_cap(draws in proptest::collection::vec(0.0f64..1.0, 40), minutes in 1u32..=30) {
            let p = Policy::with_settings(&Settings { deadline_minutes: minutes, ..Settings::default() });
            let busy = Verdict::Busy { code: "server_busy".into() };
            let mut context = ctx(0);
            for random in draws {
                match p.decide(&busy, context, random) {
                    Decision::Retry { delay_ms, attempt, .. } => {
                        prop_assert!(attempt <= p.max_attempts);
                        context = FailureContext { attempts: attempt, now_ms: context.now_ms + delay_ms as f64, ..context };
                    }
                    Decision::Stop { reason: StopReason::Deadline, .. } => return Ok(()),
                    Decision::Stop { reason: StopReason::AttemptCap, .. } => {
                        let uncapped = Policy { max_attempts: u32::MAX, ..p.clone() };
                        let late = matches!(uncapped.decide(&busy, context, random), Decision::Stop { reason: StopReason::Deadline, .. });
                        prop_assert!(late, "the cap cut a path short");
                        return Ok(());
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
            prop_assert!(false, "more than 40 attempts");
        }

        #[test]
        fn non_retryable_verdicts_are_never_retried(random in any::<f64>(), attempts in 0u32..3) {
            let p = Policy::default();
            for verdict in [Verdict::Ok, Verdict::AuthExpired, Verdict::PowRejected, Verdict::ContentFiltered, Verdict::TooLong, Verdict::Unknown,
                            Verdict::ServerMessage { msg: "x".into() }, Verdict::HttpError { status: 404, retry_after_secs: Some(1) },
                            Verdict::Challenge { challenge: crate::verdict::ChallengeKind::Waf }] {
                prop_assert!(matches!(p.decide(&verdict, ctx(attempts), random), Decision::Explain { .. }), "{:?}", verdict);
            }
        }
    }
}
