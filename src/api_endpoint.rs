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
            // A base typed with the path's end already on it is the same base.
            None => {
                let base = custom_base.trim().trim_end_matches('/').trim_end_matches("/chat/completions");
                Endpoint { preset: CUSTOM.into(), base: base.into(), model: model.into() }
            }
        };
        endpoint.check().map(|()| endpoint)
    }

    /// An endpoint as stored (synced from another device, or damaged) must be what `chosen`
    /// makes: a preset with its own base and one of its models, or a custom one.
    pub fn check(&self) -> Result<(), EndpointProblem> {
        origin_of(&self.base)?;
        match PRESETS.iter().find(|p| p.id == self.preset) {
            Some(known) if known.base != self.base || !known.models.contains(&self.model.as_str()) => return Err(EndpointProblem::BadBase),
            None if self.preset != CUSTOM => return Err(EndpointProblem::BadBase),
            _ => {}
        }
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

/// The origin of a base URL as the browser writes it (`https://host`, with the port only when it
/// is not 443). Anything but plain https to a host name is refused: user info, spaces, a query or
/// fragment, another scheme, an IP address in any notation the browser accepts (`2130706433`,
/// `0x7f.1`: the origin checked would not be the host called), a port outside 1–65535.
pub fn origin_of(base: &str) -> Result<String, EndpointProblem> {
    let scheme_ok = base.get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    if !scheme_ok {
        return Err(EndpointProblem::NotHttps);
    }
    let rest = &base[8..];
    let authority = rest.split('/').next().unwrap_or_default().to_ascii_lowercase();
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority.as_str(), None),
    };
    let labels_ok = !host.is_empty()
        && host.split('.').all(|label| !label.is_empty() && !label.starts_with('-') && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    // A name's last label has a letter and is no hex number; every IP notation fails this.
    let top = host.rsplit('.').next().unwrap_or_default();
    let named = top.chars().any(|c| c.is_ascii_alphabetic()) && !top.starts_with("0x") && !host.starts_with("0x");
    let port = match port {
        None => None,
        Some(digits) => match digits.parse::<u16>() {
            Ok(number) if number > 0 && digits.len() <= 5 && digits.chars().all(|c| c.is_ascii_digit()) => Some(number),
            _ => return Err(EndpointProblem::BadBase),
        },
    };
    let path_ok = rest.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '@' | '\\'));
    if base.chars().count() > MAX_BASE_CHARS || !labels_ok || !named || !path_ok {
        return Err(EndpointProblem::BadBase);
    }
    Ok(match port {
        Some(port) if port != 443 => format!("https://{host}:{port}"),
        _ => format!("https://{host}"),
    })
}

/// The host permission pattern that lets the background reach `origin`: its host, any port
/// (Firefox's match patterns take no port; Chromium's without one match every port).
pub fn permission_pattern(origin: &str) -> String {
    let host = origin.trim_start_matches("https://").split(':').next().unwrap_or_default();
    format!("https://{host}/*")
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

/// A key as the options page shows it: a long one by its last four characters, the rest (and
/// its length) hidden; a short one not at all.
pub fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 20 {
        return "••••••••".into();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("••••••••{tail}")
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
        let full = Endpoint::chosen("custom", "https://llm.example.org/v1/chat/completions", "m").unwrap();
        assert_eq!(full.completions_url(), "https://llm.example.org/v1/chat/completions", "the path is not doubled");
        let custom = Endpoint::chosen("custom", " HTTPS://LLM.example.org:8443/v1/ ", "my-model").unwrap();
        assert_eq!(custom.completions_url(), "HTTPS://LLM.example.org:8443/v1/chat/completions");
        assert_eq!(custom.origin().as_deref(), Some("https://llm.example.org:8443"));
        assert_eq!(permission_pattern("https://llm.example.org:8443"), "https://llm.example.org/*", "Firefox's patterns take no port");
        assert_eq!(origin_of("https://llm.example.org:443/v1").as_deref(), Ok("https://llm.example.org"), "443 is https's own");
        for (base, problem) in [
            ("http://llm.example.org", EndpointProblem::NotHttps),
            ("javascript:alert(1)", EndpointProblem::NotHttps),
            ("https:///v1", EndpointProblem::BadBase),
            ("https://user:pw@llm.example.org", EndpointProblem::BadBase),
            ("https://llm.example.org/v1?x=1", EndpointProblem::BadBase),
            ("https://llm example.org", EndpointProblem::BadBase),
            ("https://llm.example.org:99999x", EndpointProblem::BadBase),
            ("https://-bad.example", EndpointProblem::BadBase),
            ("https://llm.example.org:0", EndpointProblem::BadBase),
            ("https://llm.example.org:65536", EndpointProblem::BadBase),
            ("https://2130706433/v1", EndpointProblem::BadBase),
            ("https://0x7f.1", EndpointProblem::BadBase),
            ("https://127.0.0.1:8443", EndpointProblem::BadBase),
            ("https://[::1]/v1", EndpointProblem::BadBase),
        ] {
            assert_eq!(Endpoint::chosen("custom", base, "m").unwrap_err(), problem, "{base}");
        }
        assert_eq!(Endpoint::chosen("custom", "https://llm.example.org", "").unwrap_err(), EndpointProblem::BadModel);
        assert_eq!(Endpoint::chosen("custom", "https://llm.example.org", "has space").unwrap_err(), EndpointProblem::BadModel);
        assert_eq!(permission_pattern("https://llm.example.org"), "https://llm.example.org/*");
    }

    #[test]
    fn a_stored_endpoint_must_be_what_the_options_page_makes() {
        let forged = Endpoint { preset: "deepseek".into(), base: "https://evil.example".into(), model: "deepseek-chat".into() };
        assert_eq!(forged.check(), Err(EndpointProblem::BadBase), "a preset keeps its own base");
        let unknown = Endpoint { preset: "mystery".into(), ..Endpoint::default() };
        assert_eq!(unknown.check(), Err(EndpointProblem::BadBase));
        assert!(Endpoint::default().check().is_ok());
    }

    #[test]
    fn keys_are_checked_and_shown_masked() {
        assert_eq!(check_key("  sk-abcdef0123456789 "), Ok("sk-abcdef0123456789"));
        for bad in ["", "   ", "sk with space", "ключ"] {
            assert_eq!(check_key(bad), Err(EndpointProblem::BadKey), "{bad}");
        }
        assert_eq!(check_key(&"k".repeat(MAX_KEY_CHARS + 1)), Err(EndpointProblem::BadKey));
        assert_eq!(masked("sk-abcdef0123456789xyzw"), "••••••••xyzw");
        assert_eq!(masked("sk-abcdef012"), "••••••••", "a short key shows nothing of itself, not even its length");
        assert_eq!(masked("short"), masked("a-much-longer-key"));
    }
}
