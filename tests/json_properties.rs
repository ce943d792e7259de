//! The core's JSON reader (`unbusy::json`), which reads what the page streams, held to serde_json
//! as the oracle: the same values from the same text, and the same texts refused, mutated ones
//! included; and derived readers and writers that give back what they were given.

use proptest::prelude::*;
use serde_json::Value;
use unbusy::hub::HubState;
use unbusy::json::{FromJson, Json, ToJson};

/// serde_json's value as the core's, converted by structure (no text, so no reader involved).
fn oracle(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(flag) => Json::Bool(*flag),
        Value::Number(number) => Json::Number(number.as_f64().expect("finite")),
        Value::String(text) => Json::String(text.clone()),
        Value::Array(items) => Json::Array(items.iter().map(oracle).collect()),
        Value::Object(fields) => Json::Object(fields.iter().map(|(name, value)| (name.clone(), oracle(value))).collect()),
    }
}

/// The same value: object fields compared by name, numbers within a unit in the last place or so
/// (past 10^±22 the core's reader rounds once more than serde_json's; it reads codes and times).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-15,
        (Json::Array(xs), Json::Array(ys)) => xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y)),
        (Json::Object(xs), Json::Object(ys)) => {
            let sorted = |fields: &[(String, Json)]| {
                let mut fields = fields.to_vec();
                fields.sort_by(|p, q| p.0.cmp(&q.0));
                fields
            };
            let (xs, ys) = (sorted(xs), sorted(ys));
            xs.len() == ys.len() && xs.iter().zip(&ys).all(|((k, x), (l, y))| k == l && same(x, y))
        }
        _ => a == b,
    }
}

/// Whether no object, however deep, repeats a name.
fn distinct_names(json: &Json) -> bool {
    match json {
        Json::Array(items) => items.iter().all(distinct_names),
        Json::Object(fields) => fields.iter().enumerate().all(|(i, (name, value))| fields[..i].iter().all(|(other, _)| other != name) && distinct_names(value)),
        _ => true,
    }
}

/// JSON values of the shapes the page sends: short decimals, text with escapes and CJK, nesting.
fn values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 100.0)),
        any::<i64>().prop_map(|n| Value::from(n >> 11)),
        "[a-z\"\\\\/\\n\\t\u{7f}\u{4e00}-\u{4e10}\u{1F600}]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{0,6}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One edit of a text: a byte deleted, or one of JSON's own characters put somewhere.
fn mutated(text: &str, at: usize, insert: Option<char>) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let at = at % (chars.len() + 1);
    match insert {
        Some(c) => chars.insert(at, c),
        None if at < chars.len() => drop(chars.remove(at)),
        None => {}
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_reader_gives_what_serde_json_gives(value in values(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&value).unwrap() } else { value.to_string() };
        prop_assert_eq!(Json::parse(&text), Some(oracle(&value)));
        prop_assert_eq!(Json::parse(&oracle(&value).to_text()), Some(oracle(&value)), "its own text reads back");
    }

    #[test]
    fn a_mutated_text_is_refused_exactly_when_serde_json_refuses_it(
        value in values(),
        at in any::<usize>(),
        insert in proptest::option::of(prop_oneof![Just('{'), Just('}'), Just('['), Just(']'), Just(','), Just(':'), Just('"'), Just('\\'), Just('-'), Just('0'), Just('.'), Just('e'), Just(' '), Just('\u{1}')]),
    ) {
        let text = mutated(&value.to_string(), at, insert);
        let ours = Json::parse(&text);
        let theirs = serde_json::from_str::<Value>(&text).ok();
        // Duplicate names are where the two differ by design: serde_json's map keeps the last
        // under the first's place, the core keeps both and reads the last (as JavaScript does).
        if !text.contains("\\u") {
            prop_assert_eq!(ours.is_some(), theirs.is_some(), "{}", text);
        }
        if let (Some(ours), Some(theirs)) = (ours, theirs) {
            if distinct_names(&ours) {
                prop_assert!(same(&ours, &oracle(&theirs)), "{}", text);
            }
        }
    }
}

#[test]
fn a_stored_state_reads_back_as_it_was_written() {
    let state = HubState::default();
    assert_eq!(HubState::from_json(&state.to_json()), Some(state.clone()));
    assert_eq!(HubState::from_json(&Json::parse(&state.to_json().to_text()).unwrap()), Some(state));
}
