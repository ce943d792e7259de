//! JavaScript values in and out, for the WASM modules (the background's `bindings` and the
//! popup's module in ui/): every value is read through JSON, so the WASM holds one reader per
//! type (see `lenient`), and written as plain JSON-compatible objects.

use serde::Serialize;
use wasm_bindgen::JsValue;

pub fn to_js<T: Serialize>(value: &T) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

/// A JavaScript value as JSON (`Null` if absent or not representable).
pub fn stored(value: JsValue) -> serde_json::Value {
    serde_wasm_bindgen::from_value(value).unwrap_or(serde_json::Value::Null)
}

pub fn from_js<T: serde::de::DeserializeOwned>(value: JsValue) -> Option<T> {
    serde_json::from_value(stored(value)).ok()
}
