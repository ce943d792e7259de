//! The options page: every change goes to the background, where the core validates it; it is
//! saved (storage.sync) only if valid, and applied at once without a reload. The form shows what
//! the core kept.

use std::rc::Rc;

use serde_json::json;
use unbusy::js_values::to_js;
use unbusy::json::FromJson;

use crate::values::{core_json, js};
use unbusy::protocol::{BgUiMessage, UiMessage};
use unbusy::settings::{Settings, DEADLINE_MINUTES_RANGE, DELAY_SCALE_RANGE, MAX_ATTEMPTS_RANGE};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, HtmlFormElement, HtmlInputElement};

use crate::dom::{by_id, on, translate_page};
use crate::present::{self, FormValues};
use crate::webext::{api, granted, settled, t, Api};

pub fn start() {
    let api = Rc::new(api());
    translate_page(&api);
    crate::api_options::start(api.clone());
    let form = by_id::<HtmlFormElement>("settings");
    // The form's limits are the core's.
    for (name, (min, max)) in [("max_attempts", MAX_ATTEMPTS_RANGE), ("deadline_minutes", DEADLINE_MINUTES_RANGE)] {
        set_range(&form, name, f64::from(min), f64::from(max));
    }
    set_range(&form, "delay_scale", DELAY_SCALE_RANGE.0, DELAY_SCALE_RANGE.1);
    on(&form, "submit", |event| event.prevent_default());

    let changed = api.clone();
    on(&form, "change", move |_| {
        result().set_text_content(Some(""));
        let values = read(&by_id("settings"));
        // Notifications are an optional permission, asked for on this click only.
        let asked = values.notify.then(|| changed.permissions().request(&js(&json!({ "permissions": ["notifications"] }))));
        spawn_local(save(changed.clone(), values, asked));
    });

    spawn_local(async move {
        let reply = settled(api.runtime().send_message(&to_js(&UiMessage::UiGetSettings))).await;
        if let Some(BgUiMessage::BgSettings { settings, .. }) = BgUiMessage::from_json(&core_json(&reply)) {
            show(&by_id("settings"), &settings);
        }
    });
}

fn result() -> Element {
    by_id("result")
}

fn input(form: &HtmlFormElement, selector: &str) -> Option<HtmlInputElement> {
    form.query_selector(selector).ok().flatten().and_then(|node| node.dyn_into().ok())
}

fn set_range(form: &HtmlFormElement, name: &str, min: f64, max: f64) {
    if let Some(field) = input(form, &format!("input[name={name}]")) {
        field.set_min(&min.to_string());
        field.set_max(&max.to_string());
    }
}

fn read(form: &HtmlFormElement) -> FormValues {
    let text = |name: &str| input(form, &format!("input[name={name}]")).map(|i| i.value()).unwrap_or_default();
    let checked = |name: &str| input(form, &format!("input[name={name}]")).is_some_and(|i| i.checked());
    FormValues {
        auto_retry: checked("auto_retry"),
        max_attempts: text("max_attempts"),
        delay_scale: text("delay_scale"),
        deadline_minutes: text("deadline_minutes"),
        hidden_tabs: input(form, "input[name=hidden_tabs]:checked").map(|i| i.value()).unwrap_or_default(),
        notify: checked("notify"),
    }
}

fn show(form: &HtmlFormElement, settings: &Settings) {
    let set_text = |name: &str, value: String| input(form, &format!("input[name={name}]")).inspect(|i| i.set_value(&value));
    let set_checked = |selector: &str, on: bool| input(form, selector).inspect(|i| i.set_checked(on));
    set_checked("input[name=auto_retry]", settings.auto_retry);
    set_text("max_attempts", settings.max_attempts.to_string());
    set_text("delay_scale", settings.delay_scale.to_string());
    set_text("deadline_minutes", settings.deadline_minutes.to_string());
    set_checked(&format!("input[name=hidden_tabs][value={}]", present::name_of(&settings.hidden_tabs)), true);
    set_checked("input[name=notify]", settings.notify);
}

async fn save(api: Rc<Api>, mut values: FormValues, asked: Option<js_sys::Promise>) {
    if let Some(asked) = asked {
        if !granted(asked).await {
            values.notify = false;
            input(&by_id("settings"), "input[name=notify]").inspect(|i| i.set_checked(false));
            result().set_text_content(Some(&t("optPermissionDenied", &[])));
        }
    }
    let message = UiMessage::UiSaveSettings { settings: core_json(&present::settings_from_form(&values)) };
    let reply = settled(api.runtime().send_message(&to_js(&message))).await;
    let Some(BgUiMessage::BgSettings { settings, problems, saved }) = BgUiMessage::from_json(&core_json(&reply)) else { return };
    if saved {
        if !values.notify || result().text_content().unwrap_or_default().is_empty() {
            result().set_text_content(Some(&t("optSaved", &[])));
        }
    } else {
        let said: Vec<String> = problems.iter().map(|p| t("optRejected", &[p.field.clone(), p.message.clone()])).collect();
        result().set_text_content(Some(&said.join(" ")));
        show(&by_id("settings"), &settings);
    }
}
