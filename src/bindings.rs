//! The only module that knows about JavaScript: it turns JS values into protocol types and back.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::protocol::{CsMessage, Sender};
use crate::watch::Watcher;

fn to_js<T: Serialize>(value: &T) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

/// The background's core. One instance lives as long as the background does.
#[wasm_bindgen]
pub struct Core {
    watcher: Watcher,
}

#[wasm_bindgen]
impl Core {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Core {
        Core { watcher: Watcher::new() }
    }

    /// Handles one relay message. Returns `{reply, record}`; malformed input gives `{reply: null}`.
    pub fn handle(&mut self, message: JsValue, sender: JsValue) -> JsValue {
        let outcome = match (serde_wasm_bindgen::from_value::<CsMessage>(message), serde_wasm_bindgen::from_value::<Sender>(sender)) {
            (Ok(message), Ok(sender)) => self.watcher.handle(message, sender),
            _ => self.watcher.reject(),
        };
        let result = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&result, &"reply".into(), &to_js(&outcome.reply));
        let _ = js_sys::Reflect::set(&result, &"record".into(), &to_js(&outcome.record));
        result.into()
    }

    #[wasm_bindgen(js_name = forgetTab)]
    pub fn forget_tab(&mut self, tab_id: i32) {
        self.watcher.forget_tab(tab_id);
    }

    #[wasm_bindgen(js_name = droppedMessages)]
    pub fn dropped_messages(&self) -> u32 {
        self.watcher.dropped_messages
    }
}

impl Default for Core {
    fn default() -> Self {
        Self::new()
    }
}
