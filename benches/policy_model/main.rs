//! Retry schedules side by side in a model of an overloaded service (see `model`).

mod model;

use model::{Run, Scenario, Schedule};
use unbusy::budget::BudgetConfig;
use unbusy::retry::Policy;

fn main() {
    let capacity = model::capacity_per_s();
    println!("mean hold {:.2} s, capacity {:.3}/s", model::mean_hold_s(), capacity);
    let rows: Vec<(&str, Schedule)> = vec![
        ("no retry", Schedule::NoRetry),
        ("fixed 2.5 s", Schedule::Fixed { delay_s: 2.5 }),
        ("fixed 3 s", Schedule::Fixed { delay_s: 3.0 }),
        ("fixed 10 s", Schedule::Fixed { delay_s: 10.0 }),
        ("manual", Schedule::Manual),
        ("exponential", Schedule::Exponential),
        ("full jitter", Schedule::FullJitter),
        ("fifo", Schedule::Oracle),
        ("unbusy", Schedule::Unbusy { policy: Policy::default(), budget: Some(BudgetConfig::default()) }),
    ];
    for peak in [2.5, 1.3] {
        let started = std::time::Instant::now();
        let scenario = Scenario::new(peak, 1);
        println!("peak {peak}: {} messages ({:.1}s)", scenario.arrivals_s.len(), started.elapsed().as_secs_f64());
        for (name, schedule) in &rows {
            let started = std::time::Instant::now();
            let o = Run { scenario: &scenario, main: schedule, other: None, seed: 7 }.simulate();
            let a = &o.all;
            println!("{name:<14} {:6.1}% att/ans {:5.1} locked {:5.1}% p50 {:6.0} p95 {:6.0} outside {:6} peak {:6.1}/s  ({:.2}s)", a.answered_pct(), a.attempts_per_answer(), a.locked_pct(), a.wait_quantile_s(0.5), a.wait_quantile_s(0.95), o.outside_users, o.peak_attempts_per_s, started.elapsed().as_secs_f64());
        }
    }
}
