//! The options page's "Ask through the API" section: the endpoint (storage.sync, as settings are),
//! the key (the extension's own IndexedDB, `key_store`, shown masked), and the endpoint's host
//! permission, asked for on the Save click itself.

use std::rc::Rc;

use serde_json::json;
use unbusy::api_endpoint::{self, Endpoint, PRESETS};
use unbusy::json::{FromJson, ToJson};
use unbusy::protocol::storage_key;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlButtonElement, HtmlFormElement, HtmlInputElement};

use crate::dom::{by_id, document, on};
use crate::key_store;
use crate::values::{core_json, js, serde_value};
use crate::webext::{granted, settled, succeeded, t, Api};

fn form() -> HtmlFormElement {
    by_id("api")
}

fn input(selector: &str) -> Option<HtmlInputElement> {
    form().query_selector(selector).ok().flatten().and_then(|node| node.dyn_into().ok())
}

fn say(text: &str) {
    by_id::<web_sys::Element>("api-result").set_text_content(Some(text));
}

/// While a save or a removal runs, neither can start again (each is several steps).
fn busy(on: bool) {
    if let Some(save) = form().query_selector("button[type=submit]").ok().flatten() {
        save.unchecked_into::<HtmlButtonElement>().set_disabled(on);
    }
    by_id::<HtmlButtonElement>("api-key-remove").set_disabled(on);
}

pub fn start(api: Rc<Api>) {
    on(&form(), "change", |_| show_preset_fields());
    let saving = api.clone();
    on(&form(), "submit", move |event| {
        event.prevent_default();
        submit(&saving);
    });
    let removing = api.clone();
    on(&by_id::<HtmlButtonElement>("api-key-remove"), "click", move |_| {
        busy(true);
        let api = removing.clone();
        spawn_local(async move {
            let removed = key_store::remove().await;
            busy(false);
            show_stored_key(&api).await;
            say(&t(if removed { "apiKeyRemoved" } else { "apiFailed" }, &[]));
            // The button just pressed is disabled now: the key field is where the user goes next.
            if let Some(key) = input("input[name=key]") {
                let _ = key.focus();
            }
        })
    });
    spawn_local(async move {
        show(&stored_endpoint(&api).await);
        show_stored_key(&api).await;
    });
}

/// The key stored for the stored endpoint's origin, masked.
async fn show_stored_key(api: &Api) {
    let origin = stored_endpoint(api).await.origin().unwrap_or_default();
    show_key(key_store::load(&origin).await.as_deref());
}

/// The endpoint as stored, if it is one the options page could have made (else the default).
async fn stored_endpoint(api: &Api) -> Endpoint {
    let key = storage_key("apiEndpoint");
    let stored = settled(api.storage().sync().get(&js(&json!(key)))).await;
    Endpoint::from_json(&core_json(&stored[key])).filter(|e| e.check().is_ok()).unwrap_or_default()
}

fn show(endpoint: &Endpoint) {
    // `check` keeps the preset to the page's own ids, so it is safe in a selector.
    input(&format!("input[name=preset][value={}]", endpoint.preset)).inspect(|i| i.set_checked(true));
    input("input[name=base]").inspect(|i| i.set_value(&endpoint.base));
    input("input[name=model]").inspect(|i| i.set_value(&endpoint.model));
    show_preset_fields();
}

/// A preset's base URL is fixed and its models are offered; a custom endpoint is typed in.
fn show_preset_fields() {
    let preset = input("input[name=preset]:checked").map(|i| i.value()).unwrap_or_default();
    let known = PRESETS.iter().find(|p| p.id == preset);
    if let Some(base) = input("input[name=base]") {
        base.set_read_only(known.is_some());
        if let Some(known) = known {
            base.set_value(known.base);
        }
    }
    let list = by_id::<web_sys::Element>("api-models");
    list.set_text_content(None);
    for model in known.map_or(&[][..], |p| p.models) {
        if let Ok(option) = document().create_element("option") {
            let _ = option.set_attribute("value", model);
            let _ = list.append_child(&option);
        }
    }
}

fn show_key(key: Option<&str>) {
    let text = key.map_or_else(|| t("apiKeyNone", &[]), api_endpoint::masked);
    by_id::<web_sys::Element>("api-key-masked").set_text_content(Some(&text));
    by_id::<HtmlButtonElement>("api-key-remove").set_disabled(key.is_none());
}

fn submit(api: &Rc<Api>) {
    let text = |name: &str| input(&format!("input[name={name}]")).map(|i| i.value()).unwrap_or_default();
    let preset = input("input[name=preset]:checked").map(|i| i.value()).unwrap_or_default();
    let endpoint = match Endpoint::chosen(&preset, &text("base"), &text("model")) {
        Ok(endpoint) => endpoint,
        Err(problem) => return say(&t(problem.text_key(), &[])),
    };
    let typed = text("key");
    let key = match typed.trim() {
        "" => None,
        typed => match api_endpoint::check_key(typed) {
            Ok(key) => Some(key.to_string()),
            Err(problem) => return say(&t(problem.text_key(), &[])),
        },
    };
    // The key leaves the page's field at once; only its masked form is shown from now on.
    input("input[name=key]").inspect(|i| i.set_value(""));
    let origin = endpoint.origin().unwrap_or_default();
    let pattern = api_endpoint::permission_pattern(&origin);
    // Asked for on this click, before anything is awaited (the browser requires the gesture).
    let asked = api.permissions().request(&js(&json!({ "origins": [pattern] })));
    busy(true);
    let api = api.clone();
    spawn_local(async move {
        let before = stored_endpoint(&api).await;
        let value = serde_value(&endpoint.to_json());
        let mut saved = succeeded(api.storage().sync().set(&js(&json!({ storage_key("apiEndpoint"): value })))).await;
        // A key belongs to the origin it was entered for: another origin's goes.
        if key_store::bound_origin().await.is_some_and(|bound| bound != origin) {
            saved &= key_store::remove().await;
        }
        if let Some(key) = &key {
            saved &= key_store::save(&origin, key).await;
        }
        // Access to an endpoint no longer used is given back.
        let old_pattern = before.origin().map(|old| api_endpoint::permission_pattern(&old)).filter(|old| *old != pattern);
        if let (true, Some(old)) = (saved, old_pattern) {
            let _ = api.permissions().remove(&js(&json!({ "origins": [old] })));
        }
        busy(false);
        show(&endpoint);
        show_key(key_store::load(&origin).await.as_deref());
        let outcome = t(if saved { "apiSaved" } else { "apiFailed" }, &[]);
        say(&outcome);
        // The prompt may stay open (or, under automation, never be answered): saving did not wait.
        let host = pattern.trim_start_matches("https://").trim_end_matches("/*").to_string();
        let allowed = granted(asked).await;
        say(&[outcome, t(if allowed { "apiAllowed" } else { "apiNotAllowed" }, &[host])].join(" "));
    });
}
