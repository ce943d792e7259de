//! Markdown for the model's section of BENCHMARKS.md.

use std::fmt::Write;

use unbusy::retry::Policy;

use crate::model::Figures;

/// A markdown table: header and rows of cells.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.header);
        out += &line(&self.header.iter().enumerate().map(|(i, _)| if i == 0 { "---".into() } else { "---:".into() }).collect::<Vec<_>>());
        for row in &self.rows {
            out += &line(row);
        }
        out
    }
}

pub fn pct(value: f64) -> String {
    format!("{value:.1} %")
}

pub fn num(value: f64) -> String {
    format!("{value:.1}")
}

/// A wait: seconds below two minutes, minutes above.
pub fn wait(seconds: f64) -> String {
    if seconds.is_nan() {
        "–".into()
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{:.1} min", seconds / 60.0)
    }
}

/// The cells every schedule table shares, for one group of messages.
pub fn figures_cells(f: &Figures) -> Vec<String> {
    vec![
        pct(f.answered_pct()),
        wait(f.wait_quantile_s(0.5)),
        wait(f.wait_quantile_s(0.95)),
        pct(f.answered_within_pct(120.0)),
        pct(f.answered_within_pct(300.0)),
        pct(f.answered_within_pct(600.0)),
    ]
}

fn seconds(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if s >= 60.0 && (s % 60.0) == 0.0 {
        format!("{} min", s / 60.0)
    } else {
        format!("{s} s")
    }
}

/// A busy schedule in words, from the policy's own numbers.
pub fn describe(policy: &Policy) -> String {
    let envelope: Vec<String> = policy.busy_envelope_ms.iter().map(|d| seconds(*d)).collect();
    let closing = if policy.closing_window_ms == 0 {
        "no closing window".to_string()
    } else {
        format!("last {} every {}", seconds(policy.closing_window_ms), seconds(policy.closing_delay_ms))
    };
    format!("{} ± {:.0} %; {closing}; deadline {}, cap {}", envelope.join(", "), policy.jitter * 100.0, seconds(policy.deadline_ms), policy.max_attempts)
}

/// "model name" and the number of processors, from /proc/cpuinfo.
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{model}, {cores} logical cores ({})", std::env::consts::ARCH)
}

/// Appends a paragraph and a line break.
pub fn para(out: &mut String, text: &str) {
    let _ = writeln!(out, "{text}\n");
}
