//! Reading what was stored by another version of Unbusy, or damaged: field by field, so one bad
//! value costs only itself. The protocol's messages stay strict; this is for stored state and for
//! what the extension's own pages gather from storage.
//!
//! Everything is read from an owned `serde_json::Value`, as the bindings read every message: each
//! other deserializer would add a copy of every type's reader to the WASM.

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A damaged list or map is read entry by entry up to this many entries (later ones are dropped):
/// each entry is tried on its own, and storage may hold anything.
pub const MAX_ENTRIES: usize = 1024;

/// Reads a `T` from stored JSON. If it does not fit as a whole, each top-level field is tried on
/// its own over `T::default()`: a field that does not fit keeps its default, unknown fields are
/// ignored, and a list (or map) keeps the entries that fit.
pub fn field_by_field<T: Serialize + DeserializeOwned + Default>(stored: &Value) -> T {
    if let Ok(whole) = T::deserialize(stored.clone()) {
        return whole;
    }
    let (Value::Object(fields), Ok(Value::Object(defaults))) = (stored, serde_json::to_value(T::default())) else {
        return T::default();
    };
    let fits = |name: &str, candidate: Value| {
        let mut trial = defaults.clone();
        trial.insert(name.to_string(), candidate);
        T::deserialize(Value::Object(trial)).is_ok()
    };
    let mut merged = defaults.clone();
    for (name, value) in fields.iter().filter(|(name, _)| defaults.contains_key(*name)) {
        let kept = if fits(name, value.clone()) {
            Some(value.clone())
        } else {
            match value {
                Value::Array(items) => {
                    Some(Value::Array(items.iter().take(MAX_ENTRIES).filter(|item| fits(name, Value::Array(vec![(*item).clone()]))).cloned().collect()))
                }
                Value::Object(entries) => {
                    let single = |key: &String, entry: &Value| Value::Object(Map::from_iter([(key.clone(), entry.clone())]));
                    let kept: Map<String, Value> =
                        entries.iter().take(MAX_ENTRIES).filter(|(k, e)| fits(name, single(k, e))).map(|(k, e)| (k.clone(), e.clone())).collect();
                    Some(Value::Object(kept))
                }
                _ => None,
            }
            .filter(|candidate| fits(name, candidate.clone()))
        };
        if let Some(kept) = kept {
            merged.insert(name.clone(), kept);
        }
    }
    T::deserialize(Value::Object(merged)).unwrap_or_default()
}

/// `#[serde(deserialize_with = "lenient::deserialize")]`: `field_by_field` inside a strict message.
pub fn deserialize<'de, D: Deserializer<'de>, T: Serialize + DeserializeOwned + Default>(deserializer: D) -> Result<T, D::Error> {
    let stored = Value::deserialize(deserializer)?;
    Ok(field_by_field(&stored))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Sample {
        count: u32,
        names: Vec<String>,
        seen: BTreeMap<String, f64>,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn bad_fields_keep_their_defaults_and_lists_keep_what_fits() {
        let stored = serde_json::json!({"count": "many", "names": ["a", 1, "b"], "seen": {"x": 1.5, "y": "no"}, "note": "kept", "from_the_future": true});
        let sample: Sample = field_by_field(&stored);
        assert_eq!(sample, Sample { count: 0, names: vec!["a".into(), "b".into()], seen: BTreeMap::from([("x".into(), 1.5)]), note: Some("kept".into()) });
        assert_eq!(field_by_field::<Sample>(&Value::Null), Sample::default());
        assert_eq!(field_by_field::<Sample>(&serde_json::json!([1, 2])), Sample::default());
    }
}
