//! The overload model, as the issue specifies it, so that anyone can reproduce its figures:
//! 200 generation slots, a lognormal hold per admission, three hours of Poisson arrivals with a
//! peak, a pool of users who rest between messages, the site's lock-out above 6 attempts a minute
//! and a 15-minute patience. Seeded and deterministic; one thread.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use unbusy::budget::{Budget, BudgetConfig, Grant};
use unbusy::retry::{Decision, FailureContext, Policy};
use unbusy::verdict::Verdict;

pub const SLOTS: usize = 200;
const HOLD_MEDIAN_S: f64 = 25.0;
const HOLD_SIGMA: f64 = 0.6;
const HOLD_CAP_S: f64 = 180.0;
const RUN_S: f64 = 3.0 * 3600.0;
pub const OFF_PEAK_LOAD: f64 = 0.6;
const PLATEAU_S: f64 = 40.0 * 60.0;
const SHOULDER_SIGMA_S: f64 = 10.0 * 60.0;
pub const POOL_USERS: usize = 5_000;
/// A user sends again at the earliest this long after their previous message ended.
const USER_REST_S: f64 = 60.0;
/// A refused attempt is known to the client this much later.
const BUSY_LATENCY_S: f64 = 0.5;
/// The site's anti-abuse rule: more than this many attempts in the window locks the user out.
const SITE_LIMIT: usize = 6;
const SITE_WINDOW_S: f64 = 60.0;
const LOCKOUT_S: f64 = 60.0;
pub const PATIENCE_S: f64 = 15.0 * 60.0;
/// Peak attempts per second are counted over buckets of this length.
const PEAK_BUCKET_S: f64 = 10.0;

/// splitmix64: a small deterministic generator; each stream of the model has its own.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller; one of the pair is enough here).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The mean of the capped lognormal hold, integrated over the normal density in log space.
pub fn mean_hold_s() -> f64 {
    let steps = 20_000;
    let (lo, hi) = (-12.0, 12.0);
    let h = (hi - lo) / steps as f64;
    let f = |z: f64| (HOLD_MEDIAN_S * (HOLD_SIGMA * z).exp()).min(HOLD_CAP_S) * (-z * z / 2.0).exp() / std::f64::consts::TAU.sqrt();
    // Simpson's rule.
    let inner: f64 = (1..steps).map(|i| f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 }).sum();
    (f(lo) + f(hi) + inner) * h / 3.0
}

/// Messages the service can start per second, on average.
pub fn capacity_per_s() -> f64 {
    SLOTS as f64 / mean_hold_s()
}

/// Load as a multiple of capacity at time `t_s`: off-peak, Gaussian shoulders, a plateau mid-run.
pub fn load_at(t_s: f64, peak: f64) -> f64 {
    let from_plateau = ((t_s - RUN_S / 2.0).abs() - PLATEAU_S / 2.0).max(0.0);
    OFF_PEAK_LOAD + (peak - OFF_PEAK_LOAD) * (-from_plateau * from_plateau / (2.0 * SHOULDER_SIGMA_S * SHOULDER_SIGMA_S)).exp()
}

/// What every schedule faces alike: arrival times and the hold of the k-th admission.
pub struct Scenario {
    pub arrivals_s: Vec<f64>,
    holds_s: Vec<f64>,
}

impl Scenario {
    pub fn new(peak: f64, seed: u64) -> Scenario {
        let capacity = capacity_per_s();
        // Poisson arrivals by thinning a process at the peak rate.
        let mut rng = Rng::new(seed);
        let max_rate = capacity * peak.max(OFF_PEAK_LOAD);
        let mut arrivals_s = Vec::new();
        let mut t = 0.0;
        loop {
            t += -(1.0 - rng.uniform()).ln() / max_rate;
            if t >= RUN_S {
                break;
            }
            if rng.uniform() * max_rate < capacity * load_at(t, peak) {
                arrivals_s.push(t);
            }
        }
        let mut rng = Rng::new(seed ^ 0x401D_0000);
        let holds_s = (0..arrivals_s.len()).map(|_| (HOLD_MEDIAN_S * (HOLD_SIGMA * rng.normal()).exp()).min(HOLD_CAP_S)).collect();
        Scenario { arrivals_s, holds_s }
    }
}

/// How a client retries after "busy". Delays are counted from the moment it learns of the failure.
#[derive(Clone)]
pub enum Schedule {
    NoRetry,
    Fixed {
        delay_s: f64,
    },
    /// The article's advice: 5 s, 10 s, 30 s, then every 30 s.
    Manual,
    /// 5 s doubling to 60 s.
    Exponential,
    /// A uniform draw up to the exponential delay.
    FullJitter,
    /// Not a client schedule: the service queues messages itself (the physical limit).
    Oracle,
    /// Unbusy's own code: the `Policy` decides, the user's `Budget` (one per browser profile, so
    /// one per user here) has the last word if given.
    Unbusy {
        policy: Policy,
        budget: Option<BudgetConfig>,
    },
}

impl Schedule {
    fn exponential_s(failures: u32) -> f64 {
        (5.0 * 2f64.powi(failures.min(16) as i32 - 1)).min(60.0)
    }
}

/// Which part of a mixed population a user belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Main,
    Other,
}

struct User {
    group: Group,
    recent_attempts: VecDeque<f64>,
    locked_until_s: f64,
    ever_locked: bool,
    budget: Option<Budget>,
    rate_limit_strikes: u32,
}

impl User {
    fn new(group: Group, schedule: &Schedule, now_s: f64) -> User {
        let budget = match schedule {
            Schedule::Unbusy { budget: Some(config), .. } => Some(Budget::new(config, now_s * 1000.0)),
            _ => None,
        };
        User { group, recent_attempts: VecDeque::new(), locked_until_s: f64::NEG_INFINITY, ever_locked: false, budget, rate_limit_strikes: 0 }
    }
}

struct Message {
    user: usize,
    first_s: f64,
    attempts: u32,
    answered_s: Option<f64>,
}

/// A time usable as a heap key (the model's times are finite and non-negative).
#[derive(Clone, Copy)]
struct Time(f64);
impl PartialEq for Time {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Time {}
impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Time {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Figures of one group of messages.
#[derive(Clone, Default)]
pub struct Figures {
    pub messages: usize,
    pub answered: usize,
    pub attempts: u64,
    pub users: usize,
    pub users_locked: usize,
    pub wait_s: Vec<f64>,
}

impl Figures {
    pub fn answered_pct(&self) -> f64 {
        pct(self.answered, self.messages)
    }
    pub fn abandoned_pct(&self) -> f64 {
        100.0 - self.answered_pct()
    }
    pub fn attempts_per_answer(&self) -> f64 {
        self.attempts as f64 / self.answered.max(1) as f64
    }
    pub fn attempts_per_message(&self) -> f64 {
        self.attempts as f64 / self.messages.max(1) as f64
    }
    pub fn locked_pct(&self) -> f64 {
        pct(self.users_locked, self.users)
    }
    /// Time to answer (first attempt to admission) at quantile `q` of the answered messages.
    pub fn wait_quantile_s(&self, q: f64) -> f64 {
        if self.wait_s.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.wait_s.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    }
    /// Share of all messages answered within `limit_s` of their first attempt.
    pub fn answered_within_pct(&self, limit_s: f64) -> f64 {
        pct(self.wait_s.iter().filter(|w| **w <= limit_s).count(), self.messages)
    }
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

pub struct Outcome {
    pub all: Figures,
    /// In a mixed run: the users of the main schedule, and everyone else.
    pub main: Figures,
    pub other: Figures,
    pub outside_users: usize,
    pub peak_attempts_per_s: f64,
}

/// One run: every user follows `main`, except that a user whose number is not a multiple of
/// `main_every` follows `other` (mixed populations).
pub struct Run<'a> {
    pub scenario: &'a Scenario,
    pub main: &'a Schedule,
    pub other: Option<(&'a Schedule, usize)>,
    pub seed: u64,
}

impl Run<'_> {
    fn group_of(&self, user_number: usize) -> Group {
        match self.other {
            Some((_, every)) if user_number % every != 0 => Group::Other,
            _ => Group::Main,
        }
    }

    fn schedule(&self, group: Group) -> &Schedule {
        match (group, self.other) {
            (Group::Other, Some((other, _))) => other,
            _ => self.main,
        }
    }

    pub fn simulate(&self) -> Outcome {
        let mut world = World::new(self);
        if matches!(self.main, Schedule::Oracle) {
            world.run_fifo(self);
        } else {
            world.run_clients(self);
        }
        world.outcome()
    }
}

struct World {
    users: Vec<User>,
    outside_users: usize,
    /// Pool users by the time they are free again: the one free longest goes first.
    free_users: BinaryHeap<Reverse<(Time, usize)>>,
    messages: Vec<Message>,
    /// End times of the generations holding a slot.
    slot_ends: BinaryHeap<Reverse<Time>>,
    admissions: usize,
    attempts_per_bucket: Vec<u32>,
    rng: Rng,
}

impl World {
    fn new(run: &Run) -> World {
        let users = (0..POOL_USERS).map(|n| User::new(run.group_of(n), run.schedule(run.group_of(n)), 0.0)).collect();
        let free_users = (0..POOL_USERS).map(|n| Reverse((Time(f64::NEG_INFINITY), n))).collect();
        let buckets = ((RUN_S + 2.0 * PATIENCE_S) / PEAK_BUCKET_S) as usize + 1;
        World {
            users,
            outside_users: 0,
            free_users,
            messages: Vec::with_capacity(run.scenario.arrivals_s.len()),
            slot_ends: BinaryHeap::with_capacity(SLOTS + 1),
            admissions: 0,
            attempts_per_bucket: vec![0; buckets],
            rng: Rng::new(run.seed),
        }
    }

    /// A new message at `now_s` goes to the pool user free longest, or to someone from outside.
    fn new_message(&mut self, run: &Run, now_s: f64) -> usize {
        let user = match self.free_users.peek() {
            Some(Reverse((Time(free_s), _))) if *free_s <= now_s => self.free_users.pop().expect("peeked").0 .1,
            _ => {
                let group = run.group_of(POOL_USERS + self.outside_users);
                self.outside_users += 1;
                self.users.push(User::new(group, run.schedule(group), now_s));
                self.users.len() - 1
            }
        };
        self.messages.push(Message { user, first_s: now_s, attempts: 0, answered_s: None });
        self.messages.len() - 1
    }

    fn message_ended(&mut self, message: usize, now_s: f64) {
        let user = self.messages[message].user;
        if user < POOL_USERS {
            self.free_users.push(Reverse((Time(now_s + USER_REST_S), user)));
        }
    }

    /// Takes a slot if one is free at `now_s`.
    fn admit(&mut self, run: &Run, message: usize, now_s: f64) -> bool {
        while self.slot_ends.peek().is_some_and(|Reverse(Time(end))| *end <= now_s) {
            self.slot_ends.pop();
        }
        if self.slot_ends.len() >= SLOTS {
            return false;
        }
        self.slot_ends.push(Reverse(Time(now_s + run.scenario.holds_s[self.admissions])));
        self.admissions += 1;
        self.messages[message].answered_s = Some(now_s);
        self.users[self.messages[message].user].rate_limit_strikes = 0;
        self.message_ended(message, now_s);
        true
    }

    fn count_attempt(&mut self, message: usize, now_s: f64) {
        self.messages[message].attempts += 1;
        if let Some(bucket) = self.attempts_per_bucket.get_mut((now_s / PEAK_BUCKET_S) as usize) {
            *bucket += 1;
        }
    }

    fn run_clients(&mut self, run: &Run) {
        let mut due: BinaryHeap<Reverse<(Time, usize)>> = BinaryHeap::new();
        let mut arrivals = run.scenario.arrivals_s.iter().copied().peekable();
        loop {
            let next_due = due.peek().map(|Reverse((Time(t), _))| *t);
            let (now_s, message) = match (arrivals.peek().copied(), next_due) {
                (Some(arrival), Some(retry)) if retry < arrival => (retry, due.pop().expect("peeked").0 .1),
                (Some(arrival), _) => {
                    arrivals.next();
                    (arrival, self.new_message(run, arrival))
                }
                (None, Some(retry)) => (retry, due.pop().expect("peeked").0 .1),
                (None, None) => break,
            };
            if let Some(next_s) = self.attempt(run, message, now_s) {
                due.push(Reverse((Time(next_s), message)));
            }
        }
    }

    /// One attempt of `message` at `now_s`; returns when its next attempt is, if there is one.
    fn attempt(&mut self, run: &Run, message: usize, now_s: f64) -> Option<f64> {
        self.count_attempt(message, now_s);
        let user = &mut self.users[self.messages[message].user];
        user.recent_attempts.push_back(now_s);
        while user.recent_attempts.front().is_some_and(|t| *t <= now_s - SITE_WINDOW_S) {
            user.recent_attempts.pop_front();
        }
        let over_limit = user.recent_attempts.len() > SITE_LIMIT;
        if over_limit {
            user.locked_until_s = now_s + LOCKOUT_S;
            user.ever_locked = true;
        }
        let refused = over_limit || now_s < user.locked_until_s;
        let schedule = run.schedule(user.group);
        if let (Some(budget), Schedule::Unbusy { budget: Some(config), .. }) = (user.budget.as_mut(), schedule) {
            // Every generation request of the profile counts, the user's own and refused ones too.
            budget.note_request(config, now_s * 1000.0);
        }
        if !refused && self.admit(run, message, now_s) {
            return None;
        }
        let failed_s = now_s + BUSY_LATENCY_S;
        let next_s = self.next_attempt(schedule, message, failed_s, refused).filter(|next| *next - self.messages[message].first_s <= PATIENCE_S);
        if next_s.is_none() {
            self.message_ended(message, failed_s);
        }
        next_s
    }

    fn next_attempt(&mut self, schedule: &Schedule, message: usize, failed_s: f64, refused: bool) -> Option<f64> {
        let failures = self.messages[message].attempts;
        match schedule {
            Schedule::NoRetry | Schedule::Oracle => None,
            Schedule::Fixed { delay_s } => Some(failed_s + delay_s),
            Schedule::Manual => Some(failed_s + [5.0, 10.0, 30.0][(failures as usize - 1).min(2)]),
            Schedule::Exponential => Some(failed_s + Schedule::exponential_s(failures)),
            Schedule::FullJitter => Some(failed_s + self.rng.uniform() * Schedule::exponential_s(failures)),
            Schedule::Unbusy { policy, budget } => {
                let first_failure_s = self.messages[message].first_s + BUSY_LATENCY_S;
                let user = &mut self.users[self.messages[message].user];
                // A refusal of the site's anti-abuse rule reads as "too fast" (as the hub counts it).
                let verdict = if refused {
                    user.rate_limit_strikes += 1;
                    Verdict::RateLimited
                } else {
                    Verdict::Busy { code: "server_busy".into() }
                };
                let context = FailureContext {
                    attempts: failures - 1,
                    first_failure_ms: first_failure_s * 1000.0,
                    now_ms: failed_s * 1000.0,
                    rate_limit_strikes: user.rate_limit_strikes,
                };
                let Decision::Retry { delay_ms, .. } = policy.decide(&verdict, context, self.rng.uniform()) else { return None };
                // In milliseconds, as the budget counts: a round trip through seconds can land a
                // hair before the time it named and be told to wait again, forever.
                let mut at_ms = failed_s * 1000.0 + delay_ms as f64;
                if let (Some(state), Some(config)) = (user.budget.as_mut(), budget) {
                    if refused {
                        state.cool_down(at_ms);
                    }
                    // At the end of the countdown the profile's budget has the last word.
                    while let Grant::Wait { until_ms } = state.ask(config, at_ms) {
                        at_ms = until_ms;
                    }
                }
                Some(at_ms / 1000.0)
            }
        }
    }

    /// The physical limit: the service queues messages itself and admits them first come, first
    /// served; a message leaves the queue when it has waited the whole patience.
    fn run_fifo(&mut self, run: &Run) {
        let mut queue: VecDeque<usize> = VecDeque::new();
        let mut arrivals = run.scenario.arrivals_s.iter().copied().peekable();
        loop {
            let next_free = if queue.is_empty() { None } else { self.slot_ends.peek().map(|Reverse(Time(t))| *t) };
            let now_s = match (arrivals.peek().copied(), next_free) {
                (Some(arrival), Some(free)) if free < arrival => free,
                (Some(arrival), _) => arrival,
                (None, Some(free)) => free,
                (None, None) => break,
            };
            while let Some(&head) = queue.front() {
                let gives_up_s = self.messages[head].first_s + PATIENCE_S;
                if gives_up_s >= now_s {
                    break;
                }
                queue.pop_front();
                self.message_ended(head, gives_up_s);
            }
            if arrivals.peek() == Some(&now_s) {
                arrivals.next();
                let message = self.new_message(run, now_s);
                self.count_attempt(message, now_s);
                queue.push_back(message);
            }
            while let Some(&head) = queue.front() {
                if !self.admit(run, head, now_s) {
                    break;
                }
                queue.pop_front();
            }
        }
    }

    fn outcome(self) -> Outcome {
        let mut figures = [Figures::default(), Figures::default()];
        let index = |group: Group| usize::from(group == Group::Other);
        for user in &self.users {
            // Only users who sent something count (every outside user did).
            let f = &mut figures[index(user.group)];
            f.users_locked += usize::from(user.ever_locked);
        }
        let mut sent = vec![false; self.users.len()];
        for message in &self.messages {
            sent[message.user] = true;
            let f = &mut figures[index(self.users[message.user].group)];
            f.messages += 1;
            f.attempts += u64::from(message.attempts);
            if let Some(answered_s) = message.answered_s {
                f.answered += 1;
                f.wait_s.push(answered_s - message.first_s);
            }
        }
        for (user, sent) in self.users.iter().zip(sent) {
            figures[index(user.group)].users += usize::from(sent);
        }
        let [main, other] = figures;
        let mut all = main.clone();
        all.messages += other.messages;
        all.answered += other.answered;
        all.attempts += other.attempts;
        all.users += other.users;
        all.users_locked += other.users_locked;
        all.wait_s.extend_from_slice(&other.wait_s);
        let peak = self.attempts_per_bucket.iter().copied().max().unwrap_or(0);
        Outcome { all, main, other, outside_users: self.outside_users, peak_attempts_per_s: f64::from(peak) / PEAK_BUCKET_S }
    }
}
