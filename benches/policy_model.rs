//! A model of users facing an overloaded service, to compare retry schedules side by side:
//! how many get an answer, how many attempts each answer costs, how many trip the site's
//! anti-abuse limit (more than 6 attempts in a minute locks a user out). Unbusy's schedule is the
//! real `Policy` and `Budget`, not a copy. Printed figures, not assertions.

use unbusy::budget::{Budget, BudgetConfig, Grant};
use unbusy::retry::{Decision, FailureContext, Policy};
use unbusy::verdict::Verdict;

const SECONDS: u64 = 3 * 3600;
const PATIENCE_S: f64 = 15.0 * 60.0;
const LOCKOUT_PER_MINUTE: usize = 6;

/// xorshift64*: deterministic, good enough for a model.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
enum Schedule {
    NoRetry,
    Fixed(f64),
    Manual,
    Exponential,
    FullJitter,
    Unbusy,
}

struct User {
    arrived: f64,
    next: f64,
    attempts: Vec<f64>,
    budget: Budget,
}

fn delay(schedule: Schedule, failures: usize, user: &mut User, now: f64, rng: &mut Rng, policy: &Policy, config: &BudgetConfig) -> Option<f64> {
    let n = failures as i32;
    match schedule {
        Schedule::NoRetry => None,
        Schedule::Fixed(s) => Some(s),
        Schedule::Manual => Some([5.0, 10.0, 30.0][(failures - 1).min(2)]),
        Schedule::Exponential => Some((5.0 * 2f64.powi(n - 1)).min(60.0)),
        Schedule::FullJitter => Some(rng.next() * (5.0 * 2f64.powi(n - 1)).min(60.0)),
        Schedule::Unbusy => {
            let ctx = FailureContext { attempts: (failures - 1) as u32, first_failure_ms: user.attempts[0] * 1000.0, now_ms: now * 1000.0, rate_limit_strikes: 0 };
            match policy.decide(&Verdict::Busy { code: "server_busy".into() }, ctx, rng.next()) {
                Decision::Retry { delay_ms, .. } => {
                    // At the end of the countdown the shared budget has the last word.
                    let mut at = now + delay_ms as f64 / 1000.0;
                    while let Grant::Wait { until_ms } = user.budget.ask(config, at * 1000.0) {
                        at = until_ms / 1000.0;
                    }
                    Some(at - now)
                }
                _ => None,
            }
        }
    }
}

/// Returns (answered %, attempts per answer, locked out %).
fn simulate(schedule: Schedule, load: f64, seed: u64) -> (f64, f64, f64) {
    let capacity = 2.0; // answers the service can start per second
    let arrivals = capacity * load;
    let policy = Policy::default();
    let config = BudgetConfig::default();
    let mut rng = Rng(seed);
    let mut waiting: Vec<User> = Vec::new();
    let (mut users, mut answered, mut locked, mut attempts_of_answered) = (0usize, 0usize, 0usize, 0usize);
    for second in 0..SECONDS {
        let now = second as f64;
        // Poisson arrivals, approximated per second.
        let mut k = 0;
        let mut p = (-arrivals).exp();
        let mut cumulative = p;
        let draw = rng.next();
        while draw > cumulative {
            k += 1;
            p *= arrivals / k as f64;
            cumulative += p;
        }
        for _ in 0..k {
            users += 1;
            waiting.push(User { arrived: now, next: now, attempts: Vec::new(), budget: Budget::new(&config, now * 1000.0) });
        }
        // Everyone due this second tries; the service accepts `capacity` of them at random.
        let due: Vec<usize> = (0..waiting.len()).filter(|&i| waiting[i].next <= now).collect();
        let mut accept = capacity;
        let mut outcome = vec![false; waiting.len()];
        let mut order = due.clone();
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() * (i + 1) as f64) as usize);
        }
        for &i in &order {
            let user = &mut waiting[i];
            user.attempts.push(now);
            if matches!(schedule, Schedule::Unbusy) {
                user.budget.note_request(&config, now * 1000.0);
            }
            if accept >= 1.0 {
                accept -= 1.0;
                outcome[i] = true;
            }
        }
        let mut keep = Vec::with_capacity(waiting.len());
        for (i, mut user) in waiting.into_iter().enumerate() {
            if user.next > now {
                keep.push(user);
                continue;
            }
            let in_last_minute = user.attempts.iter().filter(|t| now - **t < 60.0).count();
            if in_last_minute > LOCKOUT_PER_MINUTE {
                locked += 1;
                continue;
            }
            if outcome[i] {
                answered += 1;
                attempts_of_answered += user.attempts.len();
                continue;
            }
            match delay(schedule, user.attempts.len(), &mut user, now, &mut rng, &policy, &config) {
                Some(d) if now + d - user.arrived <= PATIENCE_S => {
                    user.next = now + d.max(1.0).round();
                    keep.push(user);
                }
                _ => {}
            }
        }
        waiting = keep;
    }
    let users = users.max(1) as f64;
    (100.0 * answered as f64 / users, attempts_of_answered as f64 / answered.max(1) as f64, 100.0 * locked as f64 / users)
}

fn main() {
    let schedules = [
        ("no retry", Schedule::NoRetry),
        ("fixed 2.5 s clicking", Schedule::Fixed(2.5)),
        ("fixed 10 s", Schedule::Fixed(10.0)),
        ("manual 5 / 10 / 30 s", Schedule::Manual),
        ("exponential, cap 60 s", Schedule::Exponential),
        ("full jitter, cap 60 s", Schedule::FullJitter),
        ("Unbusy (Policy + Budget)", Schedule::Unbusy),
    ];
    for load in [0.6, 2.5] {
        println!("\nload {:.0} % of capacity, {} h, patience 15 min, lock-out above {LOCKOUT_PER_MINUTE} attempts a minute", load * 100.0, SECONDS / 3600);
        println!("{:<28} {:>9} {:>19} {:>11}", "schedule", "answered", "attempts/answer", "locked out");
        for (name, schedule) in schedules {
            let (answered, per_answer, locked) = simulate(schedule, load, 0x5EED_0000 + (load * 10.0) as u64);
            println!("{name:<28} {answered:>8.1}% {per_answer:>19.1} {locked:>10.1}%");
        }
    }
}
