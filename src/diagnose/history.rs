//! The user's own busy history: counts of generation verdicts by local hour (no content, no times),
//! kept in the browser's local storage, to learn which hours are quieter for this user.

use crate::json::{FromJson, ToJson};

use crate::verdict::Verdict;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ToJson, FromJson)]
pub struct HourCount {
    pub busy: u32,
    pub total: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
pub struct History {
    pub hours: Vec<HourCount>,
}

impl Default for History {
    fn default() -> Self {
        History { hours: vec![HourCount::default(); 24] }
    }
}

/// Enough answers in an hour to say something about it.
pub const MIN_PER_HOUR: u32 = 3;
/// Counts are halved past this, so old habits fade.
const CAP: u32 = 1000;

impl History {
    pub fn note(&mut self, verdict: &Verdict, local_hour: u8) {
        if self.hours.len() != 24 {
            *self = History::default();
        }
        let busy = matches!(verdict, Verdict::Busy { .. } | Verdict::SearchBusy) || verdict.is_overload_status();
        let counted = busy || *verdict == Verdict::Ok;
        if !counted {
            return;
        }
        let slot = &mut self.hours[usize::from(local_hour % 24)];
        slot.total += 1;
        slot.busy += u32::from(busy);
        if slot.total > CAP {
            for h in &mut self.hours {
                h.total /= 2;
                h.busy /= 2;
            }
        }
    }

    /// Range-checks a restored history: 24 hours, counts within the cap, never more busy than total.
    pub fn sanitize(&mut self) {
        if self.hours.len() != 24 {
            *self = History::default();
        }
        for hour in &mut self.hours {
            hour.total = hour.total.min(CAP);
            hour.busy = hour.busy.min(hour.total);
        }
    }

    pub fn busy_rate(&self, hour: usize) -> Option<f64> {
        let h = self.hours.get(hour)?;
        (h.total >= MIN_PER_HOUR).then(|| f64::from(h.busy) / f64::from(h.total))
    }

    /// The hours with the lowest busy rate, if the history speaks (at least 6 hours known).
    pub fn quiet_hours(&self) -> Option<Vec<usize>> {
        let known: Vec<(usize, f64)> = (0..24).filter_map(|h| self.busy_rate(h).map(|r| (h, r))).collect();
        if known.len() < 6 {
            return None;
        }
        let best = known.iter().map(|(_, r)| *r).fold(f64::INFINITY, f64::min);
        Some(known.iter().filter(|(_, r)| *r <= best + 0.1).map(|(h, _)| *h).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_quiet_hours_only_from_enough_data() {
        let mut history = History::default();
        let busy = Verdict::Busy { code: "server_busy".into() };
        for hour in 8..16u8 {
            for n in 0..4 {
                history.note(if hour >= 13 || n == 0 { &Verdict::Ok } else { &busy }, hour);
            }
        }
        assert_eq!(history.quiet_hours(), Some(vec![13, 14, 15]));
        history.note(&Verdict::AuthExpired, 3);
        assert_eq!(history.hours[3].total, 0, "only busy and ok answers count");
        assert_eq!(History::default().quiet_hours(), None);
    }
}
