//! DeepSeek's cookies, by name, place and size only: values never reach this module.

use std::collections::{BTreeMap, HashMap};

use crate::json::{FromJson, ToJson};

use super::{Action, Finding, Likelihood};

/// Browsers refuse a single cookie above 4096 bytes; many servers refuse request headers above
/// 8 KB, so a cookie header past `HEADER_WARN_BYTES` is near trouble.
pub const COOKIE_MAX_BYTES: usize = 4096;
pub const HEADER_WARN_BYTES: usize = 6 * 1024;
pub const HEADER_LIMIT_BYTES: usize = 8 * 1024;
pub const EXPIRING_SOON_MS: f64 = 60.0 * 60.0 * 1000.0;
pub const STALE_AFTER_MS: f64 = 30.0 * 24.0 * 60.0 * 60.0 * 1000.0;
/// Cookies set by bot challenges and firewalls in front of the site.
pub const CHALLENGE_COOKIES: &[&str] = &["cf_clearance", "__cf_bm", "aws-waf-token", "__cfruid"];

/// One cookie as the popup describes it (`size` is name plus value length; no value).
#[derive(Debug, Clone, PartialEq, ToJson, FromJson)]
pub struct CookieInfo {
    pub name: String,
    pub domain: String,
    pub path: String,
    pub size: usize,
    /// Milliseconds since the epoch; `None` for a session cookie.
    pub expires_ms: Option<f64>,
}

impl CookieInfo {
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.name, self.domain, self.path)
    }

    /// Whether the browser sends it with requests to chat.deepseek.com's API.
    fn sent_to_chat(&self) -> bool {
        let domain = self.domain.trim_start_matches('.');
        (domain == "deepseek.com" || domain == "chat.deepseek.com") && (self.path == "/" || "/api/v0/chat/".starts_with(&self.path))
    }
}

/// Unbusy's own record of when it first saw each cookie (the cookies API gives no creation time).
pub type FirstSeen = BTreeMap<String, f64>;

pub struct CookieReport {
    pub findings: Vec<Finding>,
    pub first_seen: FirstSeen,
    pub header_bytes: usize,
}

pub fn analyse(cookies: &[CookieInfo], first_seen: &FirstSeen, now_ms: f64) -> CookieReport {
    let mut findings = Vec::new();
    let clear = || vec![Action::ClearSiteData];

    let mut by_name: HashMap<&str, Vec<&CookieInfo>> = HashMap::new();
    for c in cookies {
        by_name.entry(c.name.as_str()).or_default().push(c);
    }
    let mut duplicates: Vec<(&str, usize)> = by_name.iter().filter(|(_, v)| v.len() > 1).map(|(n, v)| (*n, v.len())).collect();
    duplicates.sort();
    for (name, count) in duplicates {
        findings.push(Finding {
            id: format!("cookie-duplicate:{name}"),
            likelihood: Likelihood::Possible,
            title: "findingCookieDuplicate".into(),
            args: vec![name.into(), count.to_string()],
            why: "whyCookieDuplicate".into(),
            actions: clear(),
        });
    }

    let header_bytes: usize = cookies.iter().filter(|c| c.sent_to_chat()).map(|c| c.size + 2).sum();
    if header_bytes >= HEADER_WARN_BYTES {
        let likelihood = if header_bytes >= HEADER_LIMIT_BYTES { Likelihood::Likely } else { Likelihood::Possible };
        findings.push(Finding {
            id: "cookie-header-size".into(),
            likelihood,
            title: "findingCookieHeader".into(),
            args: vec![(header_bytes / 1024).to_string()],
            why: "whyCookieHeader".into(),
            actions: clear(),
        });
    }
    for c in cookies.iter().filter(|c| c.size * 10 >= COOKIE_MAX_BYTES * 9) {
        findings.push(Finding {
            id: format!("cookie-oversize:{}", c.key()),
            likelihood: Likelihood::Possible,
            title: "findingCookieOversize".into(),
            args: vec![c.name.clone(), c.size.to_string()],
            why: "whyCookieHeader".into(),
            actions: clear(),
        });
    }
    for c in cookies.iter().filter(|c| CHALLENGE_COOKIES.contains(&c.name.as_str())) {
        findings.push(Finding {
            id: format!("cookie-challenge:{}", c.key()),
            likelihood: Likelihood::Possible,
            title: "findingCookieChallenge".into(),
            args: vec![c.name.clone()],
            why: "whyCookieChallenge".into(),
            actions: clear(),
        });
    }
    for c in cookies.iter().filter(|c| c.expires_ms.is_some_and(|e| e > now_ms && e - now_ms < EXPIRING_SOON_MS)) {
        findings.push(Finding {
            id: format!("cookie-expiring:{}", c.key()),
            likelihood: Likelihood::Unlikely,
            title: "findingCookieExpiring".into(),
            args: vec![c.name.clone()],
            why: "whyCookieExpiring".into(),
            actions: vec![],
        });
    }

    // Keep first-seen times of cookies that still exist; note the new ones.
    let mut seen = FirstSeen::new();
    for c in cookies {
        seen.insert(c.key(), first_seen.get(&c.key()).copied().unwrap_or(now_ms));
    }
    let stale: Vec<&CookieInfo> = cookies.iter().filter(|c| now_ms - seen[&c.key()] > STALE_AFTER_MS).collect();
    if !stale.is_empty() {
        let days = ((now_ms - stale.iter().map(|c| seen[&c.key()]).fold(f64::INFINITY, f64::min)) / 86_400_000.0) as u64;
        findings.push(Finding {
            id: "cookie-stale".into(),
            likelihood: Likelihood::Unlikely,
            title: "findingCookieStale".into(),
            args: vec![stale.len().to_string(), days.to_string()],
            why: "whyCookieStale".into(),
            actions: clear(),
        });
    }
    CookieReport { findings, first_seen: seen, header_bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(name: &str, domain: &str, path: &str, size: usize) -> CookieInfo {
        CookieInfo { name: name.into(), domain: domain.into(), path: path.into(), size, expires_ms: None }
    }

    #[test]
    fn a_realistic_jar() {
        let now = 1_800_000_000_000.0;
        let jar = vec![
            cookie("ds_session_id", ".deepseek.com", "/", 60),
            cookie("ds_session_id", "chat.deepseek.com", "/", 60),
            cookie("cf_clearance", ".deepseek.com", "/", 300),
            cookie("big", "chat.deepseek.com", "/", 3900),
            cookie("big2", "chat.deepseek.com", "/api/v0/", 3900),
            CookieInfo { expires_ms: Some(now + 60_000.0), ..cookie("intercom", ".deepseek.com", "/", 40) },
            cookie("elsewhere", ".example.com", "/", 9000),
        ];
        let mut first = FirstSeen::new();
        first.insert("ds_session_id|.deepseek.com|/".into(), now - 40.0 * 86_400_000.0);
        let report = analyse(&jar, &first, now);
        let ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
        assert!(ids.contains(&"cookie-duplicate:ds_session_id"), "{ids:?}");
        assert!(ids.contains(&"cookie-header-size"));
        assert!(ids.contains(&"cookie-oversize:big|chat.deepseek.com|/"));
        assert!(ids.contains(&"cookie-challenge:cf_clearance|.deepseek.com|/"));
        assert!(ids.contains(&"cookie-expiring:intercom|.deepseek.com|/"));
        assert!(ids.contains(&"cookie-stale"));
        assert_eq!(report.header_bytes, 60 + 60 + 300 + 3900 + 3900 + 40 + 12);
        assert_eq!(report.first_seen.len(), 7);
        assert_eq!(report.first_seen["big|chat.deepseek.com|/"], now);
        let header = report.findings.iter().find(|f| f.id == "cookie-header-size").unwrap();
        assert_eq!(header.likelihood, Likelihood::Likely, "past 8 KB");
    }

    #[test]
    fn a_clean_jar_says_nothing() {
        let report = analyse(&[cookie("ds_session_id", ".deepseek.com", "/", 60)], &FirstSeen::new(), 0.0);
        assert!(report.findings.is_empty());
    }
}
