//! The only module that knows about JavaScript: it turns JS values into protocol types and back.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::diagnose::history::History;
use crate::hub::{Hub, HubState, Outcome};
use crate::protocol::{CsMessage, Sender, UiMessage};
use crate::settings::Settings;

fn to_js<T: Serialize>(value: &T) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

fn set(target: &js_sys::Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &key.into(), value);
}

/// `{reply, record, persist, recovered, alarm_at_ms, history_changed, silence_check_at_ms}`.
fn outcome_to_js(outcome: &Outcome) -> JsValue {
    let result = js_sys::Object::new();
    set(&result, "reply", &to_js(&outcome.reply));
    set(&result, "record", &to_js(&outcome.record));
    set(&result, "persist", &outcome.persist.into());
    set(&result, "recovered", &to_js(&outcome.recovered));
    set(&result, "alarm_at_ms", &to_js(&outcome.alarm_at_ms));
    set(&result, "history_changed", &outcome.history_changed.into());
    set(&result, "silence_check_at_ms", &to_js(&outcome.silence_check_at_ms));
    result.into()
}

/// The background's core. One instance lives as long as the background does; its state is
/// handed back to JavaScript for storage whenever it changes.
#[wasm_bindgen]
pub struct Core {
    hub: Hub,
}

#[wasm_bindgen]
impl Core {
    /// `state` and `settings` as stored (anything unreadable starts fresh / with defaults).
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, settings: JsValue, history: JsValue) -> Core {
        let state = serde_wasm_bindgen::from_value::<HubState>(state).ok();
        let settings = Settings::from_stored(serde_wasm_bindgen::from_value::<Settings>(settings).ok());
        let history = serde_wasm_bindgen::from_value::<History>(history).ok();
        Core { hub: Hub::new(state, settings, history) }
    }

    /// Handles one relay message. Returns `{reply, record, persist, recovered, alarm_at_ms}`;
    /// malformed input gives `{reply: null}` and is counted.
    pub fn handle(&mut self, message: JsValue, sender: JsValue) -> JsValue {
        let outcome = match (serde_wasm_bindgen::from_value::<CsMessage>(message), serde_wasm_bindgen::from_value::<Sender>(sender)) {
            (Ok(message), Ok(sender)) => self.hub.handle(message, sender, js_sys::Math::random()),
            _ => self.hub.reject(),
        };
        outcome_to_js(&outcome)
    }

    /// The silence check fired: `[{tab_id, outcome}]` for each stream found dead, whose reply the
    /// background sends to that tab unasked.
    pub fn stalled(&mut self, now_ms: f64) -> JsValue {
        let list = js_sys::Array::new();
        for (tab_id, outcome) in self.hub.stalled(now_ms) {
            let item = js_sys::Object::new();
            set(&item, "tab_id", &tab_id.into());
            set(&item, "outcome", &outcome_to_js(&outcome));
            list.push(&item);
        }
        list.into()
    }

    /// Handles a message from the popup or options page; `null` if malformed.
    #[wasm_bindgen(js_name = handleUi)]
    pub fn handle_ui(&mut self, message: JsValue) -> JsValue {
        match serde_wasm_bindgen::from_value::<UiMessage>(message) {
            Ok(message) => to_js(&self.hub.handle_ui(message)),
            Err(_) => JsValue::NULL,
        }
    }

    pub fn state(&self) -> JsValue {
        to_js(self.hub.state())
    }

    pub fn history(&self) -> JsValue {
        to_js(self.hub.history())
    }

    pub fn settings(&self) -> JsValue {
        to_js(self.hub.settings())
    }

    /// Settings changed elsewhere (another device, through sync).
    #[wasm_bindgen(js_name = applyStoredSettings)]
    pub fn apply_stored_settings(&mut self, settings: JsValue) {
        let settings = Settings::from_stored(serde_wasm_bindgen::from_value::<Settings>(settings).ok());
        self.hub.set_settings(settings);
    }

    #[wasm_bindgen(js_name = overdueTabs)]
    pub fn overdue_tabs(&self, now_ms: f64) -> Vec<i32> {
        self.hub.overdue_tabs(now_ms)
    }

    #[wasm_bindgen(js_name = forgetTab)]
    pub fn forget_tab(&mut self, tab_id: i32) {
        self.hub.forget_tab(tab_id);
    }

    #[wasm_bindgen(js_name = droppedMessages)]
    pub fn dropped_messages(&self) -> u32 {
        self.hub.dropped_messages()
    }
}
