//! The user's settings (kept in the browser's synced storage) and their validation: a value is
//! either valid and saved, or rejected with a message; settings can only make Unbusy more cautious.

use crate::json::{FromJson, Json, ToJson};

use crate::lenient;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum HiddenTabs {
    /// Hidden tabs keep their place: the countdown goes on and the notification tells the user.
    Continue,
    /// Hidden tabs wait until they are shown again.
    Pause,
}

#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
#[json(default, deny_unknown_fields)]
pub struct Settings {
    pub auto_retry: bool,
    pub max_attempts: u32,
    /// Multiplies the delay envelope: 1.0 is the default, up to 4.0.
    pub delay_scale: f64,
    pub hidden_tabs: HiddenTabs,
    pub notify: bool,
    /// Unbusy gives up on a message this long after its first failure.
    pub deadline_minutes: u32,
}

/// The default never binds: the policy's own cap (what the schedule and the deadline imply) is lower.
pub const MAX_ATTEMPTS_RANGE: (u32, u32) = (1, 20);
pub const DELAY_SCALE_RANGE: (f64, f64) = (1.0, 4.0);
pub const DEADLINE_MINUTES_RANGE: (u32, u32) = (1, 30);

impl Default for Settings {
    fn default() -> Self {
        Settings { auto_retry: true, max_attempts: 20, delay_scale: 1.0, hidden_tabs: HiddenTabs::Continue, notify: false, deadline_minutes: 15 }
    }
}

/// Why a value was refused: the field and a message key the options page shows.
#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Settings {
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let (lo, hi) = MAX_ATTEMPTS_RANGE;
        if !(lo..=hi).contains(&self.max_attempts) {
            problems.push(Problem { field: "max_attempts".into(), message: format!("between {lo} and {hi}") });
        }
        let (lo, hi) = DELAY_SCALE_RANGE;
        // The bounds are whole numbers: written as integers, no float formatting in the WASM.
        let (lo_text, hi_text) = (lo as u32, hi as u32);
        if !self.delay_scale.is_finite() || !(lo..=hi).contains(&self.delay_scale) {
            problems.push(Problem { field: "delay_scale".into(), message: format!("between {lo_text} and {hi_text}") });
        }
        let (lo, hi) = DEADLINE_MINUTES_RANGE;
        if !(lo..=hi).contains(&self.deadline_minutes) {
            problems.push(Problem { field: "deadline_minutes".into(), message: format!("between {lo} and {hi}") });
        }
        problems
    }

    /// The fields of a settings object that cannot be read at all (a text where a number belongs),
    /// each named; the whole object when it is not one.
    pub fn unreadable(stored: &Json) -> Vec<Problem> {
        let problem = |field: &str| Problem { field: field.to_string(), message: "not a valid value".into() };
        let Some(fields) = stored.as_object() else { return vec![problem("settings")] };
        let fits = |name: &str, value: &Json| {
            let mut trial = Settings::default().to_json();
            trial.set(name, value.clone());
            Settings::from_json(&trial).is_some()
        };
        let named: Vec<Problem> = fields.iter().filter(|(name, value)| !fits(name, value)).map(|(name, _)| problem(name)).collect();
        if named.is_empty() {
            vec![problem("settings")]
        } else {
            named
        }
    }

    /// Settings as stored, falling back to the defaults for anything unreadable or out of range.
    pub fn from_stored(value: Option<Settings>) -> Settings {
        value.filter(|s| s.problems().is_empty()).unwrap_or_default()
    }

    /// Settings as stored (synced from any version of Unbusy, or damaged). Nothing stored means the
    /// defaults. Otherwise unknown fields are ignored and a bad value falls back to its own
    /// default, except the switches that make Unbusy act on its own: unreadable, they read as off.
    pub fn from_stored_value(stored: &Json) -> Settings {
        let Some(fields) = stored.as_object().filter(|f| !f.is_empty()) else { return Settings::default() };
        let mut settings: Settings = lenient::field_by_field(stored);
        let defaults = Settings::default();
        for problem in settings.problems() {
            match problem.field.as_str() {
                "max_attempts" => settings.max_attempts = defaults.max_attempts,
                "delay_scale" => settings.delay_scale = defaults.delay_scale,
                "deadline_minutes" => settings.deadline_minutes = defaults.deadline_minutes,
                _ => {}
            }
        }
        let switch = |name: &str| crate::json::lookup(fields, name).and_then(Json::as_bool).unwrap_or(false);
        settings.auto_retry = switch("auto_retry");
        settings.notify = switch("notify");
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::from_serde;

    #[test]
    fn stored_settings_degrade_field_by_field() {
        let from_a_newer_version =
            from_serde(serde_json::json!({"auto_retry": true, "max_attempts": 3, "delay_scale": 2.0, "hidden_tabs": "pause", "notify": true, "sound": "bell"}));
        let read = Settings::from_stored_value(&from_a_newer_version);
        assert_eq!(read, Settings { auto_retry: true, max_attempts: 3, delay_scale: 2.0, hidden_tabs: HiddenTabs::Pause, notify: true, ..Settings::default() });
        let damaged = from_serde(
            serde_json::json!({"auto_retry": "yes", "max_attempts": 60, "delay_scale": "slow", "hidden_tabs": "sleep", "notify": 1, "deadline_minutes": 45}),
        );
        let read = Settings::from_stored_value(&damaged);
        assert_eq!(read, Settings { auto_retry: false, notify: false, ..Settings::default() });
        let missing_switch = from_serde(serde_json::json!({"max_attempts": 2}));
        assert_eq!(Settings::from_stored_value(&missing_switch), Settings { auto_retry: false, max_attempts: 2, ..Settings::default() });
        assert_eq!(Settings::from_stored_value(&Json::Null), Settings::default());
        assert_eq!(Settings::from_stored_value(&from_serde(serde_json::json!({}))), Settings::default());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let bad = Settings { max_attempts: 0, delay_scale: 0.5, deadline_minutes: 31, ..Settings::default() };
        let fields: Vec<String> = bad.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["max_attempts", "delay_scale", "deadline_minutes"]);
        assert_eq!(Settings { deadline_minutes: 0, ..Settings::default() }.problems().len(), 1);
        assert!(Settings::default().problems().is_empty());
        assert_eq!(Settings::from_stored(Some(bad)), Settings::default());
        let nan = Settings { delay_scale: f64::NAN, ..Settings::default() };
        assert_eq!(nan.problems().len(), 1);
    }
}
