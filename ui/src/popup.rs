//! The popup: gathers what the browser lets it see (each part only with its permission), asks the
//! background for what only it knows (`ui_facts`), builds the view (`crate::diagnose`) and renders
//! it. Its live parts run on gloo-timers: the countdowns tick every second, the whole view is
//! rebuilt every few seconds and whenever a new event is stored.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Interval;
use js_sys::{Date, Promise};
use serde_json::{json, Value};
use unbusy::diagnose::cookies::FirstSeen;
use unbusy::diagnose::view::{PopupView, RetryStatus};
use unbusy::diagnose::{Action, Finding};
use unbusy::js_values::to_js;

use crate::values::js;
use unbusy::protocol::UiMessage;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Element, HtmlButtonElement, HtmlDialogElement, HtmlElement, RequestCache, RequestCredentials, RequestInit};

use crate::dom::{by_id, el, fill, on, set_data};
use crate::present::{self, CHART_TICKS};
use crate::storage_key;
use crate::webext::{api, granted, is_firefox, settled, t, Api};

const CHAT_TABS: &str = "https://chat.deepseek.com/*";
const CHAT_HOME: &str = "https://chat.deepseek.com/";
const STATUS_ORIGIN: &str = "https://status.deepseek.com/*";
const STATUS_SUMMARY: &str = "https://status.deepseek.com/api/v2/status.json";
/// The whole view is rebuilt this often while the popup is open (the countdowns tick every second).
const REFRESH_EVERY_TICKS: u32 = 5;

struct Popup {
    api: Api,
    view: RefCell<Option<PopupView>>,
    /// Refreshes started so far: one that a later one overtook is not rendered.
    refreshes: Cell<u32>,
    /// What was last stored of the cookies' first sightings (written only when it changes).
    first_seen: RefCell<Option<FirstSeen>>,
}

pub fn start() {
    let popup = Rc::new(Popup { api: api(), view: RefCell::new(None), refreshes: Cell::new(0), first_seen: RefCell::new(None) });
    crate::dom::translate_page(&popup.api);
    popup.wire();
    spawn_local(popup.clone().refresh());
}

impl Popup {
    fn wire(self: &Rc<Self>) {
        let popup = self.clone();
        on(&by_id::<HtmlButtonElement>("pause-button"), "click", move |_| {
            let paused = popup.view.borrow().as_ref().is_some_and(|v| v.paused_until_ms > 0.0);
            let message = if paused { UiMessage::UiResume } else { UiMessage::UiPause { minutes: 60 } };
            let sent = popup.api.runtime().send_message(&to_js(&message));
            let popup = popup.clone();
            spawn_local(async move {
                settled(sent).await;
                popup.refresh().await;
            });
        });

        // The API panel, for the chat on screen (else the one used last); the background opens it.
        let popup = self.clone();
        on(&by_id::<HtmlButtonElement>("ask-api"), "click", move |_| {
            let tabs = popup.api.tabs();
            let on_screen = tabs.query(&js(&json!({ "url": CHAT_TABS, "active": true, "lastFocusedWindow": true })));
            let all = popup.chat_tabs();
            let popup = popup.clone();
            spawn_local(async move {
                let Some(tab_id) = present::panel_tab(&settled(on_screen).await, &settled(all).await) else {
                    return popup.notice("popupAskApiNoChat");
                };
                settled(popup.api.runtime().send_message(&to_js(&UiMessage::UiAskApi { tab_id }))).await;
            });
        });

        let popup = self.clone();
        on(&by_id::<HtmlButtonElement>("copy-report"), "click", move |_| {
            if let Some(report) = popup.view.borrow().as_ref().map(|v| v.report.clone()) {
                popup.copy(report);
            }
        });

        // Clearing site data: confirmed in the dialog, whose confirm click asks for the permission.
        let popup = self.clone();
        on(&by_id::<HtmlButtonElement>("clear-confirm"), "click", move |_| {
            by_id::<HtmlDialogElement>("clear-dialog").close();
            let asked = popup.api.permissions().request(&js(&json!({ "permissions": ["browsingData"] })));
            spawn_local(popup.clone().clear_site_data(asked));
        });
        on(&by_id::<HtmlButtonElement>("clear-cancel"), "click", |_| by_id::<HtmlDialogElement>("clear-dialog").close());

        let popup = self.clone();
        let recent_events = storage_key("recentEvents");
        let listener = Closure::<dyn Fn(JsValue, JsValue)>::new(move |changes: JsValue, area: JsValue| {
            let changed = js_sys::Reflect::has(&changes, &JsValue::from_str(recent_events)).unwrap_or(false);
            if area.as_string().as_deref() == Some("session") && changed {
                spawn_local(popup.clone().refresh());
            }
        });
        self.api.storage().on_changed().add_listener(listener.as_ref().unchecked_ref());
        listener.forget();

        let popup = self.clone();
        let mut ticks = 0u32;
        // Dropped with the page: the popup's timers end when it closes.
        Interval::new(1_000, move || {
            ticks += 1;
            if ticks % REFRESH_EVERY_TICKS == 0 {
                spawn_local(popup.clone().refresh());
            } else {
                let retries = popup.view.borrow().as_ref().map(|view| view.retries.clone());
                popup.render_retries(&retries.unwrap_or_default());
            }
        })
        .forget();
    }

    async fn gather(&self) -> Value {
        let storage = self.api.storage();
        let runtime = self.api.runtime();
        let session = settled(storage.session().get(&js(&json!([storage_key("recentEvents"), storage_key("statusIncident")])))).await;
        let local = settled(storage.local().get(&to_js(&storage_key("cookieFirstSeen")))).await;
        let platform = settled(runtime.get_platform_info()).await;
        let tabs = settled(self.chat_tabs()).await;
        let manifest = crate::values::serde_value(&unbusy::js_values::stored(runtime.get_manifest()));
        let mut input = json!({
            "recent": session[storage_key("recentEvents")],
            "first_seen": local[storage_key("cookieFirstSeen")],
            "os": platform["os"],
            "now_ms": Date::now(),
            "self_id": runtime.id(),
            "version": manifest["version"],
            "status_incident": session[storage_key("statusIncident")],
            // A tab Unbusy never heard from was open before it was installed (or updated): the core says so.
            "chat_tabs": present::loaded_tabs(&tabs),
        });
        if let Some(management) = self.api.management() {
            if granted(self.api.permissions().contains(&js(&json!({ "permissions": ["management"] })))).await {
                input["extensions"] = present::extension_facts(&settled(management.get_all()).await);
            }
        }
        if let Some(cookies) = self.api.cookies() {
            let jar = settled(cookies.get_all(&js(&json!({ "domain": "deepseek.com" })))).await;
            if jar.is_array() {
                input["cookies"] = present::cookie_facts(&jar);
            }
        }
        input
    }

    async fn refresh(self: Rc<Self>) {
        let this_refresh = self.refreshes.get() + 1;
        self.refreshes.set(this_refresh);
        let input = self.gather().await;
        let reply = settled(self.api.runtime().send_message(&to_js(&UiMessage::UiFacts))).await;
        let Some(facts) = crate::facts_of(&reply) else { return };
        if self.refreshes.get() != this_refresh {
            return;
        }
        let (view, first_seen) = crate::diagnose(&input, facts);
        if self.first_seen.borrow().as_ref() != Some(&first_seen) {
            settled(self.api.storage().local().set(&js(&json!({ storage_key("cookieFirstSeen"): &first_seen })))).await;
            self.first_seen.replace(Some(first_seen));
        }
        // No borrow is held while rendering: a throw in the DOM must not lock the view.
        let previous = self.view.replace(Some(view.clone()));
        self.render(&view, previous.as_ref());
    }

    /// One line under the findings: what a button did, or why it could not.
    fn notice(&self, key: &str) {
        by_id::<Element>("notice").set_text_content(Some(&t(key, &[])));
    }

    fn clock(&self, at_ms: f64) -> String {
        let options = js(&json!({ "hour": "2-digit", "minute": "2-digit" }));
        Date::new(&JsValue::from_f64(at_ms)).to_locale_time_string_with_options(&self.api.i18n().get_ui_language(), &options).into()
    }

    /// Rebuilds only the parts that changed since `previous`, and gives the focus back to the
    /// same control when its part was rebuilt: the view refreshes while the user moves through
    /// it by keyboard.
    fn render(self: &Rc<Self>, view: &PopupView, previous: Option<&PopupView>) {
        let focused = focused_control();
        // The headline is a live region: rewritten only when it changed, or it is read out again.
        if previous.is_none_or(|old| old.glance != view.glance) {
            set_data(&by_id::<HtmlElement>("glance"), "tone", &present::name_of(&view.glance.tone));
            by_id::<Element>("glance-text").set_text_content(Some(&t(&view.glance.sentence, &view.glance.args)));
        }
        if previous.is_none_or(|old| old.paused_until_ms != view.paused_until_ms) {
            let paused = view.paused_until_ms > 0.0;
            let pause_text = if paused { t("popupPausedUntil", &[self.clock(view.paused_until_ms)]) } else { String::new() };
            by_id::<Element>("pause-text").set_text_content(Some(&pause_text));
            let pause_button = by_id::<HtmlElement>("pause-button");
            pause_button.set_text_content(Some(&t(if paused { "popupResume" } else { "popupPauseHour" }, &[])));
            set_data(&pause_button, "paused", if paused { "true" } else { "false" });
        }

        self.render_retries(&view.retries);

        if previous.is_none_or(|old| old.findings != view.findings) {
            fill(&by_id::<Element>("findings"), view.findings.iter().map(|f| self.card(f)));
            by_id::<HtmlElement>("no-findings").set_hidden(!view.findings.is_empty());
        }
        if previous.is_none_or(|old| old.fixes != view.fixes) {
            // Fixes that are unlikely to help stay one click away, still with their "why".
            let (likely, unlikely) = present::split_fixes(&view.fixes);
            fill(&by_id::<Element>("fixes"), likely.into_iter().map(|f| self.card(f)));
            by_id::<HtmlElement>("more-fixes-box").set_hidden(unlikely.is_empty());
            fill(&by_id::<Element>("more-fixes"), unlikely.into_iter().map(|f| self.card(f)));
        }
        if previous.is_none_or(|old| old.chart != view.chart) {
            self.render_chart(view);
        }
        if previous.is_none_or(|old| old.recent != view.recent) {
            self.render_events(view);
        }
        if let Some((card, action)) = focused {
            refocus(&card, &action);
        }
    }

    fn render_retries(&self, retries: &[RetryStatus]) {
        by_id::<HtmlElement>("retries-section").set_hidden(retries.is_empty());
        let now = Date::now();
        let line = |r: &RetryStatus| {
            let seconds = present::seconds_left(r.due_ms, now);
            el("li", "", Some(&t("popupRetryLine", &[r.tab_id.to_string(), r.attempt.to_string(), seconds.to_string()])))
        };
        fill(&by_id::<Element>("retries"), retries.iter().map(line));
    }

    fn render_chart(&self, view: &PopupView) {
        let chart = present::chart(&view.chart);
        let drawn = by_id::<HtmlElement>("chart");
        by_id::<HtmlElement>("chart-empty").set_hidden(!chart.is_empty());
        by_id::<HtmlElement>("chart-box").set_hidden(chart.is_empty());
        let _ = drawn.set_attribute("aria-label", &chart.described);
        fill(
            &drawn,
            chart.bars.iter().map(|bar| {
                let node = el("div", "bar", None);
                set_data(&node, "known", if bar.known { "true" } else { "false" });
                let _ = node.style().set_property("height", &format!("{}%", bar.height_percent));
                node
            }),
        );
        fill(
            &by_id::<Element>("chart-axis"),
            CHART_TICKS.iter().map(|hour| {
                let tick = el("span", "", Some(&format!("{hour}:00")));
                let _ = tick.style().set_property("grid-column", &format!("{} / span 6", hour + 1));
                tick
            }),
        );
    }

    fn render_events(&self, view: &PopupView) {
        by_id::<HtmlElement>("empty").set_hidden(!view.recent.is_empty());
        let language = self.api.i18n().get_ui_language();
        let lines = view.recent.iter().map(|line| {
            let item = el("li", "", None);
            let at = Date::new(&JsValue::from_f64(line.at_ms));
            // A time out of the Date range is left out (toISOString would throw).
            let valid = !at.get_time().is_nan();
            let time = el("time", "", valid.then(|| String::from(at.to_locale_time_string(&language))).as_deref());
            if valid {
                let _ = time.set_attribute("datetime", &String::from(at.to_iso_string()));
            }
            let mut said = vec![t(&line.what.key, &line.what.args)];
            said.extend(line.ended.as_ref().map(|ended| t(&ended.key, &ended.args)));
            let what = el("span", "label", Some(&said.join(" — ")));
            set_data(&what, "tone", &present::name_of(&line.tone));
            for part in [time, what, el("span", "route", Some(&line.place))] {
                let _ = item.append_child(&part);
            }
            item
        });
        fill(&by_id::<Element>("events"), lines);
    }

    fn card(self: &Rc<Self>, item: &Finding) -> HtmlElement {
        let li = el("li", "", None);
        set_data(&li, "id", &item.id);
        let likelihood = present::name_of(&item.likelihood);
        let tag = el("span", "tag", Some(&t(&format!("likelihood_{likelihood}"), &[])));
        set_data(&tag, "likelihood", &likelihood);
        let parts = [el("span", "title", Some(&t(&item.title, &item.args))), tag, el("p", "why", Some(&t(&item.why, &[])))];
        for part in parts {
            let _ = li.append_child(&part);
        }
        if let Some(Action::CopyText { text }) = item.actions.iter().find(|a| matches!(a, Action::CopyText { .. })) {
            let _ = li.append_child(&el("code", "", Some(text)));
        }
        if !item.actions.is_empty() {
            let row = el("div", "row", None);
            for action in &item.actions {
                let _ = row.append_child(&self.action_button(action));
            }
            let _ = li.append_child(&row);
        }
        li
    }

    fn action_button(self: &Rc<Self>, action: &Action) -> HtmlElement {
        let kind = present::name_of(action);
        let button = el("button", "", Some(&t(&format!("action_{kind}"), &[])));
        let _ = button.set_attribute("type", "button");
        set_data(&button, "action", &kind);
        let popup = self.clone();
        let action = action.clone();
        on(&button, "click", move |_| popup.run(&action));
        button
    }

    fn chat_tabs(&self) -> Promise {
        self.api.tabs().query(&js(&json!({ "url": CHAT_TABS })))
    }

    fn copy(self: &Rc<Self>, text: String) {
        let Some(clipboard) = web_sys::window().map(|w| w.navigator().clipboard()) else { return };
        let written = clipboard.write_text(&text);
        let popup = self.clone();
        spawn_local(async move {
            if JsFuture::from(written).await.is_ok() {
                popup.notice("popupCopied");
            } else {
                // Copying was refused: the text is shown instead, to select by hand.
                by_id::<Element>("notice").set_text_content(Some(&text));
            }
        });
    }

    /// What a fix's button does. Permission prompts are raised here, inside the click.
    fn run(self: &Rc<Self>, action: &Action) {
        let popup = self.clone();
        match action {
            Action::CheckExtensions => {
                let asked = self.api.permissions().request(&js(&json!({ "permissions": ["management"] })));
                spawn_local(async move {
                    if granted(asked).await {
                        popup.refresh().await;
                    } else {
                        popup.notice("permissionDenied");
                    }
                });
            }
            Action::CheckStatus => {
                let asked = self.api.permissions().request(&js(&json!({ "origins": [STATUS_ORIGIN] })));
                spawn_local(self.clone().check_status(asked));
            }
            Action::OpenExtension { id } if !is_firefox(&self.api) => {
                let url = format!("chrome://extensions/?id={}", String::from(js_sys::encode_uri_component(id)));
                let _ = self.api.tabs().create(&js(&json!({ "url": url })));
            }
            Action::OpenExtension { .. } => self.notice("firefoxExtensionSteps"),
            Action::ClearSiteData => {
                let steps = t(if is_firefox(&self.api) { "clearFirefox" } else { "clearChrome" }, &[]);
                by_id::<Element>("clear-text").set_text_content(Some(&steps));
                let _ = by_id::<HtmlDialogElement>("clear-dialog").show_modal();
            }
            Action::HardRefresh => {
                let tabs = self.chat_tabs();
                spawn_local(async move {
                    for tab in settled(tabs).await.as_array().into_iter().flatten() {
                        if let Some(id) = tab["id"].as_i64().and_then(|id| i32::try_from(id).ok()) {
                            settled(popup.api.tabs().reload(id, &js(&json!({ "bypassCache": true })))).await;
                        }
                    }
                });
            }
            Action::NewChat => {
                let tabs = self.chat_tabs();
                spawn_local(async move {
                    let first = settled(tabs).await[0]["id"].as_i64().and_then(|id| i32::try_from(id).ok());
                    let opened = match first {
                        Some(id) => popup.api.tabs().update(id, &js(&json!({ "url": CHAT_HOME, "active": true }))),
                        None => popup.api.tabs().create(&js(&json!({ "url": CHAT_HOME }))),
                    };
                    settled(opened).await;
                });
            }
            Action::CopyText { text } => self.copy(text.clone()),
            Action::OpenUrl { url } => {
                let _ = self.api.tabs().create(&js(&json!({ "url": url })));
            }
        }
    }

    async fn clear_site_data(self: Rc<Self>, asked: Promise) {
        if !granted(asked).await {
            return self.notice("permissionDenied");
        }
        let Some(browsing_data) = self.api.browsing_data() else { return self.notice("permissionDenied") };
        let (scope, what) = if is_firefox(&self.api) {
            (json!({ "hostnames": ["deepseek.com", "chat.deepseek.com"] }), json!({ "cookies": true, "localStorage": true }))
        } else {
            let what = json!({ "cookies": true, "localStorage": true, "cacheStorage": true, "cache": true, "serviceWorkers": true, "indexedDB": true });
            (json!({ "origins": ["https://chat.deepseek.com", "https://deepseek.com"] }), what)
        };
        let removed = JsFuture::from(browsing_data.remove(&js(&scope), &js(&what))).await;
        self.notice(if removed.is_ok() { "clearDone" } else { "permissionDenied" });
        self.refresh().await;
    }

    /// Statuspage's public summary: the one request Unbusy makes itself, once per click.
    async fn check_status(self: Rc<Self>, asked: Promise) {
        if !granted(asked).await {
            return self.notice("permissionDenied");
        }
        let init = RequestInit::new();
        init.set_credentials(RequestCredentials::Omit);
        init.set_cache(RequestCache::NoStore);
        let Some(window) = web_sys::window() else { return };
        let summary = match JsFuture::from(window.fetch_with_str_and_init(STATUS_SUMMARY, &init)).await {
            Ok(response) => match response.unchecked_into::<web_sys::Response>().json() {
                Ok(body) => settled(body).await,
                Err(_) => Value::Null,
            },
            Err(_) => Value::Null,
        };
        match present::status_incident(&summary) {
            Some(incident) => {
                settled(self.api.storage().session().set(&js(&json!({ storage_key("statusIncident"): incident })))).await;
                self.notice(if incident { "statusResultIncident" } else { "statusResultOk" });
            }
            None => self.notice("statusResultFailed"),
        }
        self.refresh().await;
    }
}

/// The card (`data-id`) and action (`data-action`) of the focused button, if a card's.
fn focused_control() -> Option<(String, String)> {
    let active = crate::dom::document().active_element()?.dyn_into::<HtmlElement>().ok()?;
    let action = active.dataset().get("action")?;
    let card = active.closest("li[data-id]").ok()??.dyn_into::<HtmlElement>().ok()?.dataset().get("id")?;
    Some((card, action))
}

/// Focus back on that control if a rebuild took it away (focus fell to the body).
fn refocus(card: &str, action: &str) {
    let document = crate::dom::document();
    let lost = document.active_element().is_none_or(|e| e.tag_name().eq_ignore_ascii_case("body"));
    if !lost {
        return;
    }
    let cards = document.query_selector_all("li[data-id]").expect("a valid selector");
    for index in 0..cards.length() {
        let Some(item) = cards.item(index).and_then(|n| n.dyn_into::<HtmlElement>().ok()) else { continue };
        if item.dataset().get("id").as_deref() != Some(card) {
            continue;
        }
        let selector = format!("button[data-action=\"{action}\"]");
        if let Some(button) = item.query_selector(&selector).ok().flatten().and_then(|b| b.dyn_into::<HtmlElement>().ok()) {
            let _ = button.focus();
            return;
        }
    }
}
