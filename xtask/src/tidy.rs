//! `cargo xtask tidy`: checks on the repository as a whole, too broad for a unit test. Each check
//! is one entry of `CHECKS`: a name (ARCHITECTURE.md cites it as `tidy:<name>`) and a function
//! that returns the problems it found. Adding a check is adding a function and one line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

/// What a check found wrong; empty when it passes.
type Problems = Vec<String>;

pub struct Check {
    pub name: &'static str,
    run: fn(&Path) -> Problems,
}

pub const CHECKS: &[Check] = &[
    Check { name: "rustfmt", run: rustfmt },
    Check { name: "clippy", run: clippy },
    Check { name: "clippy-wasm", run: clippy_wasm },
    Check { name: "core-text-keys-in-every-locale", run: core_text_keys_in_every_locale },
    Check { name: "extension-text-keys-in-every-locale", run: extension_text_keys_in_every_locale },
    Check { name: "locales-have-the-same-keys", run: locales_have_the_same_keys },
    Check { name: "content-scripts-load-no-wasm", run: content_scripts_load_no_wasm },
    Check { name: "invariants-name-existing-checks", run: invariants_name_existing_checks },
    Check { name: "generated-protocol-up-to-date", run: generated_protocol_up_to_date },
    Check { name: "no-protocol-literals-in-extension", run: no_protocol_literals_in_extension },
    Check { name: "extension-javascript-within-budget", run: extension_javascript_within_budget },
];

/// JavaScript only where the platform demands it: the scripts outside the generated module hold
/// at most this many lines of code (blank and comment-only lines not counted). 600 until issue 13,
/// whose platform glue (the background opening the panel's window, the relay reading the last
/// prompt and filling a new chat's message box, the banner's offers) added about 40.
const JS_CODE_LINES_BUDGET: usize = 640;

fn code_lines(text: &str) -> usize {
    text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with("//")).count()
}

fn extension_javascript_within_budget(root: &Path) -> Problems {
    let scripts: Vec<PathBuf> =
        files_under(&root.join("extension"), &["js"]).into_iter().filter(|f| !f.components().any(|c| c.as_os_str() == "generated")).collect();
    let counts: Vec<(String, usize)> = scripts
        .iter()
        .map(|f| (f.strip_prefix(root).unwrap_or(f).display().to_string(), std::fs::read_to_string(f).map_or(0, |text| code_lines(&text))))
        .collect();
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    if total <= JS_CODE_LINES_BUDGET {
        return vec![];
    }
    let each: Vec<String> = counts.iter().map(|(name, n)| format!("{name} {n}")).collect();
    vec![format!("{total} lines of JavaScript code, over the budget of {JS_CODE_LINES_BUDGET} ({})", each.join(", "))]
}

/// The committed `extension/generated/protocol.js` is what the core's definitions produce now.
fn generated_protocol_up_to_date(root: &Path) -> Problems {
    let path = root.join(crate::GENERATED_PROTOCOL);
    match std::fs::read_to_string(&path) {
        Ok(text) if text == unbusy::protocol::js_module() => vec![],
        Ok(_) => vec![format!("{} is stale: run `cargo xtask build`", crate::GENERATED_PROTOCOL)],
        Err(e) => vec![format!("{}: {e}", crate::GENERATED_PROTOCOL)],
    }
}

/// Routes, message types and handshake events are written once, in Rust: a script that quotes
/// one (outside the generated module) would drift from the core unnoticed.
fn no_protocol_literals_in_extension(root: &Path) -> Problems {
    use unbusy::protocol::{GENERATION_ROUTES, HANDSHAKE_EVENTS, JSON_ROUTES, MESSAGE_TYPES};
    let names: Vec<&str> =
        GENERATION_ROUTES.iter().chain(JSON_ROUTES).chain(MESSAGE_TYPES).copied().chain(HANDSHAKE_EVENTS.iter().map(|(_, event)| *event)).collect();
    literals_in(&files_under(&root.join("extension"), &["js", "html"]), &names, root)
}

fn literals_in(files: &[PathBuf], names: &[&str], root: &Path) -> Problems {
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| !f.components().any(|c| c.as_os_str() == "generated")) {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (number, line) in text.lines().enumerate() {
            for name in names {
                if ['"', '\'', '`'].iter().any(|q| line.contains(&format!("{q}{name}{q}"))) {
                    problems.push(format!(
                        "{}:{}: `{name}` written by hand (use the generated module)",
                        file.strip_prefix(root).unwrap_or(file).display(),
                        number + 1
                    ));
                }
            }
        }
    }
    problems
}

/// Runs every check (or those whose name contains one of `filters`), one pass/fail line each;
/// returns (passed, failed).
pub fn run(root: &Path, filters: &[String]) -> (u32, u32) {
    let (mut passed, mut failed) = (0, 0);
    for check in CHECKS.iter().filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str()))) {
        let started = Instant::now();
        let problems = (check.run)(root);
        let secs = started.elapsed().as_secs_f64();
        if problems.is_empty() {
            println!("tidy {} ... ok ({secs:.1}s)", check.name);
            passed += 1;
        } else {
            println!("tidy {} ... FAILED ({secs:.1}s)", check.name);
            for problem in &problems {
                println!("    {problem}");
            }
            failed += 1;
        }
    }
    (passed, failed)
}

/// A command's failure as a problem, with the end of its output (the part that says why).
fn command_problems(root: &Path, program: &str, args: &[&str]) -> Problems {
    match Command::new(program).args(args).current_dir(root).output() {
        Err(e) => vec![format!("{program} {}: {e}", args.join(" "))],
        Ok(out) if out.status.success() => vec![],
        Ok(out) => {
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let mut problems = vec![format!("`{program} {}` failed ({}):", args.join(" "), out.status)];
            problems.extend(tail.into_iter().rev().map(String::from));
            problems
        }
    }
}

fn rustfmt(root: &Path) -> Problems {
    let mut problems = command_problems(root, "cargo", &["fmt", "--all", "--check"]);
    // The fuzz crate is outside the workspace; formatting it needs no nightly.
    problems.extend(command_problems(root, "cargo", &["fmt", "--check", "--manifest-path", "fuzz/Cargo.toml"]));
    problems
}

fn clippy(root: &Path) -> Problems {
    command_problems(root, "cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])
}

/// `src/bindings.rs`, `src/js_values.rs` and ui/'s bindings are compiled for wasm32 only: the
/// native clippy never sees them.
fn clippy_wasm(root: &Path) -> Problems {
    command_problems(root, "cargo", &["clippy", "-p", "unbusy", "-p", "unbusy-ui", "--lib", "--target", crate::WASM_TARGET, "--", "-D", "warnings"])
}

/// Each `extension/_locales/<locale>/messages.json` as (locale, its message names).
fn locales(root: &Path) -> Result<Vec<(String, BTreeSet<String>)>, String> {
    let dir = root.join("extension/_locales");
    let mut list = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path().join("messages.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let messages: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let keys = messages.as_object().ok_or_else(|| format!("{}: not an object", path.display()))?.keys().cloned().collect();
        let locale = path.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        list.push((locale, keys));
    }
    list.sort();
    if list.is_empty() {
        return Err(format!("no locale in {}", dir.display()));
    }
    Ok(list)
}

/// "`key` (from where) is missing in <locale>" for every key a locale lacks.
fn missing_in_locales(root: &Path, keys: impl IntoIterator<Item = (String, String)>) -> Problems {
    let locales = match locales(root) {
        Ok(locales) => locales,
        Err(e) => return vec![e],
    };
    let mut problems = Problems::new();
    for (key, source) in keys {
        for (locale, names) in &locales {
            if !names.contains(&key) {
                problems.push(format!("`{key}` ({source}) is missing in _locales/{locale}/messages.json"));
            }
        }
    }
    problems
}

fn core_text_keys_in_every_locale(root: &Path) -> Problems {
    // The list is only as good as its completeness tests (a key written in a new place).
    let mut problems = command_problems(root, "cargo", &["test", "--quiet", "-p", "unbusy", "--lib", "text_keys::"]);
    problems.extend(missing_in_locales(root, unbusy::text_keys::all_text_keys().into_iter().map(|key| (key, "unbusy::text_keys::all_text_keys".to_string()))));
    problems
}

fn extension_text_keys_in_every_locale(root: &Path) -> Problems {
    let mut keys = Vec::new();
    let mut files = files_under(&root.join("extension"), &["js", "html", "json"]);
    files.push(root.join("manifest.json"));
    // The pages' Rust (ui/): `t("key", …)` and `notice("key")`.
    files.extend(files_under(&root.join("ui/src"), &["rs"]));
    for path in files.into_iter().filter(|p| !p.components().any(|c| c.as_os_str() == "_locales")) {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        keys.extend(keys_named_in(&text).into_iter().map(|key| (key, shown.clone())));
    }
    missing_in_locales(root, keys)
}

/// The message names a script or page names literally: `__MSG_x__`, `data-i18n="x"`, and the
/// literal first argument of `getMessage(…)` or `t(…)` (each branch of a `?:` included).
fn keys_named_in(text: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for after in text.split("__MSG_").skip(1) {
        if let Some((key, _)) = after.split_once("__") {
            keys.insert(key.to_string());
        }
    }
    for after in text.split("data-i18n=\"").skip(1) {
        if let Some((key, _)) = after.split_once('"') {
            keys.insert(key.to_string());
        }
    }
    for call in ["getMessage(", "t(", "notice("] {
        let mut rest = text;
        while let Some(at) = rest.find(call) {
            let before = rest[..at].chars().next_back();
            let argument = first_argument(&rest[at + call.len()..]);
            rest = &rest[at + call.len()..];
            // `t(` inside another name (`split(`, `set(`) is not the translation helper.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            keys.extend(possible_literal_values(argument));
        }
    }
    keys
}

/// The text of the first argument of a call whose `(` was just consumed.
fn first_argument(rest: &str) -> &str {
    let mut depth = 0;
    let mut quote = None;
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') if depth > 0 => depth -= 1,
            (None, ')' | ',') => return &rest[..i],
            _ => {}
        }
    }
    rest
}

/// The string literals an expression can evaluate to: a literal at its start or right after the
/// `?` or `:` of a conditional (`a === "x" ? "k1" : "k2"` gives k1 and k2, not x), or right
/// after the `{` of a Rust branch (`if a { "k1" } else { "k2" }`).
fn possible_literal_values(expression: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut previous = None;
    let mut chars = expression.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '"' | '\'' | '`') {
            let end = expression[i + 1..].find(c).map_or(expression.len(), |n| i + 1 + n);
            let literal = &expression[i + 1..end];
            let is_value = matches!(previous, None | Some('?') | Some(':') | Some('{'));
            if is_value && !literal.contains("${") {
                values.push(literal.to_string());
            }
            while chars.peek().is_some_and(|(j, _)| *j <= end) {
                chars.next();
            }
            previous = Some(c);
        } else if !c.is_whitespace() {
            previous = Some(c);
        }
    }
    values
}

fn locales_have_the_same_keys(root: &Path) -> Problems {
    let locales = match locales(root) {
        Ok(locales) => locales,
        Err(e) => return vec![e],
    };
    let all: BTreeSet<&String> = locales.iter().flat_map(|(_, keys)| keys).collect();
    missing_in_locales(root, all.into_iter().map(|key| (key.clone(), "in another locale".to_string())))
}

/// WebAssembly runs only in the background and extension pages: Chromium refuses it in content
/// scripts on pages whose CSP lacks 'wasm-unsafe-eval'.
fn content_scripts_load_no_wasm(root: &Path) -> Problems {
    let manifest: Value = match std::fs::read_to_string(root.join("manifest.json"))
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(manifest) => manifest,
        Err(e) => return vec![format!("manifest.json: {e}")],
    };
    let scripts: Vec<&str> = manifest["content_scripts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|entry| entry["js"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    if scripts.is_empty() {
        return vec!["manifest.json names no content script".into()];
    }
    // The build puts the generated protocol module at the head of each content script.
    let sources = scripts.into_iter().map(|script| format!("extension/{script}")).chain([crate::GENERATED_PROTOCOL.to_string()]);
    let mut problems = Problems::new();
    for source in sources {
        match std::fs::read_to_string(root.join(&source)) {
            Err(e) => problems.push(format!("{source}: {e}")),
            Ok(text) => {
                for word in ["WebAssembly", ".wasm", "import(", "importScripts"] {
                    if text.contains(word) {
                        problems.push(format!("{source} (in a content script) contains `{word}`"));
                    }
                }
            }
        }
    }
    problems
}

/// Every invariant in ARCHITECTURE.md ends with "checked by" and the checks that prove it, each
/// in backticks: a Rust test function, `<file>.test.mjs: <words of an e2e test title>`, or
/// `tidy:<check name>`. Each must exist.
fn invariants_name_existing_checks(root: &Path) -> Problems {
    let text = match std::fs::read_to_string(root.join("ARCHITECTURE.md")) {
        Ok(text) => text,
        Err(e) => return vec![format!("ARCHITECTURE.md: {e}")],
    };
    let invariants = invariant_items(&text);
    if invariants.is_empty() {
        return vec!["ARCHITECTURE.md has no `## Invariants` list".into()];
    }
    let rust_sources: Vec<(PathBuf, String)> = ["src", "ui", "tests", "sim", "xtask", "benches", "fuzz"]
        .iter()
        .flat_map(|dir| files_under(&root.join(dir), &["rs"]))
        .filter_map(|path| std::fs::read_to_string(&path).ok().map(|text| (path, text)))
        .collect();
    let mut problems = Problems::new();
    for invariant in invariants {
        let start: String = invariant.chars().take(60).collect();
        let Some((_, checks)) = invariant.rsplit_once("checked by") else {
            problems.push(format!("invariant \"{start}…\" names no check (end it with: checked by `test_or_check`)"));
            continue;
        };
        let names: Vec<&str> = checks.split('`').skip(1).step_by(2).collect();
        if names.is_empty() {
            problems.push(format!("invariant \"{start}…\": no check in backticks after \"checked by\""));
        }
        for name in names {
            if let Err(why) = check_exists(root, &rust_sources, name) {
                problems.push(format!("invariant \"{start}…\": `{name}`: {why}"));
            }
        }
    }
    problems
}

/// The items of the list under `## Invariants`, each joined into one line.
fn invariant_items(markdown: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let mut inside = false;
    for line in markdown.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Invariants";
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(item) = line.strip_prefix("- ") {
            items.push(item.trim().to_string());
        } else if let (Some(last), true) = (items.last_mut(), line.starts_with("  ")) {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    items
}

fn check_exists(root: &Path, rust_sources: &[(PathBuf, String)], name: &str) -> Result<(), String> {
    if let Some(check) = name.strip_prefix("tidy:") {
        return if CHECKS.iter().any(|c| c.name == check) { Ok(()) } else { Err("no such tidy check".into()) };
    }
    if let Some((file, title)) = name.split_once(".test.mjs:") {
        let path = root.join("tests/e2e").join(format!("{file}.test.mjs"));
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // The words may sit anywhere in the title: titles are often templates (`${browserName}: …`).
        let title = title.trim();
        return if text.lines().any(|line| line.contains("test(") && line.contains(title)) {
            Ok(())
        } else {
            Err(format!("no test( … ) titled with these words in {file}.test.mjs"))
        };
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("not a Rust test name, `<file>.test.mjs: <title words>` or `tidy:<check>`".into());
    }
    // `fn name(` whose attributes (the lines just above it) include `#[test]`.
    let is_test = |text: &str| {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines.iter().enumerate().any(|(i, line)| {
            line.starts_with(&format!("fn {name}("))
                && lines[..i].iter().rev().take_while(|l| l.starts_with("#[") || l.starts_with("//")).any(|l| *l == "#[test]")
        })
    };
    if rust_sources.iter().any(|(_, text)| is_test(text)) {
        Ok(())
    } else {
        Err("no #[test] fn with this name".into())
    }
}

fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "node_modules" && name != "target" {
                found.extend(files_under(&path, extensions));
            }
        } else if path.extension().is_some_and(|e| extensions.iter().any(|x| e == *x)) {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_every_form_the_extension_uses() {
        let script = r#"
            const t = (key) => api.i18n.getMessage(key);
            label.textContent = t("bannerStop"); api.i18n.getMessage("notifyTitle", [n]);
            note = t(kind === "continue" ? "bannerContinuing" : 'bannerRetrying');
            tag = t(`likelihood_${x}`); parts.split(","); <h1 data-i18n="popupTitle"></h1> "__MSG_extName__"
        "#;
        let keys: Vec<String> = keys_named_in(script).into_iter().collect();
        assert_eq!(keys, ["bannerContinuing", "bannerRetrying", "bannerStop", "extName", "notifyTitle", "popupTitle"]);
    }

    #[test]
    fn code_lines_leave_out_blank_and_comment_lines() {
        assert_eq!(code_lines("// why\n\nconst a = 1; // what\n  // more\nf();\n"), 2);
    }

    #[test]
    fn keys_are_read_from_the_pages_rust() {
        let source = r#"
            let steps = t(if firefox { "clearFirefox" } else { "clearChrome" }, &[]);
            self.notice("permissionDenied"); let tag = t(&format!("likelihood_{name}"), &[]); split_fixes(&view.fixes);
        "#;
        let keys: Vec<String> = keys_named_in(source).into_iter().collect();
        assert_eq!(keys, ["clearChrome", "clearFirefox", "permissionDenied"]);
    }

    #[test]
    fn a_quoted_route_or_message_type_is_found_and_the_generated_module_is_exempt() {
        let dir = std::env::temp_dir().join(format!("tidy-literals-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("generated")).unwrap();
        std::fs::write(dir.join("a.js"), "send({ type: 'cs_timer_due' });\nconst ok = T.csTimerDue;\n").unwrap();
        std::fs::write(dir.join("generated/p.js"), "\"cs_timer_due\"\n").unwrap();
        let problems = literals_in(&files_under(&dir, &["js"]), &["cs_timer_due"], &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("a.js:1:"));
    }

    #[test]
    fn invariant_items_are_joined_across_their_wrapped_lines() {
        let md = "## Invariants\nIntro.\n- One thing holds\n  over two lines — checked by `a_test`.\n- Another — checked by `tidy:rustfmt`.\n## Next\n- not an invariant\n";
        assert_eq!(invariant_items(md), ["One thing holds over two lines — checked by `a_test`.", "Another — checked by `tidy:rustfmt`."]);
    }

    #[test]
    fn a_named_check_must_exist() {
        let sources = vec![(PathBuf::from("x.rs"), "#[test]\nfn real_test() {}\nfn not_a_test() {}\n".to_string())];
        let root = Path::new(".");
        assert!(check_exists(root, &sources, "real_test").is_ok());
        assert!(check_exists(root, &sources, "not_a_test").is_err());
        assert!(check_exists(root, &sources, "missing_test").is_err());
        assert!(check_exists(root, &sources, "tidy:clippy").is_ok());
        assert!(check_exists(root, &sources, "tidy:no-such-check").is_err());
    }
}
