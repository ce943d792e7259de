//! Scenarios: which fixture answers each generation request of one test run.
//!
//! A scenario is written `fixture[*N],fixture[*N],…`; the last entry repeats forever.
//! Named scenarios live in `sim/scenarios.txt` (`name = spec` lines).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    steps: Vec<(String, u32)>,
}

impl Scenario {
    pub fn parse(spec: &str) -> Result<Scenario, String> {
        let mut steps = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, times) = match part.split_once('*') {
                Some((name, n)) => (name.trim(), n.trim().parse::<u32>().map_err(|_| format!("bad count in {part:?}"))?),
                None => (part, 1),
            };
            if times == 0 || name.is_empty() {
                return Err(format!("bad step {part:?}"));
            }
            steps.push((name.to_string(), times));
        }
        if steps.is_empty() {
            return Err("empty scenario".into());
        }
        Ok(Scenario { steps })
    }

    /// Resolves a name from the table, else reads the text as a spec.
    pub fn named_or_spec(table: &str, text: &str) -> Result<Scenario, String> {
        let named = table
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .find(|(name, _)| name.trim() == text)
            .map(|(_, spec)| spec.trim().to_string());
        Scenario::parse(named.as_deref().unwrap_or(text))
    }

    /// The fixture for the n-th generation request (0-based).
    pub fn fixture_for(&self, attempt: usize) -> &str {
        let mut remaining = attempt;
        for (name, times) in &self.steps {
            if remaining < *times as usize {
                return name;
            }
            remaining -= *times as usize;
        }
        &self.steps[self.steps.len() - 1].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_twice_then_ok() {
        let s = Scenario::named_or_spec("busy2 = busy*2, ok", "busy2").unwrap();
        let got: Vec<&str> = (0..4).map(|n| s.fixture_for(n)).collect();
        assert_eq!(got, ["busy", "busy", "ok", "ok"]);
        assert!(Scenario::parse("a*0").is_err());
    }
}
