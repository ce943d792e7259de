//! The parts of the WebExtension API the popup and options pages use, typed for Rust. web-sys
//! covers the web platform only; the extension namespace is declared here. Both browsers'
//! namespaces return promises in Manifest V3.
//!
//! Calls that need the user's click (`permissions.request`) return the promise itself: they must
//! be made inside the click's handler, before anything is awaited.

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `browser` (Firefox) or `chrome` (Chromium).
    pub type Api;
    #[wasm_bindgen(method, getter)]
    pub fn runtime(this: &Api) -> Runtime;
    #[wasm_bindgen(method, getter)]
    pub fn storage(this: &Api) -> Storage;
    #[wasm_bindgen(method, getter)]
    pub fn i18n(this: &Api) -> I18n;
    #[wasm_bindgen(method, getter)]
    pub fn tabs(this: &Api) -> Tabs;
    #[wasm_bindgen(method, getter)]
    pub fn permissions(this: &Api) -> Permissions;
    /// Present only once the optional permission is granted.
    #[wasm_bindgen(method, getter)]
    pub fn management(this: &Api) -> Option<Management>;
    #[wasm_bindgen(method, getter)]
    pub fn cookies(this: &Api) -> Option<Cookies>;
    #[wasm_bindgen(method, getter, js_name = browsingData)]
    pub fn browsing_data(this: &Api) -> Option<BrowsingData>;

    pub type Runtime;
    #[wasm_bindgen(method, getter)]
    pub fn id(this: &Runtime) -> String;
    #[wasm_bindgen(method, js_name = getURL)]
    pub fn get_url(this: &Runtime, path: &str) -> String;
    #[wasm_bindgen(method, js_name = getManifest)]
    pub fn get_manifest(this: &Runtime) -> JsValue;
    #[wasm_bindgen(method, js_name = getPlatformInfo)]
    pub fn get_platform_info(this: &Runtime) -> Promise;
    #[wasm_bindgen(method, js_name = sendMessage)]
    pub fn send_message(this: &Runtime, message: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = openOptionsPage)]
    pub fn open_options_page(this: &Runtime) -> Promise;

    pub type Storage;
    #[wasm_bindgen(method, getter)]
    pub fn session(this: &Storage) -> StorageArea;
    #[wasm_bindgen(method, getter)]
    pub fn local(this: &Storage) -> StorageArea;
    #[wasm_bindgen(method, getter)]
    pub fn sync(this: &Storage) -> StorageArea;
    #[wasm_bindgen(method, getter, js_name = onChanged)]
    pub fn on_changed(this: &Storage) -> ApiEvent;

    pub type StorageArea;
    #[wasm_bindgen(method)]
    pub fn get(this: &StorageArea, keys: &JsValue) -> Promise;
    #[wasm_bindgen(method)]
    pub fn set(this: &StorageArea, items: &JsValue) -> Promise;
    #[wasm_bindgen(method)]
    pub fn remove(this: &StorageArea, keys: &JsValue) -> Promise;

    /// `runtime.onMessage`, `storage.onChanged`, …
    pub type ApiEvent;
    #[wasm_bindgen(method, js_name = addListener)]
    pub fn add_listener(this: &ApiEvent, listener: &Function);

    pub type I18n;
    #[wasm_bindgen(method, js_name = getMessage)]
    pub fn get_message(this: &I18n, key: &str, substitutions: &Array) -> String;
    #[wasm_bindgen(method, js_name = getUILanguage)]
    pub fn get_ui_language(this: &I18n) -> String;

    pub type Tabs;
    #[wasm_bindgen(method)]
    pub fn query(this: &Tabs, query: &JsValue) -> Promise;
    #[wasm_bindgen(method)]
    pub fn create(this: &Tabs, properties: &JsValue) -> Promise;
    #[wasm_bindgen(method)]
    pub fn update(this: &Tabs, tab_id: i32, properties: &JsValue) -> Promise;
    #[wasm_bindgen(method)]
    pub fn reload(this: &Tabs, tab_id: i32, properties: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = sendMessage)]
    pub fn send_message(this: &Tabs, tab_id: i32, message: &JsValue) -> Promise;

    pub type Permissions;
    #[wasm_bindgen(method)]
    pub fn contains(this: &Permissions, permissions: &JsValue) -> Promise;
    #[wasm_bindgen(method)]
    pub fn request(this: &Permissions, permissions: &JsValue) -> Promise;
    #[wasm_bindgen(method)]
    pub fn remove(this: &Permissions, permissions: &JsValue) -> Promise;

    pub type Management;
    #[wasm_bindgen(method, js_name = getAll)]
    pub fn get_all(this: &Management) -> Promise;

    pub type Cookies;
    #[wasm_bindgen(method, js_name = getAll)]
    pub fn get_all(this: &Cookies, details: &JsValue) -> Promise;

    pub type BrowsingData;
    #[wasm_bindgen(method)]
    pub fn remove(this: &BrowsingData, options: &JsValue, data_to_remove: &JsValue) -> Promise;
}

pub fn api() -> Api {
    let global = js_sys::global();
    let namespace = |name: &str| Reflect::get(&global, &JsValue::from_str(name)).ok().filter(JsValue::is_object);
    namespace("browser").or_else(|| namespace("chrome")).unwrap_or(JsValue::UNDEFINED).unchecked_into()
}

/// Firefox's extension pages live at moz-extension:// (not `browser` in scope: recent Chromium has it too).
pub fn is_firefox(api: &Api) -> bool {
    api.runtime().get_url("").starts_with("moz-extension:")
}

/// A promise's value as JSON; a rejected or unrepresentable one is `Null`.
pub async fn settled(promise: Promise) -> serde_json::Value {
    match JsFuture::from(promise).await {
        Ok(value) => crate::values::serde_value(&unbusy::js_values::stored(value)),
        Err(_) => serde_json::Value::Null,
    }
}

/// Whether a promise resolved (a storage write that went through).
pub async fn succeeded(promise: Promise) -> bool {
    JsFuture::from(promise).await.is_ok()
}

/// Whether a promise resolved to `true` (a granted permission).
pub async fn granted(promise: Promise) -> bool {
    JsFuture::from(promise).await.is_ok_and(|value| value.as_bool() == Some(true))
}

/// A localised message, or the key itself when the locale has none.
/// (Literal keys here are checked against every locale by `cargo xtask tidy`.)
pub fn t(key: &str, args: &[String]) -> String {
    let substitutions: Array = args.iter().map(|a| JsValue::from_str(a)).collect();
    let text = api().i18n().get_message(key, &substitutions);
    if text.is_empty() {
        key.to_owned()
    } else {
        text
    }
}
