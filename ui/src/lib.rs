//! The popup's WASM module, over the same pure crate as the background's: the popup's analysis
//! (diagnose) runs here, in the popup, so the background's WASM carries none of it.

use unbusy::diagnose::cookies::FirstSeen;
use unbusy::diagnose::view::{self, DiagnoseInput, HubFacts, PopupView};
use unbusy::lenient;

/// The popup's view from what it gathered (`input`) and what the background told it (`facts`),
/// each read field by field: a damaged part (storage, or a background of another version) must
/// not blank the popup.
pub fn diagnose(input: &serde_json::Value, facts: &serde_json::Value) -> (PopupView, FirstSeen) {
    let input: DiagnoseInput = lenient::field_by_field(input);
    let facts: HubFacts = lenient::field_by_field(facts);
    view::build(&input, &facts)
}

#[cfg(target_arch = "wasm32")]
mod bindings {
    use unbusy::js_values::{stored, to_js};
    use wasm_bindgen::prelude::*;

    /// `{view, first_seen}`.
    #[wasm_bindgen]
    pub fn diagnose(input: JsValue, facts: JsValue) -> JsValue {
        let (view, first_seen) = super::diagnose(&stored(input), &stored(facts));
        to_js(&serde_json::json!({ "view": view, "first_seen": first_seen }))
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
}
