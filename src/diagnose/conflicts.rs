//! Conflicting extensions: a table of known ones (store ids for Chrome and Firefox), heuristics on
//! what any enabled extension may do to chat.deepseek.com, and what the page hook saw.

use crate::json::{FromJson, ToJson};

use super::{Action, Finding, Likelihood};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Blocks or rewrites requests (ad and tracker blockers).
    Blocker,
    /// Blocks scripts (NoScript, uMatrix).
    ScriptBlocker,
    /// Another DeepSeek helper hooking the same requests.
    ChatHelper,
    /// Routes traffic through a proxy or VPN.
    Proxy,
    /// Runs userscripts (Tampermonkey and the like): a DeepSeek userscript may hook or click.
    UserscriptManager,
}

pub struct KnownExtension {
    pub name: &'static str,
    pub chrome_id: &'static str,
    pub firefox_id: &'static str,
    pub kind: ConflictKind,
    /// What this one was reported to do to DeepSeek (a `_locales` key), beyond its kind.
    pub reported: Option<&'static str>,
    /// Where that report comes from, and when.
    pub source: &'static str,
}

/// Extension ids as the Chrome Web Store and addons.mozilla.org publish them.
pub const KNOWN_EXTENSIONS: &[KnownExtension] = &[
    KnownExtension {
        name: "uBlock Origin",
        chrome_id: "cjpalhdlnbpafiamejdnhcphjbkeiagm",
        firefox_id: "uBlock0@raymondhill.net",
        kind: ConflictKind::Blocker,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "uBlock Origin Lite",
        chrome_id: "ddkjiahejlhfcafbddmgiahcphecmpfh",
        firefox_id: "uBOLite@raymondhill.net",
        kind: ConflictKind::Blocker,
        reported: Some("reportedBadwareList"),
        source: "uBlockOrigin/uAssets, July 2026",
    },
    KnownExtension {
        name: "AdBlock",
        chrome_id: "gighmmpiobklfepjocnamgkkbiglidom",
        firefox_id: "jid1-NIfFY2CA8fy1tg@jetpack",
        kind: ConflictKind::Blocker,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "Adblock Plus",
        chrome_id: "cfhdojbkjhnklbpkdaibdccddilifddb",
        firefox_id: "{d10d0bf8-f5b5-c8b4-a8b2-2b9879e08c5d}",
        kind: ConflictKind::Blocker,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "AdGuard AdBlocker",
        chrome_id: "bgnkhhnnamicmpeenaelnjfhikgbkllg",
        firefox_id: "adguardadblocker@adguard.com",
        kind: ConflictKind::Blocker,
        reported: Some("reportedBlocksCaptcha"),
        source: "AdGuard filter threads, 2026",
    },
    KnownExtension {
        name: "Ghostery",
        chrome_id: "mlomiejdfkolichcflejclcbmpeaniij",
        firefox_id: "firefox@ghostery.com",
        kind: ConflictKind::Blocker,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "Privacy Badger",
        chrome_id: "pkehgijcmpdhfbdbbnkijodmdjhbjlgp",
        firefox_id: "jid1-MnnxcxisBPnSXQ@jetpack",
        kind: ConflictKind::Blocker,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "NoScript",
        chrome_id: "doojmbjmlfjjnbmnoijecmcbfeoakpjm",
        firefox_id: "{73a6fe31-595d-460b-a920-fcc0f8843232}",
        kind: ConflictKind::ScriptBlocker,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "uMatrix",
        chrome_id: "ogfcmafjalglgifnmanfmnieipoejdcf",
        firefox_id: "uMatrix@raymondhill.net",
        kind: ConflictKind::ScriptBlocker,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "DuckDuckGo Privacy Essentials",
        chrome_id: "bkdgflcldnnnapblkhphbgpggdiikppg",
        firefox_id: "jid1-ZAdIEUB7XOzOJw@jetpack",
        kind: ConflictKind::Blocker,
        reported: None,
        source: "store listing",
    },
    // Late-2026 observations (shared protocol notes, "Extensions and filters reported to interfere").
    KnownExtension {
        name: "Better DeepSeek",
        chrome_id: "aabiopennjmopfippagcalmkdjlepdhh",
        firefox_id: "",
        kind: ConflictKind::ChatHelper,
        reported: Some("reportedRewritesRequests"),
        source: "EdgeTypE/better-deepseek, 2026",
    },
    KnownExtension {
        name: "Better DeepSeek",
        chrome_id: "ceiaajcinnohmjhcabpomejbplgofjop",
        firefox_id: "",
        kind: ConflictKind::ChatHelper,
        reported: Some("reportedRewritesRequests"),
        source: "user reports, 2026",
    },
    KnownExtension {
        name: "DeepSeek++",
        chrome_id: "kdmpkkahkhdmdhfkdihkopikgcocbpbf",
        firefox_id: "deepseek-pp@zhu1090093659.github",
        kind: ConflictKind::ChatHelper,
        reported: Some("reportedHooksPage"),
        source: "deepseek-pp, 2026",
    },
    KnownExtension {
        name: "Tampermonkey",
        chrome_id: "dhdgffkkebhmkfjojejmpbldmpobfkfo",
        firefox_id: "firefox@tampermonkey.net",
        kind: ConflictKind::UserscriptManager,
        reported: None,
        source: "userscript threads, 2026",
    },
    KnownExtension {
        name: "Violentmonkey",
        chrome_id: "jinjaccalgkegednnccohejagnlnfdag",
        firefox_id: "{aecec67f-0d10-4fa7-b7c7-609a2db280cf}",
        kind: ConflictKind::UserscriptManager,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "Greasemonkey",
        chrome_id: "",
        firefox_id: "{e4a8a97b-f2ed-450b-b12d-ee082ba24781}",
        kind: ConflictKind::UserscriptManager,
        reported: None,
        source: "store listing",
    },
    KnownExtension {
        name: "Disconnect",
        chrome_id: "jeoacafpbcihiomhlakheieifhpjdfeo",
        firefox_id: "2.0@disconnect.me",
        kind: ConflictKind::Blocker,
        reported: None,
        source: "store listing",
    },
];

/// Markers other DeepSeek helpers leave on the page (`Symbol.for(…)` keys on window or fetch).
pub const HOOK_MARKERS: &[(&str, &str)] = &[
    ("deepseek-pp.fetch-hook-installed", "DeepSeek++"),
    // Better DeepSeek tags the page's XHRs with this property (observed on a watched request).
    ("xhr:__bdsRequestMeta", "Better DeepSeek"),
    // DeepSeek++ marks its own requests with this header (observed on a watched request).
    ("header:x-dpp-bypass-hook", "DeepSeek++"),
];

/// The table's own copy of a marker the page reported; `None` for anything else (page text).
pub fn known_marker(reported: &str) -> Option<&'static str> {
    HOOK_MARKERS.iter().find(|(marker, _)| *marker == reported).map(|(marker, _)| *marker)
}

/// Permissions that let an extension change what the chat page sends or receives.
const REQUEST_CHANGING: &[&str] = &["declarativeNetRequest", "declarativeNetRequestWithHostAccess", "webRequestBlocking"];
const ALL_SITES: &[&str] = &["<all_urls>", "*://*/*", "https://*/*", "http://*/*"];

/// What `management.getAll()` says of one extension (only the fields the analysis needs).
#[derive(Debug, Clone, Default, PartialEq, Eq, ToJson, FromJson)]
#[json(default)]
pub struct ExtensionInfo {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    #[json(rename = "type")]
    pub kind: String,
    pub permissions: Vec<String>,
    #[json(rename = "hostPermissions")]
    pub host_permissions: Vec<String>,
}

/// What the page hook saw of `fetch` and `XMLHttpRequest` on the chat page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToJson, FromJson)]
#[json(rename_all = "snake_case")]
pub enum HookState {
    /// Native before Unbusy's hook, and still Unbusy's.
    Clean,
    /// Someone else wrapped it before Unbusy did.
    WrappedBefore,
    /// Someone replaced Unbusy's wrapper later: Unbusy may not see the page's requests.
    ReplacedAfter,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, ToJson, FromJson)]
#[json(default)]
pub struct PageHooks {
    pub fetch: Option<HookState>,
    pub xhr: Option<HookState>,
    pub markers: Vec<String>,
    pub login_token: Option<bool>,
}

impl PageHooks {
    /// A tab whose document got Unbusy's scripts after its own (open before an install or update):
    /// nothing is known of its hooks, and it is not watched until it reloads. Every report of a
    /// hook sets both states, so an entry with neither (and nothing else) is this one.
    pub fn not_watched() -> PageHooks {
        PageHooks::default()
    }

    pub fn is_not_watched(&self) -> bool {
        *self == PageHooks::default()
    }
}

fn covers_chat(hosts: &[String]) -> bool {
    hosts.iter().any(|h| ALL_SITES.contains(&h.as_str()) || h.contains("deepseek.com"))
}

fn why_key(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::Blocker => "whyBlocker",
        ConflictKind::ScriptBlocker => "whyScriptBlocker",
        ConflictKind::ChatHelper => "whyChatHelper",
        ConflictKind::Proxy => "whyProxy",
        ConflictKind::UserscriptManager => "whyUserscriptManager",
    }
}

/// Findings on the installed extensions; `self_id` is Unbusy's own id.
pub fn analyse_extensions(extensions: &[ExtensionInfo], self_id: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for ext in extensions.iter().filter(|e| e.enabled && e.id != self_id && (e.kind.is_empty() || e.kind == "extension")) {
        let known = KNOWN_EXTENSIONS.iter().find(|k| !ext.id.is_empty() && (k.chrome_id == ext.id || k.firefox_id == ext.id));
        let name_says_helper = ext.name.to_lowercase().contains("deepseek");
        let (kind, likelihood) = if let Some(k) = known {
            (k.kind, Likelihood::Likely)
        } else if name_says_helper {
            (ConflictKind::ChatHelper, Likelihood::Likely)
        } else if ext.permissions.iter().any(|p| p == "proxy") {
            (ConflictKind::Proxy, Likelihood::Possible)
        } else if ext.permissions.iter().any(|p| REQUEST_CHANGING.contains(&p.as_str())) && covers_chat(&ext.host_permissions) {
            (ConflictKind::Blocker, Likelihood::Possible)
        } else if covers_chat(&ext.host_permissions) {
            // Can run scripts on every site, the chat included: worth a look only if nothing else explains.
            (ConflictKind::ChatHelper, Likelihood::Unlikely)
        } else {
            continue;
        };
        findings.push(Finding {
            id: format!("extension:{}", ext.id),
            likelihood,
            title: "findingExtension".into(),
            args: vec![known.map_or(ext.name.clone(), |k| k.name.to_string())],
            why: known.and_then(|k| k.reported).unwrap_or(why_key(kind)).into(),
            actions: vec![Action::OpenExtension { id: ext.id.clone() }],
        });
    }
    findings.sort_by(|a, b| b.likelihood.cmp(&a.likelihood).then(a.args.cmp(&b.args)));
    findings
}

/// Findings from the page itself, which need no permission.
pub fn analyse_page_hooks(hooks: &PageHooks) -> Vec<Finding> {
    let mut findings = Vec::new();
    let states = [("fetch", hooks.fetch), ("XMLHttpRequest", hooks.xhr)];
    for (api, state) in states {
        let (title, why, likelihood) = match state {
            Some(HookState::ReplacedAfter) => ("findingHookReplaced", "whyHookReplaced", Likelihood::Likely),
            Some(HookState::WrappedBefore) => ("findingHookWrapped", "whyHookWrapped", Likelihood::Possible),
            _ => continue,
        };
        findings.push(Finding {
            id: format!("page-hook:{api}"),
            likelihood,
            title: title.into(),
            args: vec![api.into()],
            why: why.into(),
            actions: vec![Action::CheckExtensions],
        });
    }
    // Only the table's markers and names are ever shown, whatever a stored state holds.
    for (marker, name) in HOOK_MARKERS.iter().filter(|(m, _)| hooks.markers.iter().any(|seen| seen == m)) {
        findings.push(Finding {
            id: format!("marker:{marker}"),
            likelihood: Likelihood::Likely,
            title: "findingExtension".into(),
            args: vec![name.to_string()],
            why: "whyChatHelper".into(),
            actions: vec![Action::CheckExtensions],
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(id: &str, name: &str, permissions: &[&str], hosts: &[&str]) -> ExtensionInfo {
        ExtensionInfo {
            id: id.into(),
            name: name.into(),
            enabled: true,
            kind: "extension".into(),
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            host_permissions: hosts.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_realistic_extension_list() {
        let list = vec![
            ext("self", "Unbusy", &["storage"], &["https://chat.deepseek.com/*"]),
            ext("cjpalhdlnbpafiamejdnhcphjbkeiagm", "uBlock Origin", &["dns", "webRequest"], &["<all_urls>"]),
            ext("abcdefghijklmnopabcdefghijklmnop", "Password manager", &["storage"], &["<all_urls>"]),
            ext("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "Free VPN", &["proxy"], &[]),
            ext("cccccccccccccccccccccccccccccccc", "DeepSeek Exporter", &["storage"], &["https://chat.deepseek.com/*"]),
            ext("dddddddddddddddddddddddddddddddd", "Dark mode", &["storage"], &["https://github.com/*"]),
            ExtensionInfo { enabled: false, ..ext("uBlock0@raymondhill.net", "uBlock Origin", &[], &[]) },
        ];
        let findings = analyse_extensions(&list, "self");
        let names: Vec<(&str, Likelihood)> = findings.iter().map(|f| (f.args[0].as_str(), f.likelihood)).collect();
        assert_eq!(
            names,
            [
                ("DeepSeek Exporter", Likelihood::Likely),
                ("uBlock Origin", Likelihood::Likely),
                ("Free VPN", Likelihood::Possible),
                ("Password manager", Likelihood::Unlikely)
            ]
        );
        assert_eq!(findings[1].why, "whyBlocker");
    }

    #[test]
    fn page_hooks_say_when_unbusy_may_be_blind() {
        let hooks = PageHooks {
            fetch: Some(HookState::ReplacedAfter),
            xhr: Some(HookState::Clean),
            markers: vec!["deepseek-pp.fetch-hook-installed".into()],
            login_token: Some(true),
        };
        let findings = analyse_page_hooks(&hooks);
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].title, "findingHookReplaced");
        assert_eq!(findings[1].args, ["DeepSeek++"]);
    }

    #[test]
    fn unknown_markers_are_never_shown() {
        let hooks = PageHooks { markers: vec!["Call 555-0100 for support".into(), "deepseek-pp.fetch-hook-installed".into()], ..PageHooks::default() };
        let findings = analyse_page_hooks(&hooks);
        assert_eq!(
            findings.iter().map(|f| (f.id.as_str(), f.args.clone())).collect::<Vec<_>>(),
            [("marker:deepseek-pp.fetch-hook-installed", vec!["DeepSeek++".to_string()])]
        );
        assert_eq!(known_marker("deepseek-pp.fetch-hook-installed"), Some("deepseek-pp.fetch-hook-installed"));
        assert_eq!(known_marker("deepseek-pp.fetch-hook-installed "), None);
    }
}
