//! Small helpers over web-sys for the two pages' fixed markup.

use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, HtmlElement};

use crate::webext::Api;

pub fn document() -> Document {
    web_sys::window().and_then(|w| w.document()).expect("an extension page has a document")
}

/// An element of the page's own markup, as the type the page declares it with.
pub fn by_id<T: JsCast>(id: &str) -> T {
    document().get_element_by_id(id).unwrap_or_else(|| panic!("#{id} is in the page's markup")).unchecked_into()
}

pub fn el(tag: &str, class: &str, text: Option<&str>) -> HtmlElement {
    let node: HtmlElement = document().create_element(tag).expect("a valid tag name").unchecked_into();
    if !class.is_empty() {
        node.set_class_name(class);
    }
    if let Some(text) = text {
        node.set_text_content(Some(text));
    }
    node
}

pub fn set_data(node: &HtmlElement, name: &str, value: &str) {
    let _ = node.dataset().set(name, value);
}

/// Replaces an element's children.
pub fn fill(parent: &Element, children: impl IntoIterator<Item = HtmlElement>) {
    parent.set_text_content(None);
    for child in children {
        let _ = parent.append_child(&child);
    }
}

/// Nodes marked `data-i18n` get the text their key names in the user's language; the page its `lang`.
pub fn translate_page(api: &Api) {
    let nodes = document().query_selector_all("[data-i18n]").expect("a valid selector");
    for index in 0..nodes.length() {
        let Some(node) = nodes.item(index).and_then(|n| n.dyn_into::<HtmlElement>().ok()) else { continue };
        // A key the locale lacks keeps the page's own (English) text.
        let text = node.dataset().get("i18n").map(|key| api.i18n().get_message(&key, &js_sys::Array::new())).unwrap_or_default();
        if !text.is_empty() {
            node.set_text_content(Some(&text));
        }
    }
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("lang", &api.i18n().get_ui_language());
    }
}

/// Calls `handler` on every `event` at `target`, for the page's lifetime.
pub fn on(target: &web_sys::EventTarget, event: &str, handler: impl FnMut(web_sys::Event) + 'static) {
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(handler);
    let _ = target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    // The pages never remove their listeners: they live as long as the page.
    closure.forget();
}
