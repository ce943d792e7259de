//! Reading what was stored by another version of Unbusy, or damaged: field by field, so one bad
//! value costs only itself. The protocol's messages stay strict; this is for stored state and for
//! what the extension's own pages gather from storage.
//!
//! Everything is read from the core's own `Json` (see `json`), as every message is.

use crate::json::{FromJson, Json, ToJson};

/// A damaged list or map is read entry by entry up to this many entries (later ones are dropped):
/// each entry is tried on its own, and storage may hold anything.
pub const MAX_ENTRIES: usize = 1024;

/// Reads a `T` from stored JSON. If it does not fit as a whole, each top-level field is tried on
/// its own over `T::default()`: a field that does not fit keeps its default, unknown fields are
/// ignored, and a list (or map) keeps the entries that fit.
pub fn field_by_field<T: ToJson + FromJson + Default>(stored: &Json) -> T {
    if let Some(whole) = T::from_json(stored) {
        return whole;
    }
    let (Json::Object(fields), defaults @ Json::Object(_)) = (stored, T::default().to_json()) else {
        return T::default();
    };
    let fits = |name: &str, candidate: Json| {
        let mut trial = defaults.clone();
        trial.set(name, candidate);
        T::from_json(&trial).is_some()
    };
    let mut merged = defaults.clone();
    for (name, value) in fields.iter().filter(|(name, _)| defaults.get(name).is_some()) {
        let kept = if fits(name, value.clone()) {
            Some(value.clone())
        } else {
            match value {
                Json::Array(items) => {
                    Some(Json::Array(items.iter().take(MAX_ENTRIES).filter(|item| fits(name, Json::Array(vec![(*item).clone()]))).cloned().collect()))
                }
                Json::Object(entries) => {
                    let single = |key: &String, entry: &Json| Json::Object(vec![(key.clone(), entry.clone())]);
                    Some(Json::Object(entries.iter().take(MAX_ENTRIES).filter(|(k, e)| fits(name, single(k, e))).cloned().collect()))
                }
                _ => None,
            }
            .filter(|candidate| fits(name, candidate.clone()))
        };
        if let Some(kept) = kept {
            merged.set(name, kept);
        }
    }
    T::from_json(&merged).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::json::from_serde;

    #[derive(Debug, Default, PartialEq, ToJson, FromJson)]
    struct Sample {
        count: u32,
        names: Vec<String>,
        seen: BTreeMap<String, f64>,
        #[json(default)]
        note: Option<String>,
    }

    #[test]
    fn bad_fields_keep_their_defaults_and_lists_keep_what_fits() {
        let stored =
            from_serde(serde_json::json!({"count": "many", "names": ["a", 1, "b"], "seen": {"x": 1.5, "y": "no"}, "note": "kept", "from_the_future": true}));
        let sample: Sample = field_by_field(&stored);
        assert_eq!(sample, Sample { count: 0, names: vec!["a".into(), "b".into()], seen: BTreeMap::from([("x".into(), 1.5)]), note: Some("kept".into()) });
        assert_eq!(field_by_field::<Sample>(&Json::Null), Sample::default());
        assert_eq!(field_by_field::<Sample>(&from_serde(serde_json::json!([1, 2]))), Sample::default());
    }
}
