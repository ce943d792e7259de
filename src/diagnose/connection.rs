//! The connection check, from the page's own requests (Unbusy sends none): the time from a JSON
//! request to its response head, as median and jitter.

use crate::json::{FromJson, ToJson};

#[derive(Debug, Clone, Copy, PartialEq, ToJson, FromJson)]
pub struct Latency {
    pub median_ms: f64,
    /// Median absolute deviation from the median: robust to the odd slow request.
    pub jitter_ms: f64,
    pub samples: usize,
}

/// Slow or unsteady enough to matter for a streamed answer.
pub const SLOW_MS: f64 = 1500.0;
pub const UNSTEADY_MS: f64 = 800.0;
pub const MIN_SAMPLES: usize = 3;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

pub fn summarise(samples: &[f64]) -> Option<Latency> {
    let mut values: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite() && *v >= 0.0).collect();
    if values.len() < MIN_SAMPLES {
        return None;
    }
    let median_ms = median(&mut values);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - median_ms).abs()).collect();
    Some(Latency { median_ms, jitter_ms: median(&mut deviations), samples: values.len() })
}

impl Latency {
    pub fn is_poor(&self) -> bool {
        self.median_ms >= SLOW_MS || self.jitter_ms >= UNSTEADY_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_jitter() {
        let l = summarise(&[100.0, 120.0, 80.0, 4000.0, 110.0]).unwrap();
        assert_eq!((l.median_ms, l.jitter_ms, l.samples), (110.0, 10.0, 5));
        assert!(!l.is_poor(), "one slow request is not a slow connection");
        assert!(summarise(&[1.0, 2.0]).is_none());
        assert!(summarise(&[2000.0, 2500.0, 1800.0]).unwrap().is_poor());
    }
}
