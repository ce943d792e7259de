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
        chart.configure_mesh().x_desc("attempts per answer (log)").y_desc("answered %").light_line_style(WHITE.mix(0.0)).draw()?;
        // The candidates as a curve, in order of cost.
        let mut curve: Vec<(f64, f64)> = panel.points.iter().filter(|p| !matches!(p.kind, Kind::Anchor)).map(|p| (p.attempts_per_answer, p.answered_pct)).collect();
        curve.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(curve, CANDIDATE.mix(0.4)))?;
        for point in &panel.points {
            let (color, size, labelled) = match point.kind {
                Kind::Anchor => (ANCHOR, 4, true),
                Kind::Candidate => (CANDIDATE, 3, false),
                Kind::Default => (DEFAULT, 6, true),
            };
            let at = (point.attempts_per_answer, point.answered_pct);
            chart.draw_series(std::iter::once(Circle::new(at, size, color.filled())))?;
            if labelled {
                chart.draw_series(std::iter::once(Text::new(point.label.clone(), at, ("sans-serif", 12).into_font().color(&color))))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
