//! `cargo xtask <command>`: the project's automation, instead of shell scripts and make.
//!
//!   setup   install what building and testing need (wasm32 target, wasm-bindgen CLI at the
//!           version pinned in Cargo.lock, npm packages, Debian's chromium, chromium-driver,
//!           firefox-esr and CJK fonts)
//!   build   setup + build the WASM core and write dist/chrome and dist/firefox
//!   test    setup + build + every test: cargo tests, web-ext lint, end-to-end in both browsers
//!   demo    setup + build, start the simulator and open Chromium with the extension on it
//!   bench   parser throughput (native and WASM), retry schedules in a model of overload;
//!           the model rewrites its section of BENCHMARKS.md and its chart
//!   package setup + build, then zip dist/chrome and dist/firefox into dist/*.zip
//!   tidy    repository checks: rustfmt, clippy, text keys in every locale, ARCHITECTURE.md's
//!           invariants each backed by a check (`cargo xtask tidy [name…]` runs some; see tidy.rs)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

mod tidy;

type Result<T = ()> = std::result::Result<T, String>;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const BROWSERS: [&str; 2] = ["chrome", "firefox"];
const APT_PACKAGES: [&str; 4] = ["chromium", "chromium-driver", "firefox-esr", "fonts-noto-cjk"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let started = Instant::now();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        // Every command sets up what it needs: a fresh clone has no wasm-opt or web-ext yet.
        Some("build") => setup().and_then(|_| build()).map(|_| ()),
        Some("test") => test(&args[1..]),
        Some("demo") => demo(),
        Some("bench") => bench(),
        Some("package") => package(),
        Some("tidy") => match tidy::run(&root(), &args[1..]) {
            (_, 0) => Ok(()),
            (_, failed) => Err(format!("{failed} tidy checks failed")),
        },
        _ => Err("usage: cargo xtask setup|build|test|demo|bench|package|tidy".into()),
    };
    if let Err(error) = result {
        eprintln!("xtask: {error}");
        std::process::exit(1);
    }
    eprintln!("xtask: done in {:.1}s", started.elapsed().as_secs_f64());
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn e2e_dir() -> PathBuf {
    root().join("tests/e2e")
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}

fn run(cmd: &mut Command) -> Result {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command, echoing its output, and returns (passed, failed) counted from test-runner lines.
fn run_counting(cmd: &mut Command) -> Result<(u32, u32, bool)> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines().map_while(|l| l.ok()) {
        println!("{line}");
        // cargo test: "test result: ok. 18 passed; 0 failed; ..."
        if let Some(rest) = line.strip_prefix("test result: ") {
            let num = |word: &str| {
                rest.split("; ").find_map(|p| p.trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(word)?.trim().parse::<u32>().ok())
            };
            passed += num(" passed").unwrap_or(0);
            failed += num(" failed").unwrap_or(0);
        }
        // node --test (TAP): "# pass 12" / "# fail 0"
        if let Some(n) = line.strip_prefix("# pass ").and_then(|n| n.trim().parse::<u32>().ok()) {
            passed += n;
        }
        if let Some(n) = line.strip_prefix("# fail ").and_then(|n| n.trim().parse::<u32>().ok()) {
            failed += n;
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok((passed, failed, status.success()))
}

/// The wasm-bindgen version locked in Cargo.lock: the CLI must be exactly this one.
fn pinned_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \"")).and_then(|v| v.strip_suffix('"')) {
                return Ok(version.to_string());
            }
        }
    }
    Err("wasm-bindgen not found in Cargo.lock".into())
}

fn setup() -> Result {
    step("setup: Rust target");
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == WASM_TARGET) {
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }

    step("setup: wasm-bindgen CLI");
    let version = pinned_wasm_bindgen()?;
    let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.trim() != format!("wasm-bindgen {version}") {
        // Without --locked: the registry index can lag behind a dependency's newest patch release.
        run(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &format!("={version}")]))?;
    }

    step("setup: browsers and fonts (Debian packages)");
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p])).is_none_or(|s| !s.contains("install ok installed")))
        .collect();
    if !missing.is_empty() {
        let is_root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
        if !is_root {
            return Err(format!("missing Debian packages; run: sudo apt-get update && sudo apt-get install -y {}", missing.join(" ")));
        }
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get").args(["install", "-y", "-qq"]).args(&missing).env("DEBIAN_FRONTEND", "noninteractive"))?;
    }

    step("setup: npm packages (tests/e2e)");
    let lock = e2e_dir().join("package-lock.json");
    let stamp = e2e_dir().join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock).and_then(|m| m.modified()), std::fs::metadata(&stamp).and_then(|m| m.modified())) {
        (Ok(lock_time), Ok(stamp_time)) => stamp_time >= lock_time,
        _ => false,
    };
    if !fresh {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(e2e_dir()))?;
    }
    Ok(())
}

struct BuildReport {
    wasm_raw: u64,
    wasm_gzip: u64,
}

/// Where the scripts' shared constants are written (committed: tidy checks it is current).
pub(crate) const GENERATED_PROTOCOL: &str = "extension/generated/protocol.js";

/// Writes the generated protocol module if it changed.
fn generate() -> Result {
    let path = root().join(GENERATED_PROTOCOL);
    let module = unbusy::protocol::js_module();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(module.as_str()) {
        std::fs::create_dir_all(path.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        std::fs::write(&path, module).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {GENERATED_PROTOCOL}");
    }
    Ok(())
}

fn build() -> Result<BuildReport> {
    let root = root();
    step("build: generated protocol module");
    generate()?;
    step("build: WASM core");
    run(Command::new("cargo").args(["build", "--lib", "--release", "--target", WASM_TARGET, "-p", "unbusy"]).current_dir(&root))?;
    let bindgen_dir = root.join("target/wasm-bindgen");
    run(Command::new("wasm-bindgen")
        .arg(root.join(format!("target/{WASM_TARGET}/release/unbusy.wasm")))
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&bindgen_dir))?;
    let glue = bindgen_dir.join("unbusy.js");
    let restartable = make_core_restartable(&std::fs::read_to_string(&glue).map_err(|e| e.to_string())?)?;
    std::fs::write(&glue, restartable).map_err(|e| e.to_string())?;
    // npm binaryen's wasm-opt: Debian's is too old and its output breaks at run time.
    let wasm = bindgen_dir.join("unbusy_bg.wasm");
    let optimised = bindgen_dir.join("unbusy_bg.opt.wasm");
    run(Command::new(e2e_dir().join("node_modules/.bin/wasm-opt"))
        .args([
            "-Oz",
            "--enable-bulk-memory",
            "--enable-reference-types",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-multivalue",
            "--strip-debug",
            "--strip-producers",
        ])
        .arg(&wasm)
        .arg("-o")
        .arg(&optimised))?;

    step("build: simulator");
    run(Command::new("cargo").args(["build", "-p", "unbusy-sim"]).current_dir(&root))?;

    step("build: dist/chrome and dist/firefox");
    let source: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).map_err(|e| e.to_string())?).map_err(|e| format!("manifest.json: {e}"))?;
    for browser in BROWSERS {
        let out = root.join("dist").join(browser);
        let _ = std::fs::remove_dir_all(&out);
        copy_tree(&root.join("extension"), &out)?;
        std::fs::create_dir_all(out.join("core")).map_err(|e| e.to_string())?;
        std::fs::copy(bindgen_dir.join("unbusy.js"), out.join("core/unbusy.js")).map_err(|e| e.to_string())?;
        std::fs::copy(&optimised, out.join("core/unbusy_bg.wasm")).map_err(|e| e.to_string())?;
        include_protocol_in_content_scripts(&source, &out)?;
        let manifest = browser_manifest(&source, browser);
        std::fs::write(out.join("manifest.json"), serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())? + "\n").map_err(|e| e.to_string())?;
    }
    let wasm_raw = std::fs::metadata(&optimised).map_err(|e| e.to_string())?.len();
    let wasm_gzip =
        output(Command::new("sh").arg("-c").arg(format!("gzip -9 -c '{}' | wc -c", optimised.display()))).and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    eprintln!("WASM core: {wasm_raw} bytes raw, {wasm_gzip} bytes gzip -9");
    Ok(BuildReport { wasm_raw, wasm_gzip })
}

/// What `make_core_restartable` relies on in wasm-bindgen's `--target web` glue (0.2.130).
const GLUE_INTERNALS: &[&str] =
    &["let wasmModule, wasmInstance, wasm;", "let __wbg_init_promise;", "async function __wbg_init(module_or_path) {", "if (wasm !== undefined) return wasm;"];

/// Adds `reinitCore(module)` to the glue (see `restartable_core.js`): the background's recovery
/// from a trapped core. Fails the build if the glue no longer has the internals it resets.
fn make_core_restartable(glue: &str) -> Result<String> {
    if let Some(missing) = GLUE_INTERNALS.iter().find(|line| !glue.contains(*line)) {
        return Err(format!("wasm-bindgen glue changed: `{missing}` not found; update xtask/src/restartable_core.js"));
    }
    Ok(format!("{glue}{}", include_str!("restartable_core.js")))
}

/// Content scripts get the generated module at their head: Chromium injects a file once per
/// frame whichever world asked, so a shared file would reach only the first (MAIN) world.
fn include_protocol_in_content_scripts(manifest: &Value, out: &Path) -> Result {
    let generated = std::fs::read_to_string(root().join(GENERATED_PROTOCOL)).map_err(|e| e.to_string())?;
    for script in manifest["content_scripts"].as_array().into_iter().flatten().flat_map(|entry| entry["js"].as_array().into_iter().flatten()) {
        let path = out.join(script.as_str().ok_or("content script name")?);
        let source = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(&path, format!("{generated}\n{source}")).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One source manifest, one output per browser: Chromium gets a module service worker,
/// Firefox module background scripts and its gecko settings.
fn browser_manifest(source: &Value, browser: &str) -> Value {
    let mut manifest = source.clone();
    let object = manifest.as_object_mut().expect("manifest is an object");
    if browser == "firefox" {
        let script = source["background"]["service_worker"].clone();
        object.insert("background".into(), serde_json::json!({ "scripts": [script], "type": "module" }));
    } else {
        object.remove("browser_specific_settings");
    }
    manifest
}

fn copy_tree(from: &Path, to: &Path) -> Result {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        // Generators of committed assets stay in the source tree.
        if path.extension().is_some_and(|e| e == "py") {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn lint_firefox() -> Result<u32> {
    step("lint: web-ext lint dist/firefox");
    let out = Command::new(e2e_dir().join("node_modules/.bin/web-ext"))
        .args(["lint", "--output", "json", "--source-dir"])
        .arg(root().join("dist/firefox"))
        .output()
        .map_err(|e| format!("web-ext: {e}"))?;
    let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("web-ext lint output: {e}"))?;
    let count = |kind: &str| report[kind].as_array().map_or(0, Vec::len);
    for kind in ["errors", "warnings", "notices"] {
        for item in report[kind].as_array().into_iter().flatten() {
            eprintln!("  {kind}: {} {} ({})", item["code"], item["message"], item["file"]);
        }
    }
    eprintln!("web-ext lint: {} errors, {} warnings, {} notices", count("errors"), count("warnings"), count("notices"));
    Ok(count("errors") as u32)
}

fn test(filters: &[String]) -> Result {
    let started = Instant::now();
    // First: a formatting slip or a missing text key is found in seconds, not after the browsers.
    step("test: tidy");
    let (mut passed, mut failed) = tidy::run(&root(), &[]);
    let tidy_secs = started.elapsed().as_secs_f64();
    setup()?;
    let setup_secs = started.elapsed().as_secs_f64() - tidy_secs;
    let report = build()?;

    step("test: cargo test (core, simulator, xtask)");
    let (p, f, ok) = run_counting(Command::new("cargo").args(["test", "--workspace"]).current_dir(root()))?;
    passed += p;
    failed += f + u32::from(!ok && f == 0);

    let lint_errors = lint_firefox()?;
    passed += u32::from(lint_errors == 0);
    failed += u32::from(lint_errors > 0);

    step("test: end to end in Chromium and Firefox");
    let mut node = Command::new("node");
    node.args(["--test", "--test-reporter=tap", "--test-concurrency=1"]).current_dir(e2e_dir());
    if filters.is_empty() {
        node.args(
            std::fs::read_dir(e2e_dir())
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".test.mjs")),
        );
    } else {
        node.args(filters);
    }
    let (p, f, ok) = run_counting(&mut node)?;
    passed += p;
    failed += f + u32::from(!ok && f == 0);

    eprintln!(
        "\ntidy {tidy_secs:.0}s, setup {setup_secs:.0}s, whole run {:.0}s; WASM core {} bytes raw, {} bytes gzip",
        started.elapsed().as_secs_f64(),
        report.wasm_raw,
        report.wasm_gzip
    );
    println!("total: {passed} passed, {failed} failed");
    if failed > 0 {
        return Err(format!("{failed} failed"));
    }
    Ok(())
}

fn demo() -> Result {
    setup()?;
    build()?;
    step("demo: simulator + Chromium with Unbusy");
    run(Command::new("node").arg("demo.mjs").current_dir(e2e_dir()))
}

fn bench() -> Result {
    setup()?;
    build()?;
    step("bench: SSE parser and classifier, native");
    run(Command::new("cargo").args(["bench", "-p", "unbusy", "--bench", "throughput"]).current_dir(root()))?;
    step("bench: the same in WASM (V8, the engine of Chromium's background)");
    run(Command::new("node").arg("bench.mjs").current_dir(e2e_dir()))?;
    step("bench: retry schedules in a model of an overloaded service (BENCHMARKS.md, docs/bench/schedules.svg)");
    run(Command::new("cargo").args(["bench", "-p", "unbusy", "--bench", "policy_model"]).current_dir(root()))
}

fn package() -> Result {
    setup()?;
    build()?;
    for browser in BROWSERS {
        let zip = root().join(format!("dist/unbusy-{browser}.zip"));
        let _ = std::fs::remove_file(&zip);
        run(Command::new(e2e_dir().join("node_modules/.bin/web-ext"))
            .args(["build", "--overwrite-dest", "--filename"])
            .arg(format!("unbusy-{browser}.zip"))
            .arg("--source-dir")
            .arg(root().join("dist").join(browser))
            .arg("--artifacts-dir")
            .arg(root().join("dist")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glue_gets_a_restart_only_if_it_has_the_internals_it_resets() {
        let glue = GLUE_INTERNALS.join("\n");
        assert!(make_core_restartable(&glue).unwrap().contains("export async function reinitCore(module)"));
        assert!(make_core_restartable("let wasm;").is_err());
    }
}
