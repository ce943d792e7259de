//! The only module that knows about JavaScript: it turns JS values into protocol types and back.

use wasm_bindgen::prelude::*;

use crate::diagnose::view::CoreFaults;
use crate::effects::{self, Effect, Stored};
use crate::hub::Hub;
use crate::js_values::{from_js, stored, to_js};
use crate::protocol::{storage_key, CsMessage, Sender, UiMessage, MAX_CHUNK_BYTES};
use crate::restore;
use crate::settings::Settings;
use crate::watch::DropReason;

/// The background's module runs single-threaded (no `atomics`), as `WasmDynamicTalc` requires.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Whether a relay message carries more body bytes than any chunk may (one char per byte):
/// checked on the JavaScript string, before it is copied into the core's memory.
fn oversized_chunk(message: &JsValue) -> bool {
    let bytes = js_sys::Reflect::get(message, &JsValue::from_str("bytes")).unwrap_or(JsValue::UNDEFINED);
    bytes.dyn_ref::<js_sys::JsString>().is_some_and(|text| text.length() as usize > MAX_CHUNK_BYTES)
}

fn set(target: &js_sys::Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &key.into(), value);
}

/// `{reply, effects}`.
fn answer(reply: JsValue, effects: JsValue) -> JsValue {
    let result = js_sys::Object::new();
    set(&result, "reply", &reply);
    set(&result, "effects", &effects);
    result.into()
}

/// The background's core. One instance lives as long as the background does; its state is
/// handed back to JavaScript for storage whenever it changes.
#[wasm_bindgen]
pub struct Core {
    hub: Hub,
}

impl Core {
    /// The effects as the background carries them out: `{do, …}` each; what to store is read
    /// from the core now, with where it goes.
    fn effects(&self, effects: &[Effect]) -> JsValue {
        let list = js_sys::Array::new();
        for effect in effects {
            let Effect::Store { what } = effect else {
                list.push(&to_js(effect));
                continue;
            };
            let (area, key, value) = match what {
                Stored::State => ("session", storage_key("hubState"), to_js(self.hub.state())),
                Stored::History => ("local", storage_key("busyHistory"), to_js(self.hub.history())),
                Stored::Settings => ("sync", storage_key("settings"), to_js(self.hub.settings())),
            };
            let store = js_sys::Object::new();
            set(&store, "do", &"store".into());
            set(&store, "area", &area.into());
            set(&store, "key", &key.into());
            set(&store, "value", &value);
            list.push(&store);
        }
        list.into()
    }
}

#[wasm_bindgen]
impl Core {
    /// `state`, `settings` and `history` as stored: read field by field and range-checked
    /// (anything unreadable keeps its default; see `restore`).
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, settings: JsValue, history: JsValue) -> Core {
        Core { hub: restore::hub_from_storage(&stored(state), &stored(settings), &stored(history), js_sys::Date::now()) }
    }

    /// Handles one relay message: `{reply, effects}`; malformed input gives no reply and is counted.
    pub fn handle(&mut self, message: JsValue, sender: JsValue) -> JsValue {
        let (outcome, tab_id) = if oversized_chunk(&message) {
            (self.hub.refuse(DropReason::OversizedChunk), 0)
        } else {
            match (from_js::<CsMessage>(message), from_js::<Sender>(sender)) {
                (Some(message), Some(sender)) => (self.hub.handle(message, sender, js_sys::Math::random()), sender.tab_id),
                _ => (self.hub.reject(), 0),
            }
        };
        answer(to_js(&outcome.reply), self.effects(&effects::of_outcome(&outcome, tab_id)))
    }

    /// Handles a message from the popup or options page: `{reply, effects}` (no reply if malformed).
    #[wasm_bindgen(js_name = handleUi)]
    pub fn handle_ui(&mut self, message: JsValue) -> JsValue {
        match from_js::<UiMessage>(message) {
            Some(message) => {
                let (reply, effects) = effects::on_ui(&mut self.hub, message, js_sys::Date::now());
                answer(to_js(&reply), self.effects(&effects))
            }
            None => answer(JsValue::NULL, js_sys::Array::new().into()),
        }
    }

    /// One of the alarms the effects set fired: what follows, as effects.
    pub fn alarm(&mut self, name: &str, now_ms: f64) -> JsValue {
        let effects = effects::on_alarm(&mut self.hub, name, now_ms);
        self.effects(&effects)
    }

    #[wasm_bindgen(js_name = forgetTab)]
    pub fn forget_tab(&mut self, tab_id: i32) -> JsValue {
        let effects = effects::on_tab_removed(&mut self.hub, tab_id);
        self.effects(&effects)
    }

    /// Settings changed elsewhere (another device, through sync).
    #[wasm_bindgen(js_name = applyStoredSettings)]
    pub fn apply_stored_settings(&mut self, settings: JsValue) {
        self.hub.set_settings(Settings::from_stored_value(&stored(settings)));
    }

    /// The background restarted the core after a fault: `count` so far, the latest at `last_ms`.
    #[wasm_bindgen(js_name = noteCoreFaults)]
    pub fn note_core_faults(&mut self, count: u32, last_ms: f64) {
        self.hub.note_core_faults(CoreFaults { count, last_ms });
    }
}
