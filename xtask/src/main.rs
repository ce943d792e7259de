//! `cargo xtask <command>`: the project's automation, instead of shell scripts and make.
//!
//!   setup   install what building and testing need (wasm32 target, wasm-bindgen CLI at the
//!           version pinned in Cargo.lock, wasm-pack at WASM_PACK_VERSION, npm packages, Debian's chromium, chromium-driver,
//!           firefox-esr and CJK fonts)
//!   build   setup + build the WASM modules (background, extension pages) and write dist/chrome
//!           and dist/firefox
//!   test    setup + build + every test: cargo tests, web-ext lint, end-to-end in both browsers
//!   demo    setup + build, start the simulator and open Chromium with the extension on it
//!   bench   parser throughput (native and WASM), retry schedules in a model of overload (and
//!           its chart), footprint (twiggy, zips), page overhead and cold start in both browsers;
//!           writes BENCHMARKS.md
//!   package setup + build, then the store zips dist/unbusy-{chrome,firefox}.zip (byte for byte
//!           reproducible), the source archive dist/unbusy-source.zip, and a rebuild from it
//!           compared byte for byte (`--no-verify` skips that)
//!   tidy    repository checks: rustfmt, clippy, text keys in every locale, ARCHITECTURE.md's
//!           invariants each backed by a check (`cargo xtask tidy [name…]` runs some; see tidy.rs)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

mod package;
mod tidy;

type Result<T = ()> = std::result::Result<T, String>;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const BROWSERS: [&str; 2] = ["chrome", "firefox"];
/// wasm-pack builds both WASM modules (with the wasm-bindgen CLI above, installing nothing itself).
pub(crate) const WASM_PACK_VERSION: &str = "0.13.1";
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
        Some("package") => package(!args.iter().any(|a| a == "--no-verify")),
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

/// Where cargo puts what it builds (`CARGO_TARGET_DIR`, else target/).
fn cargo_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
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

    step("setup: wasm-pack");
    if output(Command::new("wasm-pack").arg("--version")).unwrap_or_default().trim() != format!("wasm-pack {WASM_PACK_VERSION}") {
        run(Command::new("cargo").args(["install", "wasm-pack", "--version", &format!("={WASM_PACK_VERSION}")]))?;
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
    ui_raw: u64,
    ui_gzip: u64,
}

/// Where the scripts' shared constants are written (committed: tidy checks it is current).
pub(crate) const GENERATED_PROTOCOL: &str = "extension/generated/protocol.js";

/// Writes the generated protocol module if it changed.
fn generate(root: &Path) -> Result {
    let path = root.join(GENERATED_PROTOCOL);
    let module = unbusy::protocol::js_module();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(module.as_str()) {
        std::fs::create_dir_all(path.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        std::fs::write(&path, module).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {GENERATED_PROTOCOL}");
    }
    Ok(())
}

/// The extension (dist/) and the simulator the tests, the demo and the benchmarks run.
fn build() -> Result<BuildReport> {
    let report = build_dist()?;
    step("build: simulator");
    run(Command::new("cargo").args(["build", "-p", "unbusy-sim"]).current_dir(root()))?;
    Ok(report)
}

/// The extension only: the generated protocol module, the WASM modules, dist/chrome and dist/firefox.
fn build_dist() -> Result<BuildReport> {
    build_dist_in(&root())
}

/// `build_dist` of the sources at `root` (the package check builds an unpacked source archive).
fn build_dist_in(root: &Path) -> Result<BuildReport> {
    step("build: generated protocol module");
    generate(root)?;
    step("build: WASM modules (the background's core, the extension pages' module)");
    let core = build_wasm(root, ".", "unbusy", true)?;
    let ui = build_wasm(root, "ui", "unbusy_ui", false)?;

    step("build: dist/chrome and dist/firefox");
    let source: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).map_err(|e| e.to_string())?).map_err(|e| format!("manifest.json: {e}"))?;
    for browser in BROWSERS {
        let out = root.join("dist").join(browser);
        let _ = std::fs::remove_dir_all(&out);
        copy_tree(&root.join("extension"), &out)?;
        for (module, dir) in [(&core, "core"), (&ui, "ui")] {
            std::fs::create_dir_all(out.join(dir)).map_err(|e| e.to_string())?;
            std::fs::copy(&module.glue, out.join(dir).join(module.glue.file_name().expect("a file"))).map_err(|e| e.to_string())?;
            std::fs::copy(&module.wasm, out.join(dir).join(format!("{}_bg.wasm", module.name))).map_err(|e| e.to_string())?;
        }
        include_protocol_in_content_scripts(root, &source, &out)?;
        let manifest = browser_manifest(&source, browser);
        std::fs::write(out.join("manifest.json"), serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())? + "\n").map_err(|e| e.to_string())?;
    }
    let [(wasm_raw, wasm_gzip), (ui_raw, ui_gzip)] = [&core, &ui].map(|module| {
        let raw = std::fs::metadata(&module.wasm).map(|m| m.len()).unwrap_or(0);
        let gzip = output(Command::new("sh").arg("-c").arg(format!("gzip -9 -c '{}' | wc -c", module.wasm.display())))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        (raw, gzip)
    });
    eprintln!("WASM core (background): {wasm_raw} bytes raw, {wasm_gzip} bytes gzip -9");
    eprintln!("WASM extension pages' module (popup, options, API panel): {ui_raw} bytes raw, {ui_gzip} bytes gzip -9");
    Ok(BuildReport { wasm_raw, wasm_gzip, ui_raw, ui_gzip })
}

/// One WASM module, built and optimised.
struct WasmModule {
    name: &'static str,
    /// wasm-bindgen's glue, `<name>.js`.
    glue: PathBuf,
    /// The optimised module.
    wasm: PathBuf,
}

/// Builds the crate at `crate_dir` for the web: wasm-pack (cargo and the pinned wasm-bindgen CLI;
/// the glue made restartable for the background's core), then npm binaryen's wasm-opt (Debian's is
/// too old and its output breaks at run time). The named module before wasm-opt stays in
/// target/wasm-bindgen for twiggy.
fn build_wasm(root: &Path, crate_dir: &str, name: &'static str, restartable: bool) -> Result<WasmModule> {
    // One target directory whichever sources are built: the package check reuses what is compiled.
    // Paths of the machine that built it stay out of the WASM (panic locations of dependencies
    // name their sources; Unbusy's own are relative): the zips are the same wherever Cargo
    // keeps its registry.
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let bindgen_dir = root.join("target/wasm-bindgen");
    // `no-install`: the wasm-bindgen CLI `setup` pinned, nothing downloaded; wasm-opt runs below
    // (npm's binaryen; the crates' wasm-pack metadata turns its own off).
    run(Command::new("wasm-pack")
        .args(["--quiet", "build", "--release", "--target", "web", "--no-typescript", "--no-pack", "--mode", "no-install", "--out-name", name, "--out-dir"])
        .arg(&bindgen_dir)
        .arg(root.join(crate_dir))
        .env("CARGO_TARGET_DIR", cargo_target_dir())
        .env("RUSTFLAGS", format!("--remap-path-prefix={}=/cargo", cargo_home.display()))
        .current_dir(root))?;
    let glue = bindgen_dir.join(format!("{name}.js"));
    if restartable {
        let made = make_core_restartable(&std::fs::read_to_string(&glue).map_err(|e| e.to_string())?)?;
        std::fs::write(&glue, made).map_err(|e| e.to_string())?;
    }
    let wasm = bindgen_dir.join(format!("{name}_bg.wasm"));
    let optimised = bindgen_dir.join(format!("{name}_bg.opt.wasm"));
    run(Command::new(e2e_dir().join("node_modules/.bin/wasm-opt"))
        .args([
            // The low 1 KiB of memory is unused (Rust's data starts higher); flattening and
            // re-looping first lets -Oz shrink the control flow further: ~1.5 % less gzip.
            "--low-memory-unused",
            "--flatten",
            "--rereloop",
            "-Oz",
            "--converge",
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
    Ok(WasmModule { name, glue, wasm: optimised })
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
fn include_protocol_in_content_scripts(root: &Path, manifest: &Value, out: &Path) -> Result {
    let generated = std::fs::read_to_string(root.join(GENERATED_PROTOCOL)).map_err(|e| e.to_string())?;
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

    // The end-to-end tests load the packaged zips too (package.test.mjs).
    step("test: store packages and their source archive");
    let packaged = package::zip_dist(&root())
        .and_then(|_| package::source_archive(&root()))
        .and_then(|_| package::verify_rebuild(&root()))
        .and_then(|_| package::unpack_for_tests(&root()));
    if let Err(error) = &packaged {
        eprintln!("package: {error}");
    }
    passed += u32::from(packaged.is_ok());
    failed += u32::from(packaged.is_err());

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
    let built = build()?;
    step("bench: SSE parser and classifier, native");
    run(Command::new("cargo").args(["bench", "-p", "unbusy", "--bench", "throughput"]).current_dir(root()))?;
    step("bench: the same in WASM (V8, the engine of Chromium's background)");
    for chunk in ["1024", "16384"] {
        run(Command::new("node").args(["bench.mjs", chunk]).current_dir(e2e_dir()))?;
    }
    step("bench: retry schedules in a model of an overloaded service (docs/bench/schedules.svg)");
    run(Command::new("cargo").args(["bench", "-p", "unbusy", "--bench", "policy_model"]).current_dir(root()))?;
    step("bench: footprint (WASM by crate and function with twiggy, store zips)");
    let footprint = footprint(&built)?;
    print!("{footprint}");
    std::fs::create_dir_all(root().join("target/bench"))
        .and_then(|_| std::fs::write(root().join("target/bench/footprint.md"), footprint))
        .map_err(|e| e.to_string())?;
    step("bench: the page with and without Unbusy, a stopped background's first verdict (Chromium, Firefox)");
    run(Command::new("node").arg("overhead.mjs").current_dir(e2e_dir()))?;
    step("bench: BENCHMARKS.md");
    write_benchmarks(&["model", "footprint", "browsers"])
}

/// BENCHMARKS.md, one section per benchmark (each wrote target/bench/<name>.md): a section is
/// replaced between its markers, or added at the end.
fn write_benchmarks(sections: &[&str]) -> Result {
    let path = root().join("BENCHMARKS.md");
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n`cargo xtask bench` regenerates this file.\n".into());
    for name in sections {
        let body = std::fs::read_to_string(root().join(format!("target/bench/{name}.md"))).map_err(|e| format!("target/bench/{name}.md: {e}"))?;
        let (begin, end) = (format!("<!-- {name}:begin -->"), format!("<!-- {name}:end -->"));
        let block = format!("{begin}\n{}\n{end}", body.trim_end());
        text = match (text.find(&begin), text.find(&end)) {
            (Some(b), Some(e)) if b < e => format!("{}{block}{}", &text[..b], &text[e + end.len()..]),
            _ => format!("{}\n\n{block}\n", text.trim_end()),
        };
    }
    std::fs::write(&path, text).map_err(|e| e.to_string())
}

/// Issue 11's budget for the background's WASM (gzip -9).
const BACKGROUND_GZIP_BUDGET: u64 = 60 * 1024;

/// The footprint before the core's I/O was rewritten without serde, as this command measured it at
/// commit ead0c63 (the last build with serde, serde_json and serde-wasm-bindgen): kept for the
/// comparison, since that build cannot be made from this tree.
const BEFORE_THE_LEAN_CORE: &str = "
**Before** (this command at commit ead0c63, the last build with serde): 409,026 bytes raw, 168,696 gzip -9, as
shipped with `wasm-opt -Oz`; before wasm-opt 446.9 KiB, of which unbusy 93.9 KiB, core 65.7 (float formatting
alone ~12), serde 62.9, serde_json 58.0, static data 44.9, alloc 33.0, serde_core 29.4, serde_wasm_bindgen 10.8,
hashbrown 9.1, dlmalloc 7.0, wasm_bindgen 7.0. Largest items then: `data[0]` 44.8 KiB, dragon `format_shortest`
5.7 and `format_exact` 4.8, dlmalloc `malloc` 4.6, `Verdict`'s serde `serialize` 4.0 and 3.7, `Watcher::handle` 3.8.
What went, step by step (gzip -9 of the shipped module): serde's derives, serde_json and serde-wasm-bindgen
replaced by the core's own `Json` and `derive(ToJson, FromJson)` 168,696 → 102,069, objects written through
one function over `&dyn ToJson` → 101,675; no float formatting or parsing (`f64::clamp`'s panic message, a
float range's text, the heartbeat header) → 77,119; talc for
dlmalloc, a list map for `HashMap`, char patterns for std's string searcher, no `str` slicing panics in the SSE
parser, an insertion sort, Store effects compared by kind 77,119 → 62,566; wasm-opt's `--low-memory-unused
--flatten --rereloop --converge` 62,566 → 60,836.
";

/// twiggy, for the footprint benchmark only (the test command does not need it).
const TWIGGY_VERSION: &str = "0.7.0";

/// The background's WASM (raw, gzip; by crate and by function, from twiggy on the named build
/// before wasm-opt) and the store zips.
fn footprint(built: &BuildReport) -> Result<String> {
    let twiggy = root().join("target/tools/bin/twiggy");
    if !output(Command::new(&twiggy).arg("--version")).is_some_and(|v| v.contains(TWIGGY_VERSION)) {
        run(Command::new("cargo").args(["install", "twiggy", "--version", TWIGGY_VERSION, "--root"]).arg(root().join("target/tools")))?;
    }
    let named = root().join("target/wasm-bindgen/unbusy_bg.wasm");
    let csv = output(Command::new(&twiggy).args(["top", "-n", "1000000", "--format", "csv"]).arg(&named)).ok_or("twiggy top failed")?;
    let mut by_crate: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut functions: Vec<(u64, String)> = Vec::new();
    let mut total = 0;
    for line in csv.lines().skip(1) {
        // Name,ShallowSize,ShallowSizePercent,RetainedSize,RetainedSizePercent; the name may hold commas.
        let mut fields = line.rsplitn(5, ',');
        let (Some(_), Some(_), Some(_), Some(size), Some(name)) = (fields.next(), fields.next(), fields.next(), fields.next(), fields.next()) else { continue };
        let Ok(size) = size.parse::<u64>() else { continue };
        // Custom sections (names, producers) are stripped from the shipped module.
        if name.starts_with("\"\"") {
            continue;
        }
        let name = without_hash(name.trim_matches('"')).to_string();
        total += size;
        *by_crate.entry(crate_of(&name)).or_default() += size;
        functions.push((size, name));
    }
    functions.sort_by(|a, b| b.cmp(a));
    let mut crates: Vec<(u64, String)> = by_crate.into_iter().map(|(name, size)| (size, name)).collect();
    crates.sort_by(|a, b| b.cmp(a));
    let zips = package::zip_dist(&root())?;
    let kib = |bytes: u64| format!("{:.1} KiB", bytes as f64 / 1024.0);
    let mut out = String::from("## Footprint\n\n");
    let within = if built.wasm_gzip <= BACKGROUND_GZIP_BUDGET { "within" } else { "over" };
    out += &format!(
        "`cargo xtask bench` writes this section. The background's WASM as shipped (`wasm-opt --low-memory-unused --flatten --rereloop -Oz --converge`): **{} raw, {} gzip -9** ({} and {} bytes: {within} the {} budget); the extension pages' module (ui/, loaded by the popup, the options and the API panel only): {} raw, {} gzip -9. The store zips (`cargo xtask package`): {}.\n\n",
        kib(built.wasm_raw),
        kib(built.wasm_gzip),
        built.wasm_raw,
        built.wasm_gzip,
        kib(BACKGROUND_GZIP_BUDGET),
        kib(built.ui_raw),
        kib(built.ui_gzip),
        zips.iter().map(|(name, size)| format!("{name} {}", kib(*size))).collect::<Vec<_>>().join(", ")
    );
    out += &format!(
        "What costs what, by twiggy {TWIGGY_VERSION} on the build before wasm-opt (names kept; {} in all): shallow sizes, by crate and the largest items.\n\n",
        kib(total)
    );
    out += "| crate | size | share |\n| --- | ---: | ---: |\n";
    for (size, name) in crates.iter().take(15) {
        out += &format!("| {name} | {} | {:.1} % |\n", kib(*size), *size as f64 * 100.0 / total.max(1) as f64);
    }
    out += "\n| item | size |\n| --- | ---: |\n";
    for (size, name) in functions.iter().take(15) {
        let short: String = name.chars().take(110).collect();
        out += &format!("| `{}` | {} |\n", short.replace('|', "\\|").replace('`', "'"), kib(*size));
    }
    out += BEFORE_THE_LEAN_CORE;
    Ok(out)
}

/// The crate a demangled item belongs to: the first path segment without its disambiguator
/// (`core[c593…]`), looking inside `<T as Trait>` for the implementing type's crate.
fn crate_of(name: &str) -> String {
    let inner = name.trim_start_matches(['<', '&']).trim_start_matches("mut ").trim_start_matches("dyn ");
    match inner.split_once("::") {
        // Inherent methods of primitives (`<u64>::_fmt`, `<str>::…`) are core's.
        Some((first, _)) if first.ends_with('>') && !first.contains(' ') => "core".into(),
        Some((first, _)) if !first.contains(' ') => first.split('[').next().unwrap_or(first).to_string(),
        _ if name.starts_with("data[") => "static data".into(),
        _ => "other (tables, imports, unnamed)".into(),
    }
}

/// A demangled name without its hash suffix (`::h0123…`).
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => head,
        _ => name,
    }
}

/// The store zips; then (unless `--no-verify`, as the rebuild itself runs it) the source archive
/// and the proof that it rebuilds the zips byte for byte.
fn package(verify: bool) -> Result {
    setup()?;
    build_dist()?;
    step("package: dist/unbusy-chrome.zip, dist/unbusy-firefox.zip");
    for (name, size) in package::zip_dist(&root())? {
        eprintln!("dist/{name}: {size} bytes");
    }
    if verify {
        step("package: dist/unbusy-source.zip");
        let source = package::source_archive(&root())?;
        eprintln!("dist/{}: {source} bytes", package::SOURCE_ARCHIVE);
        package::verify_rebuild(&root())?;
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

    #[test]
    fn twiggy_items_are_counted_to_their_crates() {
        assert_eq!(crate_of("core[c5930c85a12de822]::fmt::write"), "core");
        assert_eq!(crate_of("<u64>::_fmt"), "core");
        assert_eq!(crate_of("<unbusy::protocol::CsMessage as unbusy::json::FromJson>::from_json"), "unbusy");
        assert_eq!(crate_of("data[0]"), "static data");
    }
}
