//! The API key, in the extension's own IndexedDB: content scripts can read `storage.local`, but
//! not this database, which belongs to the extension's origin; nothing syncs it. One record, bound
//! to the origin the key was entered for: `load` for another origin finds nothing. The options
//! page deletes it when the user saves another origin.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbObjectStore, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

const DATABASE: &str = "unbusy";
const STORE: &str = "secrets";
const RECORD: &str = "apiKey";

/// Waits for a request to succeed (`Err` if it failed).
async fn settled(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(promise).await?;
    request.result()
}

/// The one store, in a transaction of its own. The connection is closed at once (it ends when its
/// transaction does), so no open options page ever holds up a newer version of the database.
async fn store(mode: IdbTransactionMode) -> Result<IdbObjectStore, JsValue> {
    let factory = web_sys::window().ok_or("no window")?.indexed_db()?.ok_or("no IndexedDB")?;
    let request: IdbOpenDbRequest = factory.open_with_u32(DATABASE, 1)?;
    // The first open creates the store.
    let create = Closure::once_into_js(|event: web_sys::Event| {
        let opened = event.target().and_then(|t| t.dyn_into::<IdbOpenDbRequest>().ok()).and_then(|r| r.result().ok());
        if let Some(db) = opened {
            let _ = db.unchecked_into::<IdbDatabase>().create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(create.unchecked_ref()));
    let db: IdbDatabase = settled(&request).await?.unchecked_into();
    let store = db.transaction_with_str_and_mode(STORE, mode)?.object_store(STORE);
    db.close();
    store
}

/// The stored record's `(origin, key)`, if there is a readable one.
async fn record() -> Option<(String, String)> {
    let request = store(IdbTransactionMode::Readonly).await.ok()?.get(&RECORD.into()).ok()?;
    let record = settled(&request).await.ok()?;
    let field = |name: &str| Reflect::get(&record, &name.into()).ok().and_then(|v| v.as_string());
    Some((field("origin")?, field("key")?))
}

/// The key stored for `origin`, if any.
pub async fn load(origin: &str) -> Option<String> {
    record().await.filter(|(bound, _)| bound == origin).map(|(_, key)| key)
}

/// The origin the stored key was entered for.
pub async fn bound_origin() -> Option<String> {
    record().await.map(|(origin, _)| origin)
}

/// Stores `key` for `origin`, replacing any other key; whether it was stored.
pub async fn save(origin: &str, key: &str) -> bool {
    let record = Object::new();
    let _ = Reflect::set(&record, &"origin".into(), &origin.into());
    let _ = Reflect::set(&record, &"key".into(), &key.into());
    let Ok(store) = store(IdbTransactionMode::Readwrite).await else { return false };
    match store.put_with_key(&record, &RECORD.into()) {
        Ok(request) => settled(&request).await.is_ok(),
        Err(_) => false,
    }
}

/// Deletes the stored key; whether none is left.
pub async fn remove() -> bool {
    let Ok(store) = store(IdbTransactionMode::Readwrite).await else { return false };
    match store.delete(&RECORD.into()) {
        Ok(request) => settled(&request).await.is_ok(),
        Err(_) => false,
    }
}
