//! Where the opt-in API fallback (issue 13) sends the user's prompt, and the key it sends with it:
//! the endpoint choices the options page offers, their validation, the origin a key and a host
//! permission are bound to, and how a key is shown. Decisions only; the options page stores the
//! key in the extension's own IndexedDB (never `storage.*`, which content scripts can read).

use crate::json::{FromJson, ToJson};

/// An endpoint the options page offers by name.
pub struct Preset {
    pub id: &'static str,
    /// OpenAI-compatible base URL: the request goes to `{base}/chat/completions`.
    pub base: &'static str,
    pub models: &'static [&'static str],
}

pub const PRESETS: &[Preset] = &[
    Preset { id: "deepseek", base: "https://api.deepseek.com", models: &["deepseek-chat", "deepseek-reasoner"] },
    Preset { id: "openrouter", base: "https://openrouter.ai/api/v1", models: &["deepseek/deepseek-chat", "deepseek/deepseek-r1"] },
];

/// The id of a base URL the user types in.
pub const CUSTOM: &str = "custom";

/// Longest base URL, model name and key accepted (far beyond any real one).
pub const MAX_BASE_CHARS: usize = 200;
pub const MAX_MODEL_CHARS: usize = 100;
pub const MAX_KEY_CHARS: usize = 300;

/// The endpoint as the user chose it (stored in `storage.sync`: settings may travel with the
/// browser's own sync; the key never does).
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct Endpoint {
    /// One of `PRESETS`' ids, or `CUSTOM`.
    pub preset: String,
    /// The base URL (a preset's own, or what the user typed).
    pub base: String,
    pub model: String,
}

impl Default for Endpoint {
    fn default() -> Self {
        let preset = &PRESETS[0];
        Endpoint { preset: preset.id.into(), base: preset.base.into(), model: preset.models[0].into() }
    }
}

/// Why an endpoint or a key is refused (a text key of the options page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointProblem {
    NotHttps,
    BadBase,
    BadModel,
    BadKey,
}

/// Every problem, for the text-key checks (`text_keys`).
pub const PROBLEMS: [EndpointProblem; 4] = [EndpointProblem::NotHttps, EndpointProblem::BadBase, EndpointProblem::BadModel, EndpointProblem::BadKey];

impl EndpointProblem {
    pub fn text_key(self) -> &'static str {
        match self {
            EndpointProblem::NotHttps => "apiNotHttps",
            EndpointProblem::BadBase => "apiBadBase",
            EndpointProblem::BadModel => "apiBadModel",
            EndpointProblem::BadKey => "apiBadKey",
        }
    }
}

impl Endpoint {
    /// The endpoint for a preset with its first model, or a custom one from what was typed.
    pub fn chosen(preset: &str, custom_base: &str, model: &str) -> Result<Endpoint, EndpointProblem> {
        let model = model.trim();
        let endpoint = match PRESETS.iter().find(|p| p.id == preset) {
            Some(known) => {
                let model = if known.models.contains(&model) { model } else { known.models[0] };
                Endpoint { preset: known.id.into(), base: known.base.into(), model: model.into() }
            }
            None => Endpoint { preset: CUSTOM.into(), base: custom_base.trim().trim_end_matches('/').into(), model: model.into() },
        };
        endpoint.check().map(|()| endpoint)
    }

    pub fn check(&self) -> Result<(), EndpointProblem> {
        origin_of(&self.base)?;
        let model_ok = !self.model.is_empty() && self.model.chars().count() <= MAX_MODEL_CHARS && self.model.chars().all(|c| c.is_ascii_graphic());
        if !model_ok {
            return Err(EndpointProblem::BadModel);
        }
        Ok(())
    }

    /// Where the request goes.
    pub fn completions_url(&self) -> String {
        format!("{}/chat/completions", self.base.trim_end_matches('/'))
    }

    /// The origin the key and the host permission are bound to.
    pub fn origin(&self) -> Option<String> {
        origin_of(&self.base).ok()
    }
}

/// `https://host[:port]` of a base URL; anything but plain https with a host name (user info,
/// spaces, a query or fragment, another scheme) is refused.
pub fn origin_of(base: &str) -> Result<String, EndpointProblem> {
    let rest = base.strip_prefix("https://").ok_or(EndpointProblem::NotHttps)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.split(':').next().unwrap_or_default();
    let port = authority.strip_prefix(host).and_then(|p| p.strip_prefix(':'));
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && !host.starts_with('-');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    let path_ok = rest.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '@' | '\\'));
    if base.chars().count() > MAX_BASE_CHARS || !host_ok || !port_ok || !path_ok {
        return Err(EndpointProblem::BadBase);
    }
    Ok(format!("https://{}", authority.to_ascii_lowercase()))
}

/// The host permission pattern that lets the background reach `origin`.
pub fn permission_pattern(origin: &str) -> String {
    format!("{origin}/*")
}

/// A key as typed: printable ASCII without spaces, of a sane length.
pub fn check_key(key: &str) -> Result<&str, EndpointProblem> {
    let key = key.trim();
    let ok = !key.is_empty() && key.len() <= MAX_KEY_CHARS && key.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(key)
    } else {
        Err(EndpointProblem::BadKey)
    }
}

/// A key as the options page shows it: its first three and last four characters, the rest hidden.
pub fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "•".repeat(chars.len().max(4));
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}••••{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_pick_their_own_base_and_a_known_model() {
        let deepseek = Endpoint::chosen("deepseek", "https://ignored.example", "deepseek-reasoner").unwrap();
        assert_eq!(deepseek.completions_url(), "https://api.deepseek.com/chat/completions");
        assert_eq!(deepseek.model, "deepseek-reasoner");
        assert_eq!(Endpoint::chosen("deepseek", "", "gpt-9").unwrap().model, "deepseek-chat", "a preset keeps to its models");
        let router = Endpoint::chosen("openrouter", "", "").unwrap();
        assert_eq!(router.completions_url(), "https://openrouter.ai/api/v1/chat/completions");
        assert_eq!(router.origin().as_deref(), Some("https://openrouter.ai"));
        assert_eq!(Endpoint::default().origin().as_deref(), Some("https://api.deepseek.com"));
    }

    #[test]
    fn a_custom_base_must_be_plain_https() {
        let custom = Endpoint::chosen("custom", " https://LLM.example.org:8443/v1/ ", "my-model").unwrap();
        assert_eq!(custom.completions_url(), "https://LLM.example.org:8443/v1/chat/completions");
        assert_eq!(custom.origin().as_deref(), Some("https://llm.example.org:8443"));
        for (base, problem) in [
            ("http://llm.example.org", EndpointProblem::NotHttps),
            ("javascript:alert(1)", EndpointProblem::NotHttps),
            ("https:///v1", EndpointProblem::BadBase),
            ("https://user:pw@llm.example.org", EndpointProblem::BadBase),
            ("https://llm.example.org/v1?x=1", EndpointProblem::BadBase),
            ("https://llm example.org", EndpointProblem::BadBase),
            ("https://llm.example.org:99999x", EndpointProblem::BadBase),
            ("https://-bad.example", EndpointProblem::BadBase),
        ] {
            assert_eq!(Endpoint::chosen("custom", base, "m").unwrap_err(), problem, "{base}");
        }
        assert_eq!(Endpoint::chosen("custom", "https://llm.example.org", "").unwrap_err(), EndpointProblem::BadModel);
        assert_eq!(Endpoint::chosen("custom", "https://llm.example.org", "has space").unwrap_err(), EndpointProblem::BadModel);
        assert_eq!(permission_pattern("https://llm.example.org"), "https://llm.example.org/*");
    }

    #[test]
    fn keys_are_checked_and_shown_masked() {
        assert_eq!(check_key("  sk-abcdef0123456789 "), Ok("sk-abcdef0123456789"));
        for bad in ["", "   ", "sk with space", "ключ"] {
            assert_eq!(check_key(bad), Err(EndpointProblem::BadKey), "{bad}");
        }
        assert_eq!(check_key(&"k".repeat(MAX_KEY_CHARS + 1)), Err(EndpointProblem::BadKey));
        assert_eq!(masked("sk-abcdef0123456789"), "sk-••••6789");
        assert!(!masked("sk-abcdef0123456789").contains("abcdef"));
        assert_eq!(masked("short"), "•••••");
    }
}
