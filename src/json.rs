//! JSON values and the traits the protocol's types implement (`#[derive(ToJson, FromJson)]`,
//! from `unbusy-json-derive`): one reader and one writer per type, over one value type.
//!
//! Serde's derives and serde_json were most of the background's WASM (a reader per type and per
//! data format, Content buffering for tagged enums, float formatting); this keeps the same wire
//! shapes at a fraction of the size. JavaScript values become `Json` in `js_values` without text;
//! text is parsed only where the page's bytes are JSON (the stream classifier) and in tests.

use std::collections::BTreeMap;

pub use unbusy_json_derive::{FromJson, ToJson};

/// 2^53: past it, not every whole number has an `f64`.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Deepest nesting `parse` accepts (the page's answers are shallow; a deeper one is not ours).
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    /// Every number as JavaScript holds it.
    Number(f64),
    String(String),
    Array(Vec<Json>),
    /// Fields in their order; a repeated name's last value counts (`lookup`), as in JavaScript.
    Object(Vec<(String, Json)>),
}

pub trait ToJson {
    fn to_json(&self) -> Json;
}

pub trait FromJson: Sized {
    /// `None` when the value does not have this type's shape.
    fn from_json(value: &Json) -> Option<Self>;
}

/// The wire names of a unit-only or tagged enum's variants, in declaration order.
pub trait Variants {
    const NAMES: &'static [&'static str];
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        lookup(self.as_object()?, key)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// A whole number within `i64`'s range.
    pub fn as_i64(&self) -> Option<i64> {
        let number = self.as_f64()?;
        (number.fract() == 0.0 && number >= i64::MIN as f64 && number < i64::MAX as f64).then_some(number as i64)
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Json::Array(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Sets `key` (replacing every earlier value of it) on an object; other values are left alone.
    pub fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(fields) = self {
            fields.retain(|(name, _)| name != key);
            fields.push((key.to_string(), value));
        }
    }

    /// Strict JSON text (RFC 8259), nested at most `MAX_DEPTH` deep; `None` if it is not.
    /// Numbers are read to the nearest `f64` give or take one unit in the last place: the core
    /// reads codes and times, never amounts that need exact rounding.
    pub fn parse(text: &str) -> Option<Json> {
        let mut reader = Reader { bytes: text.as_bytes(), at: 0 };
        let value = reader.value(0)?;
        reader.skip_space();
        (reader.at == reader.bytes.len()).then_some(value)
    }

    /// JSON text. Not used by the extension's modules (JavaScript values need none), so the float
    /// formatting it brings stays out of their WASM.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
            Json::Number(number) if !number.is_finite() => out.push_str("null"),
            Json::Number(number) => match Json::Number(*number).as_i64() {
                Some(whole) => out.push_str(&whole.to_string()),
                None => out.push_str(&number.to_string()),
            },
            Json::String(text) => write_string(text, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(name, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A byte cursor over JSON text.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn word(&mut self, word: &str, value: Json) -> Option<Json> {
        let found = self.bytes[self.at..].starts_with(word.as_bytes());
        self.at += word.len();
        found.then_some(value)
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_space();
        match self.peek()? {
            b'n' => self.word("null", Json::Null),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'"' => self.string().map(Json::String),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            break;
                        }
                        self.eat(b',').then_some(())?;
                    }
                }
                Some(Json::Array(items))
            }
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.skip_space();
                        let name = self.string()?;
                        self.eat(b':').then_some(())?;
                        fields.push((name, self.value(depth + 1)?));
                        if self.eat(b'}') {
                            break;
                        }
                        self.eat(b',').then_some(())?;
                    }
                }
                Some(Json::Object(fields))
            }
            b'-' | b'0'..=b'9' => self.number().map(Json::Number),
            _ => None,
        }
    }

    fn digits(&mut self) -> (f64, i32) {
        let (mut value, mut count) = (0.0, 0);
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value * 10.0 + f64::from(digit - b'0');
            count += 1;
            self.at += 1;
        }
        (value, count)
    }

    fn number(&mut self) -> Option<f64> {
        let negative = self.peek() == Some(b'-');
        self.at += usize::from(negative);
        let leading_zero = self.peek() == Some(b'0');
        let (whole, count) = self.digits();
        if count == 0 || (leading_zero && count > 1) {
            return None;
        }
        let mut value = whole;
        let mut exponent = 0;
        if self.peek() == Some(b'.') {
            self.at += 1;
            let (fraction, count) = self.digits();
            if count == 0 {
                return None;
            }
            value = value * 10f64.powi(count) + fraction;
            exponent -= count;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let sign = match self.peek() {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            self.at += usize::from(sign != 0);
            let (power, count) = self.digits();
            if count == 0 {
                return None;
            }
            exponent = exponent.saturating_add(if sign < 0 { -(power.min(9999.0) as i32) } else { power.min(9999.0) as i32 });
        }
        // Powers of ten up to 10^22 are exact: dividing by one rounds correctly (0.3 reads as 0.3).
        // Beyond, two steps, so that a long fraction's 10^-n does not underflow before it is applied.
        let scaled = if value == 0.0 {
            0.0
        } else if (-22..0).contains(&exponent) {
            value / 10f64.powi(-exponent)
        } else if exponent < -300 {
            value * 10f64.powi(exponent + 300) * 1e-300
        } else {
            value * 10f64.powi(exponent)
        };
        let number = if negative { -scaled } else { scaled };
        number.is_finite().then_some(number)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        self.at += 4;
        digits.iter().try_fold(0, |sum, digit| Some(sum * 16 + char::from(*digit).to_digit(16)?))
    }

    fn string(&mut self) -> Option<String> {
        (self.peek() == Some(b'"')).then_some(())?;
        self.at += 1;
        let mut out = String::new();
        loop {
            let start = self.at;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.at += 1;
            }
            // The text came in as `&str` and the stops are ASCII: the run is whole UTF-8.
            out.push_str(std::str::from_utf8(&self.bytes[start..self.at]).ok()?);
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.at += 1;
                    let escaped = self.peek()?;
                    self.at += 1;
                    out.push(match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.escaped_char()?,
                        _ => return None,
                    });
                }
                _ => return None,
            }
        }
    }

    /// `\uXXXX`, or a surrogate pair of them; a lone surrogate reads as U+FFFD.
    fn escaped_char(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.bytes[self.at..].starts_with(b"\\u") {
            let back = self.at;
            self.at += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                return char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00));
            }
            self.at = back;
        }
        Some(char::from_u32(first).unwrap_or('\u{FFFD}'))
    }
}

/// An object from its fields in order, those without a value left out (what the derive writes).
pub fn object(fields: &[(&str, Option<&dyn ToJson>)]) -> Json {
    Json::Object(fields.iter().filter_map(|(name, value)| Some((name.to_string(), (*value)?.to_json()))).collect())
}

/// The last value of `name` among an object's fields.
pub fn lookup<'a>(fields: &'a [(String, Json)], name: &str) -> Option<&'a Json> {
    fields.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value)
}

/// A required field (an absent one reads as `null`, which only an `Option` accepts).
pub fn field<T: FromJson>(fields: &[(String, Json)], name: &str) -> Option<T> {
    T::from_json(lookup(fields, name).unwrap_or(&Json::Null))
}

/// A field that takes `default` when absent (a present one must fit).
pub fn field_or<T: FromJson>(fields: &[(String, Json)], name: &str, default: T) -> Option<T> {
    match lookup(fields, name) {
        Some(value) => T::from_json(value),
        None => Some(default),
    }
}

/// Whether every field is one of `known` (`deny_unknown_fields`).
pub fn only_known(fields: &[(String, Json)], known: &[&str]) -> bool {
    fields.iter().all(|(name, _)| known.contains(&name.as_str()))
}

impl ToJson for Json {
    fn to_json(&self) -> Json {
        self.clone()
    }
}

impl FromJson for Json {
    fn from_json(value: &Json) -> Option<Self> {
        Some(value.clone())
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Json {
        Json::Bool(*self)
    }
}

impl FromJson for bool {
    fn from_json(value: &Json) -> Option<Self> {
        value.as_bool()
    }
}

impl ToJson for f64 {
    fn to_json(&self) -> Json {
        Json::Number(*self)
    }
}

impl FromJson for f64 {
    fn from_json(value: &Json) -> Option<Self> {
        value.as_f64()
    }
}

/// Whole numbers within the type's range and within JavaScript's exact integers (|n| ≤ 2^53), as
/// serde-wasm-bindgen read them: a larger one is not a count or a time of ours.
macro_rules! whole_numbers {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Json {
                Json::Number(*self as f64)
            }
        }
        impl FromJson for $t {
            fn from_json(value: &Json) -> Option<Self> {
                let number = value.as_f64()?;
                let exact = number.fract() == 0.0 && number.abs() <= MAX_EXACT_INTEGER;
                (exact && number >= <$t>::MIN as f64 && number <= <$t>::MAX as f64).then_some(number as $t)
            }
        }
    )*};
}
whole_numbers!(u8, u16, u32, u64, usize, i32, i64);

impl ToJson for String {
    fn to_json(&self) -> Json {
        Json::String(self.clone())
    }
}

impl ToJson for &str {
    fn to_json(&self) -> Json {
        Json::String(self.to_string())
    }
}

impl FromJson for String {
    fn from_json(value: &Json) -> Option<Self> {
        value.as_str().map(String::from)
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Json {
        self.as_ref().map_or(Json::Null, ToJson::to_json)
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: &Json) -> Option<Self> {
        match value {
            Json::Null => Some(None),
            value => T::from_json(value).map(Some),
        }
    }
}

impl<T: ToJson> ToJson for Box<T> {
    fn to_json(&self) -> Json {
        (**self).to_json()
    }
}

impl<T: FromJson> FromJson for Box<T> {
    fn from_json(value: &Json) -> Option<Self> {
        T::from_json(value).map(Box::new)
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Json {
        Json::Array(self.iter().map(ToJson::to_json).collect())
    }
}

impl<T: ToJson> ToJson for &[T] {
    fn to_json(&self) -> Json {
        Json::Array(self.iter().map(ToJson::to_json).collect())
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: &Json) -> Option<Self> {
        // A loop, not `collect::<Option<_>>()`: one small function per element type in the WASM.
        let items = value.as_array()?;
        let mut read = Vec::with_capacity(items.len());
        for item in items {
            read.push(T::from_json(item)?);
        }
        Some(read)
    }
}

impl<T: ToJson> ToJson for BTreeMap<String, T> {
    fn to_json(&self) -> Json {
        Json::Object(self.iter().map(|(key, value)| (key.clone(), value.to_json())).collect())
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(value: &Json) -> Option<Self> {
        value.as_object()?.iter().map(|(key, value)| Some((key.clone(), T::from_json(value)?))).collect()
    }
}

/// Tests and build tools write values with serde_json's `json!`; this reads one as the core's own.
#[cfg(not(target_arch = "wasm32"))]
pub fn from_serde(value: serde_json::Value) -> Json {
    Json::parse(&value.to_string()).expect("json! writes JSON")
}

/// The core's value as serde_json's, for tests and build tools.
#[cfg(not(target_arch = "wasm32"))]
pub fn to_serde(value: &Json) -> serde_json::Value {
    serde_json::from_str(&value.to_text()).expect("to_text writes JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reads_as_json_and_back() {
        let text = r#"{"a":[1,-2.5,3e2,true,null],"b":"x\"\\\n\u00e9\ud83d\ude00","a":{"c":{}}}"#;
        let value = Json::parse(text).expect("valid JSON");
        assert_eq!(value.get("a"), Some(&Json::Object(vec![("c".into(), Json::Object(vec![]))])), "the last of a repeated name counts");
        assert_eq!(value.get("b").and_then(Json::as_str), Some("x\"\\\né😀"));
        let first = value.as_object().unwrap()[0].1.clone();
        assert_eq!(first, Json::Array(vec![Json::Number(1.0), Json::Number(-2.5), Json::Number(300.0), Json::Bool(true), Json::Null]));
        assert_eq!(Json::parse(&value.to_text()), Some(value));
    }

    #[test]
    fn numbers_read_as_javascript_would() {
        for (text, number) in [("0", 0.0), ("-0.5", -0.5), ("12345678901234567", 12345678901234567.0), ("1.5e-3", 0.0015), ("1E+2", 100.0), ("0e400", 0.0)] {
            let read = Json::parse(text).and_then(|v| v.as_f64()).unwrap();
            assert!((read - number).abs() <= number.abs() * 1e-15, "{text}: {read}");
        }
        assert_eq!(Json::parse("0.3"), Some(Json::Number(0.3)), "exact where the power of ten is");
        assert_eq!(Json::parse("123.456"), Some(Json::Number(123.456)));
        for bad in ["01", "1.", ".5", "-", "1e", "+1", "1e999", "NaN", "0x10"] {
            assert_eq!(Json::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn malformed_or_too_deep_text_is_refused() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"\u{1}\"", "\"\\x\"", "nul", "[1] 2", "{1:2}"] {
            assert_eq!(Json::parse(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(Json::parse(&deep), None);
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Json::parse(&fine).is_some());
        assert_eq!(Json::parse(r#""\ud800x""#), Some(Json::String("\u{FFFD}x".into())), "a lone surrogate is replaced");
    }

    #[test]
    fn whole_numbers_keep_to_their_range() {
        assert_eq!(u8::from_json(&Json::Number(255.0)), Some(255));
        assert_eq!(u8::from_json(&Json::Number(256.0)), None);
        assert_eq!(u32::from_json(&Json::Number(-1.0)), None);
        assert_eq!(u32::from_json(&Json::Number(1.5)), None);
        assert_eq!(i32::from_json(&Json::Number(-3.0)), Some(-3));
        assert_eq!(u64::from_json(&Json::Number(9_007_199_254_740_992.0)), Some(1 << 53));
        assert_eq!(u64::from_json(&Json::Number(1e19)), None, "past JavaScript's exact integers");
        assert_eq!(i64::from_json(&Json::Number(-1e300)), None);
        assert_eq!(Option::<u32>::from_json(&Json::Null), Some(None));
        assert_eq!(Vec::<u32>::from_json(&Json::parse("[1,2,\"3\"]").unwrap()), None);
    }
}
