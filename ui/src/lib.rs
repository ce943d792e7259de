//! The extension pages' WASM module (popup, options and the API panel), over the same pure crate as the
//! background's: the popup's analysis (diagnose) runs here, so the background's WASM carries none
//! of it. What the pages decide is in `present` (plain Rust); `popup` and `options` render with
//! web-sys and are the pages' whole logic (their JavaScript only loads this module).

use serde_json::Value;
use unbusy::diagnose::cookies::FirstSeen;
use unbusy::diagnose::view::{self, DiagnoseInput, HubFacts, PopupView};
use unbusy::json::ToJson;
use unbusy::lenient;

pub mod markdown;
pub mod present;
pub mod values;

#[cfg(target_arch = "wasm32")]
mod api_options;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod key_store;
#[cfg(target_arch = "wasm32")]
mod options;
#[cfg(target_arch = "wasm32")]
mod panel;
#[cfg(target_arch = "wasm32")]
mod popup;
#[cfg(target_arch = "wasm32")]
mod webext;

/// The popup's view from what it gathered (`input`) and what the background told it (`facts`),
/// each read field by field: a damaged part (storage, or a background of another version) must
/// not blank the popup.
pub fn diagnose(input: &Value, facts: &Value) -> (PopupView, FirstSeen) {
    let input: DiagnoseInput = lenient::field_by_field(&values::core_json(input));
    let facts: HubFacts = lenient::field_by_field(&values::core_json(facts));
    view::build(&input, &facts)
}

/// The facts in the background's `bg_facts` reply (read leniently by `diagnose`), if it is one.
pub fn facts_of(reply: &Value) -> Option<&Value> {
    let message = unbusy::protocol::BgUiMessage::BgFacts { facts: Box::default() }.to_json();
    (reply["type"].as_str() == message.get("type")?.as_str()).then_some(&reply["facts"])
}

pub use unbusy::protocol::storage_key;

#[cfg(target_arch = "wasm32")]
mod bindings {
    use wasm_bindgen::prelude::*;

    /// popup.html's entry point.
    #[wasm_bindgen]
    pub fn popup() {
        super::popup::start();
    }

    /// options.html's entry point.
    #[wasm_bindgen]
    pub fn options() {
        super::options::start();
    }

    /// panel.html's entry point (the API fallback).
    #[wasm_bindgen]
    pub fn panel() {
        super::panel::start();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn damaged_input_and_facts_still_give_a_view() {
        let (view, _) = super::diagnose(&json!({"now_ms": "soon", "recent": 3}), &json!({"history": {"hours": "many"}, "retries": [1, 2]}));
        assert_eq!(view.chart.len(), 24, "a damaged history reads as an empty one");
        assert!(view.retries.is_empty());
    }

    #[test]
    fn only_a_facts_reply_gives_facts() {
        assert_eq!(super::facts_of(&json!({"type": "bg_facts", "facts": {"missing_control": 1}})), Some(&json!({"missing_control": 1})));
        assert_eq!(super::facts_of(&json!({"type": "bg_settings", "facts": {}})), None);
        assert_eq!(super::facts_of(&json!(null)), None);
    }

    #[test]
    fn the_pages_storage_keys_exist() {
        for name in ["recentEvents", "statusIncident", "cookieFirstSeen"] {
            assert_eq!(super::storage_key(name), name);
        }
    }
}
