//! Diagnosis: what may be wrong besides a busy server, and which fixes are worth trying, ranked by
//! the evidence. Pure analysis; the popup gathers the inputs and shows the report.

pub mod advice;
pub mod conflicts;
pub mod connection;
pub mod cookies;
pub mod events;
pub mod history;
pub mod view;

use crate::json::{FromJson, ToJson};

/// How sure a finding or a fix is, from the evidence at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum Likelihood {
    Unlikely,
    Possible,
    Likely,
}

/// One thing the popup tells the user: a message key with its arguments, why it matters, and
/// what can be done.
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct Finding {
    pub id: String,
    pub likelihood: Likelihood,
    /// `_locales` message keys; `args` fill the placeholders of `title`.
    pub title: String,
    pub args: Vec<String>,
    pub why: String,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq, ToJson, FromJson)]
#[json(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Ask for the optional `management` permission and look at the installed extensions.
    CheckExtensions,
    /// Open an extension's own page (Chromium: chrome://extensions/?id=…); Firefox gets steps.
    OpenExtension {
        id: String,
    },
    /// Clear chat.deepseek.com's data after a confirmation (optional `browsingData` permission).
    ClearSiteData,
    HardRefresh,
    NewChat,
    CopyText {
        text: String,
    },
    /// Ask for the optional host permission and fetch the public status page once.
    CheckStatus,
    OpenUrl {
        url: String,
    },
}
