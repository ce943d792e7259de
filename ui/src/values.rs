//! The pages build and read browser objects with serde_json (`json!`, indexing); the core reads and
//! writes its own `Json`. These convert between the two, without text in between.

use serde_json::{Number, Value};
use unbusy::json::Json;

pub fn core_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(flag) => Json::Bool(*flag),
        Value::Number(number) => number.as_f64().map_or(Json::Null, Json::Number),
        Value::String(text) => Json::String(text.clone()),
        Value::Array(items) => Json::Array(items.iter().map(core_json).collect()),
        Value::Object(fields) => Json::Object(fields.iter().map(|(name, value)| (name.clone(), core_json(value))).collect()),
    }
}

pub fn serde_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(flag) => Value::Bool(*flag),
        // Whole numbers stay integers, as serde_json reads them from JavaScript's text.
        Json::Number(number) => match json.as_i64() {
            Some(whole) => Value::from(whole),
            None => Number::from_f64(*number).map_or(Value::Null, Value::Number),
        },
        Json::String(text) => Value::String(text.clone()),
        Json::Array(items) => Value::Array(items.iter().map(serde_value).collect()),
        Json::Object(fields) => Value::Object(fields.iter().map(|(name, value)| (name.clone(), serde_value(value))).collect()),
    }
}

/// A browser API argument written with `json!`.
#[cfg(target_arch = "wasm32")]
pub fn js(value: &Value) -> wasm_bindgen::JsValue {
    unbusy::js_values::js_of(&core_json(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cross_both_ways_unchanged() {
        let value = serde_json::json!({"a": [1, -2.5, null, true], "b": {"c": "d"}, "e": 9_007_199_254_740_991_i64});
        assert_eq!(serde_value(&core_json(&value)), value);
    }
}
