//! Unbusy's core: everything the extension decides, as plain Rust testable with `cargo test`.
//! Only `bindings` (the background's) and `js_values` know about JavaScript.

pub mod api_answer;
pub mod api_endpoint;
pub mod banner;
pub mod budget;
pub mod classify;
pub mod diagnose;
pub mod effects;
/// The fuzz targets' invariants, shared with `tests/fuzz_replay.rs`; not part of the extension.
#[doc(hidden)]
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzzing;
pub mod hub;
pub mod json;
pub mod lenient;
pub mod page_dom;
pub mod protocol;
pub mod restore;
pub mod retry;
pub mod settings;
pub mod signatures;
pub mod small_map;
pub mod sse;
/// Every text key the core can emit, for `cargo xtask tidy`; not part of the extension.
#[cfg(not(target_arch = "wasm32"))]
pub mod text_keys;
pub mod verdict;
pub mod watch;

#[cfg(all(target_arch = "wasm32", feature = "background"))]
mod bindings;
#[cfg(target_arch = "wasm32")]
pub mod js_values;

/// `value.clamp(lo, hi)` for `f64` without its panic message, whose `{:?}` of two floats would
/// bring float formatting (about 20 KiB) into the WASM. A NaN `value` gives `lo`.
pub(crate) fn bounded(value: f64, lo: f64, hi: f64) -> f64 {
    value.max(lo).min(hi)
}

/// A banner for tests of the wire format.
#[cfg(test)]
pub(crate) fn banner_sample() -> protocol::BannerView {
    match banner::hidden() {
        protocol::BgMessage::BgView { banner, .. } => *banner,
        protocol::BgMessage::BgAck => unreachable!(),
    }
}
