//! The chart of BENCHMARKS.md: answered share against attempts per answer, one point per
//! schedule, one panel per peak.

use std::path::Path;

use plotters::prelude::*;

pub enum Kind {
    Anchor,
    Candidate,
    Default,
}

pub struct Point {
    pub label: String,
    pub kind: Kind,
    pub attempts_per_answer: f64,
    pub answered_pct: f64,
}

pub struct Panel {
    pub title: String,
    pub points: Vec<Point>,
}

const ANCHOR: RGBColor = RGBColor(110, 110, 110);
const CANDIDATE: RGBColor = RGBColor(40, 110, 200);
const DEFAULT: RGBColor = RGBColor(210, 50, 40);

pub fn draw(path: &Path, panels: &[Panel]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (640 * panels.len() as u32, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let (lo, hi) = panel.points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.answered_pct), hi.max(p.answered_pct)));
        let max_attempts = panel.points.iter().map(|p| p.attempts_per_answer).fold(2.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((1.0..max_attempts * 1.5).log_scale(), (lo - 0.5).floor()..(hi + 0.5).ceil())?;
        chart
            .configure_mesh()
            .x_desc("attempts per answer (log scale)")
            .y_desc("answered %")
            .x_labels(6)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        // The trade-off curve: the variants no other variant beats on both counts.
        let mut variants: Vec<(f64, f64)> =
            panel.points.iter().filter(|p| !matches!(p.kind, Kind::Anchor)).map(|p| (p.attempts_per_answer, p.answered_pct)).collect();
        variants.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut frontier: Vec<(f64, f64)> = Vec::new();
        for point in variants {
            if frontier.last().is_none_or(|last| point.1 > last.1) {
                frontier.push(point);
            }
        }
        chart.draw_series(LineSeries::new(frontier, CANDIDATE.mix(0.5)))?;
        for (i, point) in panel.points.iter().enumerate() {
            let (color, size) = match point.kind {
                Kind::Anchor => (ANCHOR, 4),
                Kind::Candidate => (CANDIDATE, 3),
                Kind::Default => (DEFAULT, 6),
            };
            // Labels alternate above and below their points so that neighbours stay readable.
            let label_offset = if i % 2 == 0 { (6, -16) } else { (6, 4) };
            let marker = EmptyElement::at((point.attempts_per_answer, point.answered_pct))
                + Circle::new((0, 0), size, color.filled())
                + Text::new(point.label.clone(), label_offset, ("sans-serif", 12).into_font().color(&color));
            chart.draw_series(std::iter::once(marker))?;
        }
    }
    root.present()?;
    Ok(())
}
