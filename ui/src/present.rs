//! What the two pages decide, apart from the browser: what of the browser's answers goes into the
//! analysis, how the chart and countdowns read, what the status page's answer means. Plain
//! functions over JSON and the view, tested with `cargo test`.

use serde_json::{json, Value};
use unbusy::diagnose::history::{HourCount, MIN_PER_HOUR};
use unbusy::diagnose::{Finding, Likelihood};
use unbusy::json::ToJson;

/// The cookies DeepSeek set, as the analysis needs them: names, places and sizes. Values stay
/// here (only their length is kept).
pub fn cookie_facts(jar: &Value) -> Value {
    let text = |cookie: &Value, field: &str| cookie[field].as_str().unwrap_or_default().to_owned();
    jar.as_array()
        .into_iter()
        .flatten()
        .map(|cookie| {
            let size = text(cookie, "name").len() + text(cookie, "value").len();
            let expires_ms = if cookie["session"].as_bool() == Some(true) { None } else { cookie["expirationDate"].as_f64().map(|s| s * 1000.0) };
            json!({ "name": text(cookie, "name"), "domain": text(cookie, "domain"), "path": text(cookie, "path"), "size": size, "expires_ms": expires_ms })
        })
        .collect()
}

/// The installed extensions, as the conflict check reads them.
pub fn extension_facts(all: &Value) -> Value {
    all.as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            json!({
                "id": e["id"], "name": e["name"], "enabled": e["enabled"], "type": e["type"],
                "permissions": e.get("permissions").cloned().unwrap_or_else(|| json!([])),
                "hostPermissions": e.get("hostPermissions").cloned().unwrap_or_else(|| json!([])),
            })
        })
        .collect()
}

/// Chat tabs that have run Unbusy's scripts if Unbusy was installed when they loaded: loaded and
/// not discarded (one still loading, or restored but not loaded yet, has not run them yet).
pub fn loaded_tabs(tabs: &Value) -> Vec<i32> {
    tabs.as_array()
        .into_iter()
        .flatten()
        .filter(|tab| tab["discarded"].as_bool() != Some(true) && tab["status"].as_str() == Some("complete"))
        .filter_map(|tab| tab["id"].as_i64().and_then(|id| i32::try_from(id).ok()))
        .collect()
}

/// The chat tab the popup's "Ask through the API" serves: the one on screen (`on_screen`: the
/// active chat tab of the window the popup belongs to, if any), else the chat tab used last
/// (`all`); each a `tabs.query` answer.
pub fn panel_tab(on_screen: &Value, all: &Value) -> Option<i32> {
    let last_used =
        all.as_array().into_iter().flatten().max_by(|a, b| a["lastAccessed"].as_f64().unwrap_or(0.0).total_cmp(&b["lastAccessed"].as_f64().unwrap_or(0.0)));
    on_screen.as_array().and_then(|tabs| tabs.first()).or(last_used).and_then(|tab| tab["id"].as_i64()).and_then(|id| i32::try_from(id).ok())
}

/// Statuspage's public summary: an incident unless its indicator says "none". `None` when the
/// answer is not a summary at all.
pub fn status_incident(summary: &Value) -> Option<bool> {
    summary["status"]["indicator"].as_str().map(|indicator| indicator != "none")
}

/// Whole seconds until `due_ms`, never negative.
pub fn seconds_left(due_ms: f64, now_ms: f64) -> u64 {
    ((due_ms - now_ms) / 1000.0).ceil().max(0.0) as u64
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Of the chart's height; unknown hours get a stub so the day still reads as 24 columns.
    pub height_percent: u32,
    pub known: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// "9:00 40%, 10:00 75%": the hours with enough answers, for screen readers.
    pub described: String,
}

impl Chart {
    pub fn is_empty(&self) -> bool {
        self.described.is_empty()
    }
}

const STUB_PERCENT: u32 = 4;

/// The busy share by hour, drawn only where the history has enough answers to mean something.
pub fn chart(hours: &[HourCount]) -> Chart {
    let percent = |h: &HourCount| (100 * u64::from(h.busy)).checked_div(u64::from(h.total)).map_or(0, |p| p.min(100) as u32);
    let bars = hours
        .iter()
        .map(|h| {
            let known = h.total >= MIN_PER_HOUR;
            Bar { height_percent: if known { percent(h).max(STUB_PERCENT) } else { STUB_PERCENT }, known }
        })
        .collect();
    let described =
        hours.iter().enumerate().filter(|(_, h)| h.total >= MIN_PER_HOUR).map(|(hour, h)| format!("{hour}:00 {}%", percent(h))).collect::<Vec<_>>().join(", ");
    Chart { bars, described }
}

/// The hours printed under the chart.
pub const CHART_TICKS: [usize; 4] = [0, 6, 12, 18];

/// A unit variant's name as serialised (`likely`, `good`), or an action's `kind`: the suffix of
/// its text keys and the value the styles select on.
pub fn name_of<T: ToJson>(value: &T) -> String {
    let value = value.to_json();
    value.get("kind").unwrap_or(&value).as_str().unwrap_or_default().to_owned()
}

/// Fixes worth trying first, and those unlikely to help now (one click away, still explained).
pub fn split_fixes(fixes: &[Finding]) -> (Vec<&Finding>, Vec<&Finding>) {
    fixes.iter().partition(|f| f.likelihood != Likelihood::Unlikely)
}

/// The options form as typed, before the core has seen it.
#[derive(Debug, Clone, Default)]
pub struct FormValues {
    pub auto_retry: bool,
    pub max_attempts: String,
    pub delay_scale: String,
    pub deadline_minutes: String,
    pub hidden_tabs: String,
    pub notify: bool,
}

/// The settings the form asks for. A number that does not parse (an emptied field) goes as 0,
/// out of every range: the core refuses it and names the field.
pub fn settings_from_form(form: &FormValues) -> Value {
    // Whole numbers as integers, as a JavaScript number reaches the core.
    let number = |text: &str| match text.trim().parse::<f64>().ok().filter(|n| n.is_finite()).unwrap_or(0.0) {
        whole if whole.fract() == 0.0 && whole.abs() < 9e15 => json!(whole as i64),
        fractional => json!(fractional),
    };
    json!({
        "auto_retry": form.auto_retry,
        "max_attempts": number(&form.max_attempts),
        "delay_scale": number(&form.delay_scale),
        "deadline_minutes": number(&form.deadline_minutes),
        "hidden_tabs": form.hidden_tabs,
        "notify": form.notify,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_serves_the_chat_on_screen_else_the_one_used_last() {
        let all = json!([{ "id": 3, "lastAccessed": 50.0 }, { "id": 4, "lastAccessed": 90.0 }, { "id": 5 }]);
        assert_eq!(panel_tab(&json!([{ "id": 3 }]), &all), Some(3));
        assert_eq!(panel_tab(&json!([]), &all), Some(4));
        assert_eq!(panel_tab(&json!(null), &json!([])), None);
    }

    #[test]
    fn cookie_values_never_reach_the_analysis_only_their_size() {
        let jar = json!([
            {"name": "ds_session_id", "value": "secret-token", "domain": ".deepseek.com", "path": "/", "session": false, "expirationDate": 2.0},
            {"name": "tmp", "value": "x", "domain": "chat.deepseek.com", "path": "/", "session": true},
        ]);
        let facts = cookie_facts(&jar);
        assert!(!facts.to_string().contains("secret-token"));
        assert_eq!(facts[0]["size"], 13 + 12);
        assert_eq!(facts[0]["expires_ms"], 2000.0);
        assert_eq!(facts[1]["expires_ms"], Value::Null, "a session cookie has no expiry");
        assert_eq!(cookie_facts(&json!("not a list")), json!([]));
    }

    #[test]
    fn only_loaded_chat_tabs_count() {
        let tabs = json!([
            {"id": 1, "status": "complete"},
            {"id": 2, "status": "loading"},
            {"id": 3, "status": "complete", "discarded": true},
            {"id": "4", "status": "complete"},
        ]);
        assert_eq!(loaded_tabs(&tabs), vec![1]);
    }

    #[test]
    fn extensions_keep_what_the_conflict_check_reads() {
        let all = json!([{"id": "a", "name": "A", "enabled": true, "type": "extension", "permissions": ["webRequest"], "icons": []}]);
        let facts = extension_facts(&all);
        assert_eq!(facts[0]["hostPermissions"], json!([]));
        assert!(facts[0].get("icons").is_none());
    }

    #[test]
    fn the_status_summary_reads_as_incident_or_not() {
        assert_eq!(status_incident(&json!({"status": {"indicator": "none"}})), Some(false));
        assert_eq!(status_incident(&json!({"status": {"indicator": "major"}})), Some(true));
        assert_eq!(status_incident(&json!("<html>")), None);
    }

    #[test]
    fn names_are_the_serialised_ones() {
        assert_eq!(name_of(&Likelihood::Likely), "likely");
        assert_eq!(name_of(&unbusy::diagnose::Action::CopyText { text: "ipconfig".into() }), "copy_text");
        assert_eq!(name_of(&unbusy::diagnose::Action::HardRefresh), "hard_refresh");
    }

    #[test]
    fn the_form_sends_numbers_and_the_core_names_a_field_that_is_not_one() {
        let form = FormValues {
            max_attempts: "7".into(),
            delay_scale: "1.5".into(),
            deadline_minutes: "ten".into(),
            hidden_tabs: "pause".into(),
            ..FormValues::default()
        };
        let settings = settings_from_form(&form);
        assert_eq!(settings["max_attempts"], 7);
        assert_eq!(settings["delay_scale"], 1.5);
        assert_eq!(settings["deadline_minutes"], 0);
        assert_eq!(settings["hidden_tabs"], "pause");
        let mut hub = unbusy::hub::Hub::new(None, unbusy::settings::Settings::default(), None);
        let reply = hub.handle_ui(unbusy::protocol::UiMessage::UiSaveSettings { settings: crate::values::core_json(&settings) }, 0.0);
        let unbusy::protocol::BgUiMessage::BgSettings { problems, saved: false, .. } = reply else { panic!("{reply:?}") };
        assert_eq!(problems.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["deadline_minutes"]);
    }

    #[test]
    fn countdowns_round_up_and_stop_at_zero() {
        assert_eq!(seconds_left(10_001.0, 2_000.0), 9);
        assert_eq!(seconds_left(1_000.0, 5_000.0), 0);
    }

    #[test]
    fn the_chart_draws_hours_with_enough_answers_and_stubs_the_rest() {
        let mut hours = vec![HourCount::default(); 24];
        hours[9] = HourCount { busy: 2, total: 5 };
        hours[10] = HourCount { busy: 1, total: MIN_PER_HOUR - 1 };
        hours[11] = HourCount { busy: 0, total: 4 };
        let drawn = chart(&hours);
        assert_eq!(drawn.bars.len(), 24);
        assert_eq!(drawn.bars[9], Bar { height_percent: 40, known: true });
        assert_eq!(drawn.bars[10], Bar { height_percent: STUB_PERCENT, known: false });
        assert_eq!(drawn.described, "9:00 40%, 11:00 0%");
        assert!(chart(&[HourCount::default(); 24]).is_empty());
    }
}
