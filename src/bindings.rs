//! The only module that knows about JavaScript: it turns JS values into protocol types and back.

use wasm_bindgen::prelude::*;

use crate::diagnose::view::CoreFaults;
use crate::hub::{Hub, Outcome};
use crate::js_values::{from_js, stored, to_js};
use crate::protocol::{CsMessage, Sender, UiMessage, MAX_CHUNK_BYTES};
use crate::restore;
use crate::settings::Settings;
use crate::watch::DropReason;

/// Whether a relay message carries more body bytes than any chunk may (one char per byte):
/// checked on the JavaScript string, before it is copied into the core's memory.
fn oversized_chunk(message: &JsValue) -> bool {
    let bytes = js_sys::Reflect::get(message, &JsValue::from_str("bytes")).unwrap_or(JsValue::UNDEFINED);
    bytes.dyn_ref::<js_sys::JsString>().is_some_and(|text| text.length() as usize > MAX_CHUNK_BYTES)
}

fn set(target: &js_sys::Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &key.into(), value);
}

/// `{reply, record, persist, badge, notice, alarm_at_ms, history_changed, silence_check_at_ms}`.
fn outcome_to_js(outcome: &Outcome) -> JsValue {
    let result = js_sys::Object::new();
    set(&result, "reply", &to_js(&outcome.reply));
    set(&result, "record", &to_js(&outcome.record));
    set(&result, "persist", &outcome.persist.into());
    set(&result, "badge", &to_js(&outcome.badge));
    set(&result, "notice", &to_js(&outcome.notice));
    set(&result, "alarm_at_ms", &to_js(&outcome.alarm_at_ms));
    set(&result, "history_changed", &outcome.history_changed.into());
    set(&result, "silence_check_at_ms", &to_js(&outcome.silence_check_at_ms));
    result.into()
}

fn tab_outcomes(list: Vec<(i32, Outcome)>) -> JsValue {
    let array = js_sys::Array::new();
    for (tab_id, outcome) in list {
        let item = js_sys::Object::new();
        set(&item, "tab_id", &tab_id.into());
        set(&item, "outcome", &outcome_to_js(&outcome));
        array.push(&item);
    }
    array.into()
}

/// The background's core. One instance lives as long as the background does; its state is
/// handed back to JavaScript for storage whenever it changes.
#[wasm_bindgen]
pub struct Core {
    hub: Hub,
}

#[wasm_bindgen]
impl Core {
    /// `state`, `settings` and `history` as stored: read field by field and range-checked
    /// (anything unreadable keeps its default; see `restore`).
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, settings: JsValue, history: JsValue) -> Core {
        Core { hub: restore::hub_from_storage(&stored(state), &stored(settings), &stored(history), js_sys::Date::now()) }
    }

    /// Handles one relay message. Returns the outcome (`outcome_to_js`);
    /// malformed input gives `{reply: null}` and is counted.
    pub fn handle(&mut self, message: JsValue, sender: JsValue) -> JsValue {
        let outcome = if oversized_chunk(&message) {
            self.hub.refuse(DropReason::OversizedChunk)
        } else {
            match (from_js::<CsMessage>(message), from_js::<Sender>(sender)) {
                (Some(message), Some(sender)) => self.hub.handle(message, sender, js_sys::Math::random()),
                _ => self.hub.reject(),
            }
        };
        outcome_to_js(&outcome)
    }

    /// The silence alarm fired: `{found: [{tab_id, outcome}], next_check_at_ms}`, one entry for each
    /// stream found dead (the background sends its reply to that tab unasked), and when to check next.
    pub fn stalled(&mut self, now_ms: f64) -> JsValue {
        let (found, next) = self.hub.stalled(now_ms);
        let result = js_sys::Object::new();
        set(&result, "found", &tab_outcomes(found));
        set(&result, "next_check_at_ms", &to_js(&next));
        result.into()
    }

    /// The backstop alarm fired: `[{tab_id, outcome}]` for the tabs whose timer is overdue.
    pub fn overdue(&mut self, now_ms: f64) -> JsValue {
        tab_outcomes(self.hub.overdue(now_ms))
    }

    /// Handles a message from the popup or options page; `null` if malformed.
    #[wasm_bindgen(js_name = handleUi)]
    pub fn handle_ui(&mut self, message: JsValue) -> JsValue {
        match from_js::<UiMessage>(message) {
            Some(message) => to_js(&self.hub.handle_ui(message, js_sys::Date::now())),
            None => JsValue::NULL,
        }
    }

    /// The pause alarm fired: `{until_ms, badge}` (a pause since extended is not ended).
    #[wasm_bindgen(js_name = pauseState)]
    pub fn pause_state(&mut self, now_ms: f64) -> JsValue {
        to_js(&self.hub.pause_reply(now_ms))
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
        self.hub.set_settings(Settings::from_stored_value(&stored(settings)));
    }

    #[wasm_bindgen(js_name = forgetTab)]
    pub fn forget_tab(&mut self, tab_id: i32) {
        self.hub.forget_tab(tab_id);
    }

    #[wasm_bindgen(js_name = droppedMessages)]
    pub fn dropped_messages(&self) -> u32 {
        self.hub.dropped_messages()
    }

    /// Refused page messages by reason (`watch::DropCounts`).
    pub fn drops(&self) -> JsValue {
        to_js(&self.hub.drops())
    }

    /// The background restarted the core after a fault: `count` so far, the latest at `last_ms`.
    #[wasm_bindgen(js_name = noteCoreFaults)]
    pub fn note_core_faults(&mut self, count: u32, last_ms: f64) {
        self.hub.note_core_faults(CoreFaults { count, last_ms });
    }
}
