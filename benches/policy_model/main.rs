//! Retry schedules side by side in a model of an overloaded service (`model` says how it works).
//! `cargo bench -p unbusy --bench policy_model` (which `cargo xtask bench` runs) prints the tables,
//! writes them to target/bench/model.md (its section of BENCHMARKS.md, which `cargo xtask bench`
//! fills in) and draws docs/bench/schedules.svg. It prints figures; it asserts nothing.

mod chart;
mod model;
mod report;

use std::path::Path;
use std::time::Instant;

use chart::{Kind, Panel, Point};
use model::{Outcome, Run, Scenario, Schedule};
use report::{describe, figures_cells, num, para, pct, Table};
use unbusy::budget::BudgetConfig;
use unbusy::retry::Policy;
use unbusy::settings::Settings;

/// Arrivals and holds of the tables; the jitter draws of the clients.
const SEED: u64 = 1;
const CLIENT_SEED: u64 = 7;
/// More arrival seeds, to see whether the default's lead over the anchors is more than noise.
const CHECK_SEEDS: [u64; 5] = [2, 3, 4, 5, 6];
const PEAKS: [f64; 2] = [2.5, 1.3];
/// One user in this many runs Unbusy in the mixed populations.
const UNBUSY_EVERY: usize = 10;

/// The issue's figures for the anchors at the 2.5× peak, to check this model against.
const ISSUE_FIGURES: [(&str, f64); 6] = [
    ("no retry", 60.9),
    ("fixed 10 s", 64.0),
    ("manual 5 / 10 / 30 s, then 30 s", 63.8),
    ("exponential 5 s doubling to 60 s", 63.7),
    ("full-jitter exponential", 64.0),
    ("FIFO queue in the service (oracle)", 67.6),
];

/// The issue's figure for Unbusy's schedule before this model (the first candidate).
const PREVIOUS_DEFAULT_FIGURE: f64 = 61.5;

struct Row {
    name: String,
    /// On the chart.
    short: &'static str,
    schedule: Schedule,
    kind: Kind,
}

fn unbusy(policy: Policy) -> Schedule {
    Schedule::Unbusy { policy, budget: Some(BudgetConfig::default()) }
}

fn anchors() -> Vec<Row> {
    let anchor = |name: &str, short, schedule| Row { name: name.into(), short, schedule, kind: Kind::Anchor };
    vec![
        anchor("no retry", "no retry", Schedule::NoRetry),
        anchor("fixed 2.5 s", "2.5 s", Schedule::Fixed { delay_s: 2.5 }),
        anchor("fixed 3 s", "3 s", Schedule::Fixed { delay_s: 3.0 }),
        anchor("fixed 10 s", "10 s", Schedule::Fixed { delay_s: 10.0 }),
        anchor("manual 5 / 10 / 30 s, then 30 s", "manual", Schedule::Manual),
        anchor("exponential 5 s doubling to 60 s", "exponential", Schedule::Exponential),
        anchor("full-jitter exponential", "full jitter", Schedule::FullJitter),
        anchor("FIFO queue in the service (oracle)", "FIFO (oracle)", Schedule::Oracle),
    ]
}

/// Variants of the default policy for the trade-off curve: the same code, other numbers.
fn candidates() -> Vec<Policy> {
    let variant = |envelope: &[u64], window_ms: u64, closing_ms: u64| {
        let mut policy = Policy { busy_envelope_ms: envelope.to_vec(), closing_window_ms: window_ms, closing_delay_ms: closing_ms, ..Policy::default() };
        policy.max_attempts = policy.implied_max_attempts();
        policy
    };
    let mut previous = variant(&[5_000, 10_000, 30_000, 60_000], 0, 60_000);
    previous.deadline_ms = 600_000;
    previous.max_attempts = 6;
    let mut out = vec![
        // Unbusy's schedule before this model: 6 attempts within 10 minutes.
        previous,
        // Backing off only: the gaps keep growing until the deadline.
        variant(&[5_000, 10_000, 30_000, 60_000], 0, 60_000),
        // The same, trying more often in the last minutes.
        variant(&[5_000, 10_000, 30_000, 60_000], 180_000, 20_000),
        variant(&[5_000, 10_000, 30_000, 60_000], 240_000, 30_000),
        variant(&[5_000, 30_000, 120_000], 240_000, 20_000),
        variant(&[5_000, 30_000, 120_000], 240_000, 30_000),
        // A probe after 5 s, one mid-way, then the last minutes.
        variant(&[5_000, 300_000], 240_000, 30_000),
        variant(&[5_000, 300_000], 240_000, 60_000),
    ];
    // A probe after 5 s, then only the last minutes, tried more or less often.
    for closing_ms in [30_000, 45_000, 60_000, 90_000] {
        out.push(variant(&[5_000, 600_000], 240_000, closing_ms));
    }
    out.push(variant(&[5_000, 600_000], 360_000, 45_000));
    // The manual opening (5 s, 10 s) kept before the quiet.
    out.push(variant(&[5_000, 10_000, 600_000], 240_000, 45_000));
    out.push(variant(&[5_000, 10_000, 600_000], 180_000, 45_000));
    out
}

fn run(scenario: &Scenario, schedule: &Schedule) -> Outcome {
    Run { scenario, main: schedule, other: None, seed: CLIENT_SEED }.simulate()
}

fn main() {
    let started = Instant::now();
    let default_policy = Policy::with_settings(&Settings::default());
    let mut rows = anchors();
    rows.push(Row { name: "**Unbusy** (`Policy` + `Budget`)".into(), short: "Unbusy", schedule: unbusy(default_policy.clone()), kind: Kind::Default });
    rows.push(Row {
        name: "Unbusy's `Policy` without the `Budget`".into(),
        short: "",
        schedule: Schedule::Unbusy { policy: default_policy.clone(), budget: None },
        kind: Kind::Candidate,
    });
    let candidates = candidates();

    let mut out = String::new();
    para(&mut out, "## Retry schedules in a model of an overloaded service");
    para(
        &mut out,
        &format!(
            "`cargo bench -p unbusy --bench policy_model` writes this section (`benches/policy_model/`). The model is the one the issue specifies: \
             {} generation slots; the k-th admission holds one for a lognormal time (median 25 s, σ 0.6, at most 180 s), the same sequence for every schedule; \
             capacity = slots / mean hold = {:.2} messages/s (mean hold {:.2} s); 3 hours of Poisson arrivals at {} × capacity off-peak rising, with Gaussian \
             shoulders (σ 10 min), to a 40-minute plateau at the peak; each message goes to the user of a pool of {} who has been free longest (free 60 s after its previous message \
             was answered or abandoned), else to a user from outside the pool; an attempt is admitted iff a slot is free at that instant, otherwise the client \
             learns \"busy\" 0.5 s later and waits the schedule's delay from then; more than 6 attempts of a user in a sliding minute are refused and lock the \
             user out for 60 s (attempts during the lock-out count and are refused); a message is abandoned when its next attempt would fall more than {} min \
             after its first. Arrival seed {SEED}, client seed {CLIENT_SEED}.",
            model::SLOTS,
            model::capacity_per_s(),
            model::mean_hold_s(),
            model::OFF_PEAK_LOAD,
            model::POOL_USERS,
            model::PATIENCE_S / 60.0
        ),
    );
    para(
        &mut out,
        "Figures: *answered* and *abandoned* are shares of all messages; *attempts/answer* counts every attempt (abandoned messages' too) per answered \
         message; *load* is attempts over those of no retry (one per message); *locked out* is the share of users who sent a message and were locked out \
         at least once; *wait* is from a message's first attempt to its admission (answered messages); *≤ 2/5/10 min* are shares of all messages answered \
         that soon; *peak attempts/s* is the busiest 10 seconds; *outside* counts users from outside the pool.",
    );
    para(
        &mut out,
        &format!(
            "Unbusy's row runs the real `Policy::with_settings(&Settings::default())` and one `Budget::default()` per user (one per browser profile): {}.",
            describe(&default_policy)
        ),
    );

    let mut panels = Vec::new();
    let mut at_peaks = Vec::new();
    for peak in PEAKS {
        let scenario = Scenario::new(peak, SEED);
        let outcomes: Vec<Outcome> = rows.iter().map(|row| run(&scenario, &row.schedule)).collect();
        let no_retry_attempts = outcomes[0].all.attempts as f64;
        let mut table = Table::new(&[
            "schedule",
            "answered",
            "abandoned",
            "attempts/answer",
            "load",
            "locked out",
            "wait p50",
            "wait p95",
            "≤ 2 min",
            "≤ 5 min",
            "≤ 10 min",
            "peak attempts/s",
            "outside",
        ]);
        for (row, outcome) in rows.iter().zip(&outcomes) {
            let f = &outcome.all;
            let cells = figures_cells(f);
            table.row(vec![
                row.name.clone(),
                cells[0].clone(),
                pct(f.abandoned_pct()),
                num(f.attempts_per_answer()),
                format!("{:.1}×", f.attempts as f64 / no_retry_attempts),
                pct(f.locked_pct()),
                cells[1].clone(),
                cells[2].clone(),
                cells[3].clone(),
                cells[4].clone(),
                cells[5].clone(),
                format!("{:.0}", outcome.peak_attempts_per_s),
                outcome.outside_users.to_string(),
            ]);
        }
        para(&mut out, &format!("### Peak at {peak} × capacity ({} messages)", scenario.arrivals_s.len()));
        out += &table.markdown();
        out += "\n";
        let candidate_outcomes: Vec<Outcome> = candidates.iter().map(|policy| run(&scenario, &unbusy(policy.clone()))).collect();
        let mut points: Vec<Point> = rows
            .iter()
            .zip(&outcomes)
            .filter(|(row, _)| !matches!(row.kind, Kind::Candidate))
            .map(|(row, o)| Point {
                label: row.short.into(),
                kind: if matches!(row.kind, Kind::Default) { Kind::Default } else { Kind::Anchor },
                attempts_per_answer: o.all.attempts_per_answer(),
                answered_pct: o.all.answered_pct(),
            })
            .collect();
        points.extend(candidate_outcomes.iter().enumerate().map(|(i, o)| Point {
            label: if i == 0 { "previous default".into() } else { String::new() },
            kind: Kind::Candidate,
            attempts_per_answer: o.all.attempts_per_answer(),
            answered_pct: o.all.answered_pct(),
        }));
        panels.push(Panel { title: format!("peak {peak} × capacity"), points });
        at_peaks.push((peak, scenario, outcomes, candidate_outcomes));
    }

    // The model against the issue's figures.
    para(&mut out, "### Sanity: the anchors here and in the issue (2.5× peak)");
    let (_, _, outcomes, candidate_outcomes) = &at_peaks[0];
    let mut table = Table::new(&["anchor", "issue", "this model", "difference"]);
    for (name, figure) in ISSUE_FIGURES {
        let ours = rows.iter().zip(outcomes).find(|(row, _)| row.name == name).map(|(_, o)| o.all.answered_pct()).unwrap_or(f64::NAN);
        table.row(vec![name.into(), pct(figure), pct(ours), format!("{:+.1} pp", ours - figure)]);
    }
    let previous = candidate_outcomes[0].all.answered_pct();
    table.row(vec![
        "Unbusy's previous default (6 attempts, 10 min)".into(),
        pct(PREVIOUS_DEFAULT_FIGURE),
        pct(previous),
        format!("{:+.1} pp", previous - PREVIOUS_DEFAULT_FIGURE),
    ]);
    out += &table.markdown();
    out += "\n";
    let exponential =
        rows.iter().zip(outcomes).find(|(row, _)| row.name.starts_with("exponential")).map(|(_, o)| o.all.attempts_per_answer()).unwrap_or(f64::NAN);
    para(&mut out, &format!("Exponential without jitter: {exponential:.1} attempts per answer here, 15 in the issue."));

    // The trade-off curve.
    para(&mut out, "### Trade-off: answered share against attempts, variants of the default policy (each with the `Budget`)");
    let mut table = Table::new(&[
        "schedule",
        "2.5×: answered",
        "attempts/answer",
        "locked out",
        "1.3×: answered",
        "attempts/answer",
        "locked out",
        "2.5×, 1 in 10 among manual: its users / others answered",
    ]);
    let manual = Schedule::Manual;
    for (i, policy) in candidates.iter().enumerate() {
        let mut name = describe(policy);
        if *policy == default_policy {
            name = format!("**{name} (default)**");
        } else if i == 0 {
            name = format!("{name} (previous default)");
        }
        let mut cells = vec![name];
        for (_, _, _, candidate_outcomes) in &at_peaks {
            let f = &candidate_outcomes[i].all;
            cells.extend([pct(f.answered_pct()), num(f.attempts_per_answer()), pct(f.locked_pct())]);
        }
        let ours = unbusy(policy.clone());
        let mixed = Run { scenario: &at_peaks[0].1, main: &ours, other: Some((&manual, UNBUSY_EVERY)), seed: CLIENT_SEED }.simulate();
        cells.push(format!("{} / {}", pct(mixed.main.answered_pct()), pct(mixed.other.answered_pct())));
        table.row(cells);
    }
    out += &table.markdown();
    out += "\n";
    para(&mut out, "![answered share against attempts per answer](docs/bench/schedules.svg)");
    let find = |prefix: &str| rows.iter().zip(outcomes).find(|(row, _)| row.name.starts_with(prefix)).map(|(_, o)| &o.all).expect("row");
    let (growing, ours) = (find("exponential"), find("**Unbusy**"));
    para(
        &mut out,
        &format!(
            "The issue's observation holds here: when everyone backs off with growing gaps (exponential), fresh messages take the free slots ({:.1} % of messages \
             answered within 2 minutes, {:.1} % after 10) and the old ones are abandoned; the default stays quiet in the middle and tries again in the last minutes, \
             so the slots go to messages about to be abandoned ({:.1} % within 2 minutes, {:.1} % after 10) and more are answered in all ({:.1} % against {:.1} %).",
            growing.answered_within_pct(120.0),
            growing.answered_pct() - growing.answered_within_pct(600.0),
            ours.answered_within_pct(120.0),
            ours.answered_pct() - ours.answered_within_pct(600.0),
            ours.answered_pct(),
            growing.answered_pct()
        ),
    );

    // Seeds: is the default's lead more than the noise of one arrival sequence?
    para(&mut out, "### Other arrival seeds: the default against the best anchor");
    let mut table = Table::new(&["peak", "seed", "no retry", "best anchor", "its answered", "Unbusy answered", "lead"]);
    let mut no_retry_at_peak = Vec::new();
    for peak in PEAKS {
        for seed in std::iter::once(SEED).chain(CHECK_SEEDS) {
            let scenario = Scenario::new(peak, seed);
            let best = [("fixed 10 s", Schedule::Fixed { delay_s: 10.0 }), ("full-jitter exponential", Schedule::FullJitter), ("manual", Schedule::Manual)]
                .into_iter()
                .map(|(name, schedule)| (name, run(&scenario, &schedule).all.answered_pct()))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .expect("anchors");
            let ours = run(&scenario, &unbusy(default_policy.clone())).all.answered_pct();
            let no_retry = run(&scenario, &Schedule::NoRetry).all.answered_pct();
            if peak == PEAKS[0] {
                no_retry_at_peak.push(no_retry);
            }
            table.row(vec![format!("{peak}×"), seed.to_string(), pct(no_retry), best.0.into(), pct(best.1), pct(ours), format!("{:+.2} pp", ours - best.1)]);
        }
    }
    out += &table.markdown();
    out += "\n";
    let (lowest, highest) = no_retry_at_peak.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    para(&mut out, &format!("No retry at the 2.5× peak over these arrival seeds: {lowest:.1}–{highest:.1} % (the issue: {:.1} %): one arrival sequence moves every row by a few tenths, so the sanity table's offsets are of that size.", ISSUE_FIGURES[0].1));

    // Mixed populations.
    para(&mut out, &format!("### Mixed populations: one user in {UNBUSY_EVERY} runs Unbusy"));
    let mut table = Table::new(&[
        "peak",
        "population",
        "group",
        "answered",
        "wait p50",
        "wait p95",
        "≤ 2 min",
        "≤ 5 min",
        "≤ 10 min",
        "attempts/message",
        "share of attempts",
        "locked out",
    ]);
    let mut load_notes = Vec::new();
    for (peak, scenario, ..) in &at_peaks {
        for (others_name, others) in [("manual 5 / 10 / 30 s", Schedule::Manual), ("fixed 2.5 s", Schedule::Fixed { delay_s: 2.5 })] {
            let ours = unbusy(default_policy.clone());
            let mixed = Run { scenario, main: &ours, other: Some((&others, UNBUSY_EVERY)), seed: CLIENT_SEED }.simulate();
            let alone = run(scenario, &others);
            let total = mixed.all.attempts as f64;
            for (group, f) in [("Unbusy", &mixed.main), (others_name, &mixed.other)] {
                let mut cells = vec![format!("{peak}×"), format!("with {others_name}"), group.into()];
                cells.extend(figures_cells(f));
                cells.extend([num(f.attempts_per_message()), pct(100.0 * f.attempts as f64 / total), pct(f.locked_pct())]);
                table.row(cells);
            }
            let mut cells = vec![format!("{peak}×"), format!("everyone {others_name}"), "all".into()];
            cells.extend(figures_cells(&alone.all));
            cells.extend([num(alone.all.attempts_per_message()), pct(100.0), pct(alone.all.locked_pct())]);
            table.row(cells);
            load_notes.push(format!(
                "{peak}× with {others_name}: the Unbusy tenth makes {:.1} % of all attempts; all attempts {:+.1} % against everyone on {others_name}",
                100.0 * mixed.main.attempts as f64 / total,
                100.0 * (total / alone.all.attempts as f64 - 1.0)
            ));
        }
    }
    out += &table.markdown();
    out += "\n";
    para(&mut out, &format!("The load Unbusy users add: {}.", load_notes.join("; ")));

    para(&mut out, &format!("Ran on: {}; the model section took {:.0} s on one thread.", report::machine(), started.elapsed().as_secs_f64()));

    print!("{out}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let svg = root.join("docs/bench/schedules.svg");
    if let Err(error) =
        std::fs::create_dir_all(root.join("docs/bench")).map_err(|e| e.to_string()).and_then(|_| chart::draw(&svg, &panels).map_err(|e| e.to_string()))
    {
        eprintln!("policy_model: chart not drawn: {error}");
    }
    // `cargo xtask bench` puts it in its section of BENCHMARKS.md.
    let section = root.join("target/bench/model.md");
    if let Err(error) = std::fs::create_dir_all(root.join("target/bench")).and_then(|_| std::fs::write(&section, &out)) {
        eprintln!("policy_model: {} not written: {error}", section.display());
    }
}
