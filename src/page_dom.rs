//! What Unbusy knows of the chat page's DOM: where the last answer is and its controls. The relay
//! reads these tables (through the generated protocol module) and never guesses beyond them. Class
//! names are hashed by the site's build except the `ds-*` ones; each entry says where it was seen.

use crate::json::ToJson;

/// Every message of the conversation (stable class, 2026: protocol notes, "DOM").
pub const MESSAGE_BLOCK: &str = "div.ds-message";
/// A message the user wrote; the last message that is not one is the answer a control belongs to.
pub const USER_MESSAGE: &str = "[data-role=\"user\"]";

#[derive(Debug, Clone, Copy, ToJson)]
pub struct Locator {
    /// Elements to look for inside the last assistant message.
    pub select: &'static str,
    /// The clickable ancestor to press (`closest`), if the match is a part of it.
    #[json(skip_if = "Option::is_none")]
    pub climb: Option<&'static str>,
    /// Only matches whose text is one of these.
    #[json(skip_if = "<[_]>::is_empty")]
    pub texts: &'static [&'static str],
    pub source: &'static str,
}

const ICON_BUTTON: Option<&str> = Some(".ds-icon-button, [role=\"button\"], button");
const CONTINUE_TEXTS: &[&str] = &["继续生成", "Continue"];

/// Regenerate: the id sits on a shape inside the icon's svg (userscripts match `svg rect#重新生成`),
/// or on the svg itself; the aria-label form is older.
pub const RETRY_LOCATORS: &[Locator] = &[
    Locator { select: "[id=\"重新生成\"]", climb: ICON_BUTTON, texts: &[], source: "userscripts, 2025-09 to 2026-09" },
    Locator { select: "[aria-label=\"重新生成\"], [aria-label=\"Regenerate\"]", climb: ICON_BUTTON, texts: &[], source: "aria-label form, 2025" },
];

/// Continue a cut answer (继续生成).
pub const CONTINUE_LOCATORS: &[Locator] = &[
    Locator { select: "div[role=\"button\"].ds-button--secondary", climb: None, texts: CONTINUE_TEXTS, source: "reverse-engineered client notes, 2026-09" },
    Locator { select: "button, [role=\"button\"]", climb: None, texts: CONTINUE_TEXTS, source: "text fallback, 2026-09" },
];

/// The app's own "New chat" control, searched in the whole page (the banner's "Start a new chat
/// with this message"). No source shows a stable id or class for it: its text, as the app writes it.
pub const NEW_CHAT_LOCATORS: &[Locator] =
    &[Locator { select: NEW_CHAT_SELECT, climb: None, texts: &["开启新对话", "New chat"], source: "the app's sidebar text, 2026" }];

/// Never inside a message: an answer may hold a link that says "New chat".
const NEW_CHAT_SELECT: &str =
    "button:not(div.ds-message *), a:not(div.ds-message *), [role=\"button\"]:not(div.ds-message *), div[tabindex]:not(div.ds-message *)";

/// The message box a new chat's prompt is put in; the user sends it (clients and userscripts of 2025-2026).
pub const COMPOSER: &str = "textarea#chat-input";

/// DeepSeek's own crash screen, which blames browser extensions (only looked for while no message is on screen).
pub const CRASH_SCREEN_TEXTS: &[&str] =
    &["This page may have crashed due to changes made by certain browser extensions", "页面崩溃可能与浏览器插件对页面内容的修改有关"];
