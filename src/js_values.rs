//! JavaScript values in and out, for the WASM modules (the background's `bindings` and the
//! popup's module in ui/): walked into the core's `Json` and built back from it, with no JSON text
//! in between (so no number formatting in the WASM).

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::json::{FromJson, Json, ToJson};
use crate::lenient::MAX_ENTRIES;

/// Deeper than anything the extension stores or sends; a deeper value is cut there (`Null`).
const MAX_DEPTH: usize = 32;

pub fn to_js<T: ToJson>(value: &T) -> JsValue {
    js_of(&value.to_json())
}

pub fn js_of(value: &Json) -> JsValue {
    match value {
        Json::Null => JsValue::NULL,
        Json::Bool(flag) => JsValue::from_bool(*flag),
        Json::Number(number) => JsValue::from_f64(*number),
        Json::String(text) => JsValue::from_str(text),
        Json::Array(items) => items.iter().map(js_of).collect::<Array>().into(),
        Json::Object(fields) => {
            let object = Object::new();
            for (name, value) in fields {
                let _ = Reflect::set(&object, &JsValue::from_str(name), &js_of(value));
            }
            object.into()
        }
    }
}

/// A JavaScript value as JSON: `undefined` fields are absent, functions and symbols `Null`, lists
/// and objects cut at `MAX_ENTRIES` entries and `MAX_DEPTH` levels (storage may hold anything).
pub fn stored(value: JsValue) -> Json {
    json_of(&value, 0)
}

fn json_of(value: &JsValue, depth: usize) -> Json {
    if let Some(flag) = value.as_bool() {
        Json::Bool(flag)
    } else if let Some(number) = value.as_f64() {
        if number.is_finite() {
            Json::Number(number)
        } else {
            Json::Null
        }
    } else if let Some(text) = value.as_string() {
        Json::String(text)
    } else if depth >= MAX_DEPTH || !value.is_object() {
        Json::Null
    } else if Array::is_array(value) {
        // `isArray`, not `instanceof`: a list from another realm is still a list.
        let list: &Array = value.unchecked_ref();
        Json::Array(list.iter().take(MAX_ENTRIES).map(|item| json_of(&item, depth + 1)).collect())
    } else {
        let entries = Object::entries(value.unchecked_ref());
        let fields = entries.iter().take(MAX_ENTRIES).filter_map(|entry| {
            let entry: Array = entry.unchecked_into();
            let (name, value) = (entry.get(0).as_string()?, entry.get(1));
            (!value.is_undefined()).then(|| (name, json_of(&value, depth + 1)))
        });
        Json::Object(fields.collect())
    }
}

pub fn from_js<T: FromJson>(value: JsValue) -> Option<T> {
    T::from_json(&stored(value))
}
