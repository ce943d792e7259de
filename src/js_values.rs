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
    json_of(&value, 0, &mut false)
}

/// A message: unlike a stored value, one past the caps is refused whole, not cut.
pub fn from_js<T: FromJson>(value: JsValue) -> Option<T> {
    let mut cut = false;
    let json = json_of(&value, 0, &mut cut);
    if cut {
        return None;
    }
    T::from_json(&json)
}

/// `cut` is set when something past the caps was left out.
fn json_of(value: &JsValue, depth: usize, cut: &mut bool) -> Json {
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
    } else if !value.is_object() {
        Json::Null
    } else if depth >= MAX_DEPTH {
        *cut = true;
        Json::Null
    } else if Array::is_array(value) {
        // `isArray`, not `instanceof`: a list from another realm is still a list.
        let list: &Array = value.unchecked_ref();
        *cut |= list.length() as usize > MAX_ENTRIES;
        Json::Array(list.iter().take(MAX_ENTRIES).map(|item| json_of(&item, depth + 1, cut)).collect())
    } else {
        let entries = Object::entries(value.unchecked_ref());
        *cut |= entries.length() as usize > MAX_ENTRIES;
        let mut fields = Vec::new();
        for entry in entries.iter().take(MAX_ENTRIES) {
            let entry: Array = entry.unchecked_into();
            let (Some(name), value) = (entry.get(0).as_string(), entry.get(1)) else { continue };
            if !value.is_undefined() {
                fields.push((name, json_of(&value, depth + 1, cut)));
            }
        }
        Json::Object(fields)
    }
}
