//! The API panel (panel.html, issue 13): an extension page in a window of its own, out of the chat
//! page's reach. It serves only the opening Unbusy made (a one-time token the background stored
//! with the tab), shows the chat's last prompt (asked of that tab's relay at this moment, editable)
//! and where it would go, and sends nothing until the user presses Send. The answer streams in,
//! read by `api_answer` and shown through `markdown` (nodes, never HTML).
//!
//! The request is made here, not by the background: the key is read from the extension's own
//! database by the one page that uses it, so it never crosses a message, and the background's WASM
//! stays within its budget. A content script never sees the key, the request or the answer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Date, Reflect, Uint8Array};
use serde_json::json;
use unbusy::api_answer::{self, ApiEvent, ApiFailure, ApiStream, MAX_API_ATTEMPTS};
use unbusy::api_endpoint::{self, Endpoint};
use unbusy::js_values::{stored, to_js};
use unbusy::json::FromJson;
use unbusy::protocol::{storage_key, PanelMessage};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    AbortController, HtmlButtonElement, HtmlElement, HtmlFormElement, HtmlTextAreaElement, ReadableStreamDefaultReader, ReferrerPolicy, RequestCache,
    RequestCredentials, RequestInit, Response,
};

use crate::dom::{by_id, document, on};
use crate::key_store;
use crate::markdown::{self, Node};
use crate::values::{core_json, js};
use crate::webext::{api, granted, settled, t, Api};

/// The answer is drawn again at most this often while it streams (and once at its end).
const REDRAW_EVERY_MS: f64 = 100.0;
/// Nothing at all for this long (not even a keep-alive while queued): the request is given up.
const IDLE_LIMIT_MS: u32 = 90_000;

struct Panel {
    api: Api,
    endpoint: Endpoint,
    key: String,
    /// The answer and the reasoning so far, as the model wrote them (Markdown, plain text).
    answer: RefCell<String>,
    reasoning: RefCell<String>,
    drawn_at: Cell<f64>,
    sending: Cell<bool>,
}

pub fn start() {
    let api = api();
    crate::dom::translate_page(&api);
    on(&by_id::<HtmlButtonElement>("close"), "click", |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.close();
        }
    });
    spawn_local(open(api));
}

fn show(id: &str) {
    by_id::<HtmlElement>(id).set_hidden(false);
}

async fn open(api: Api) {
    // The token is taken once, whatever it holds: a reload or a second window serves nothing.
    let token = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
    let Some(key_name) = api_answer::panel_token_key(token.trim_start_matches('#')) else { return show("not-opened") };
    let session = api.storage().session();
    let held = settled(session.get(&to_js(&key_name))).await;
    settled(session.remove(&to_js(&key_name))).await;
    let Some(tab_id) = api_answer::claim_panel(held.get(&key_name).map(core_json).as_ref()) else { return show("not-opened") };

    let endpoint = settled(api.storage().sync().get(&to_js(&storage_key("apiEndpoint")))).await;
    let endpoint = Endpoint::from_json(&core_json(&endpoint[storage_key("apiEndpoint")])).filter(|e| e.check().is_ok());
    let origin = endpoint.as_ref().and_then(Endpoint::origin);
    let key = match &origin {
        Some(origin) => key_store::load(origin).await,
        None => None,
    };
    let (Some(endpoint), Some(key)) = (endpoint, key) else {
        on(&by_id::<HtmlButtonElement>("open-options"), "click", move |_| {
            let _ = api.runtime().open_options_page();
        });
        return show("setup");
    };

    let asked = api.tabs().send_message(tab_id, &to_js(&PanelMessage::PanelLastPrompt));
    let (prompt, cut) = match JsFuture::from(asked).await {
        Ok(reply) => api_answer::prompt_of(&stored(reply)),
        Err(_) => (String::new(), false),
    };
    let prompt_box: HtmlTextAreaElement = by_id("prompt");
    prompt_box.set_value(&prompt);
    by_id::<HtmlElement>("prompt-cut").set_hidden(!cut);
    let host = origin.unwrap_or_default().trim_start_matches("https://").to_string();
    by_id::<HtmlElement>("destination").set_text_content(Some(&t("panelDestination", &[host, endpoint.model.clone()])));
    show("ask");
    let _ = prompt_box.focus();

    let panel =
        Rc::new(Panel { api, endpoint, key, answer: RefCell::default(), reasoning: RefCell::default(), drawn_at: Cell::new(0.0), sending: Cell::new(false) });
    // Ctrl+Enter (⌘+Enter) sends from the message box; Enter alone is a new line.
    on(&prompt_box, "keydown", |event| {
        let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>() else { return };
        if key.key() == "Enter" && (key.ctrl_key() || key.meta_key()) {
            event.prevent_default();
            let _ = by_id::<HtmlFormElement>("ask").request_submit();
        }
    });
    let sending = panel.clone();
    on(&by_id::<HtmlFormElement>("ask"), "submit", move |event| {
        event.prevent_default();
        spawn_local(sending.clone().ask());
    });
    let again = panel.clone();
    on(&by_id::<HtmlButtonElement>("again"), "click", move |_| spawn_local(again.clone().ask()));
    // Asked on this click (the browser requires it); sent again once granted.
    let allowing = panel.clone();
    on(&by_id::<HtmlButtonElement>("allow"), "click", move |_| {
        let pattern = allowing.endpoint.origin().map(|o| api_endpoint::permission_pattern(&o)).unwrap_or_default();
        let asked = allowing.api.permissions().request(&js(&json!({ "origins": [pattern] })));
        // One prompt at a time.
        button("allow").set_disabled(true);
        let panel = allowing.clone();
        spawn_local(async move {
            let allowed = granted(asked).await;
            button("allow").set_disabled(false);
            if allowed {
                panel.ask().await;
            }
        });
    });
    let copying = panel.clone();
    on(&by_id::<HtmlButtonElement>("copy"), "click", move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&copying.answer.borrow());
            status(&t("panelCopied", &[]), "");
        }
    });
}

fn status(text: &str, tone: &str) {
    let line = by_id::<HtmlElement>("status");
    line.set_text_content(Some(text));
    crate::dom::set_data(&line, "tone", tone);
}

fn button(id: &str) -> HtmlButtonElement {
    by_id(id)
}

impl Panel {
    /// One Send: the request, sent again automatically only while nothing was billed.
    async fn ask(self: Rc<Self>) {
        if self.sending.replace(true) {
            return;
        }
        let prompt = by_id::<HtmlTextAreaElement>("prompt").value();
        for id in ["send", "again", "allow", "copy"] {
            button(id).set_disabled(true);
        }
        button("again").set_hidden(true);
        button("allow").set_hidden(true);
        show("answer-box");
        let mut attempts = 0;
        let (failure, billed) = loop {
            attempts += 1;
            self.answer.borrow_mut().clear();
            self.reasoning.borrow_mut().clear();
            self.draw(true);
            by_id::<HtmlElement>("usage").set_text_content(None);
            status(&t("panelSending", &[]), "");
            let (failure, billed) = self.request(&prompt).await;
            match failure {
                Some(failure) if api_answer::may_resend(failure, billed, attempts, MAX_API_ATTEMPTS) => {
                    let delay = api_answer::resend_delay_ms(failure, attempts);
                    let (key, args) = failure.text();
                    status(&format!("{} {}", t(key, &args), t("panelResending", &[delay.div_ceil(1000).to_string()])), "problem");
                    TimeoutFuture::new(u32::try_from(delay).unwrap_or(u32::MAX)).await;
                }
                outcome => break (outcome, billed),
            }
        };
        self.draw(true);
        match failure {
            None => status(&t("panelDone", &[]), ""),
            Some(failure) => {
                let (key, args) = failure.text();
                let args = if failure == ApiFailure::Unreachable { vec![self.endpoint.origin().unwrap_or_default()] } else { args };
                let billed_note = if billed { format!(" {}", t("panelBilled", &[])) } else { String::new() };
                status(&format!("{}{billed_note}", t(key, &args)), "problem");
                button("again").set_hidden(false);
                button("allow").set_hidden(failure != ApiFailure::Unreachable);
            }
        }
        for id in ["send", "again", "allow"] {
            button(id).set_disabled(false);
        }
        button("copy").set_disabled(self.answer.borrow().is_empty());
        self.sending.set(false);
    }

    /// Sends the request once and shows the answer as it comes: the failure, if any, and whether
    /// any of the answer came (then it is billed).
    async fn request(&self, prompt: &str) -> (Option<ApiFailure>, bool) {
        let init = RequestInit::new();
        init.set_method("POST");
        init.set_credentials(RequestCredentials::Omit);
        init.set_cache(RequestCache::NoStore);
        init.set_referrer_policy(ReferrerPolicy::NoReferrer);
        // A host that never answers, or a stream gone silent, ends the request (read as a cut).
        let Ok(abort) = AbortController::new() else { return (Some(ApiFailure::Unreachable), false) };
        init.set_signal(Some(&abort.signal()));
        let idle = RefCell::new(None::<Timeout>);
        let quiet_from_now = || {
            let abort = abort.clone();
            idle.replace(Some(Timeout::new(IDLE_LIMIT_MS, move || abort.abort())));
        };
        quiet_from_now();
        let headers = json!({ "Authorization": format!("Bearer {}", self.key), "Content-Type": "application/json" });
        init.set_headers(&js(&headers));
        init.set_body(&JsValue::from_str(&api_answer::request_body(&self.endpoint.model, prompt).to_text()));
        let Some(window) = web_sys::window() else { return (Some(ApiFailure::Unreachable), false) };
        let response: Response = match JsFuture::from(window.fetch_with_str_and_init(&self.endpoint.completions_url(), &init)).await {
            Ok(response) => response.unchecked_into(),
            Err(_) => return (Some(ApiFailure::Unreachable), false),
        };
        let retry_after = response.headers().get("retry-after").ok().flatten();
        if let Some(failure) = ApiFailure::of_status(response.status(), retry_after.as_deref(), Date::now() as u64) {
            return (Some(failure), false);
        }
        let mut stream = ApiStream::new();
        let reader: Option<ReadableStreamDefaultReader> = response.body().map(|body| body.get_reader().unchecked_into());
        let mut failure = None;
        if let Some(reader) = reader {
            status(&t("panelWaiting", &[]), "");
            loop {
                // A dropped connection rejects the read: the stream's end says whether it was complete.
                let Ok(chunk) = JsFuture::from(reader.read()).await else { break };
                if Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
                    break;
                }
                quiet_from_now();
                let bytes = Reflect::get(&chunk, &"value".into()).map(|v| Uint8Array::new(&v).to_vec()).unwrap_or_default();
                if let Some(found) = self.take(stream.push(&bytes)) {
                    failure = Some(found);
                    let _ = reader.cancel();
                    break;
                }
            }
        }
        idle.replace(None);
        if failure.is_none() {
            failure = self.take(stream.end());
        }
        (failure, stream.first_token_seen())
    }

    /// Shows what the stream said; the failure it ended with, if any.
    fn take(&self, events: Vec<ApiEvent>) -> Option<ApiFailure> {
        for event in events {
            match event {
                ApiEvent::Content(text) => self.answer.borrow_mut().push_str(&text),
                ApiEvent::Reasoning(text) => self.reasoning.borrow_mut().push_str(&text),
                ApiEvent::Usage { prompt_tokens, completion_tokens } => {
                    let line = t("panelUsage", &[prompt_tokens.to_string(), completion_tokens.to_string()]);
                    by_id::<HtmlElement>("usage").set_text_content(Some(&line));
                }
                ApiEvent::Finished => {}
                ApiEvent::Failed(failure) => return Some(failure),
            }
        }
        self.draw(false);
        None
    }

    /// Draws the answer (Markdown, as nodes) and the reasoning (text, collapsed).
    fn draw(&self, now: bool) {
        if !now && Date::now() - self.drawn_at.get() < REDRAW_EVERY_MS {
            return;
        }
        self.drawn_at.set(Date::now());
        let answer = by_id::<HtmlElement>("answer");
        answer.set_text_content(None);
        for node in markdown::render(&self.answer.borrow()) {
            let _ = answer.append_child(&build(&node));
        }
        let reasoning = self.reasoning.borrow();
        by_id::<HtmlElement>("reasoning-box").set_hidden(reasoning.is_empty());
        by_id::<HtmlElement>("reasoning").set_text_content(Some(&reasoning));
    }
}

/// One node of the answer, element by element: tags and attribute names come from `markdown`'s
/// fixed lists, text only ever becomes text.
fn build(node: &Node) -> web_sys::Node {
    match node {
        Node::Text(text) => document().create_text_node(text).into(),
        Node::Element { tag, attrs, children } => {
            let element = document().create_element(tag).expect("markdown's tags are valid names");
            for (name, value) in attrs {
                let _ = element.set_attribute(name, value);
            }
            for child in children {
                let _ = element.append_child(&build(child));
            }
            element.into()
        }
    }
}
