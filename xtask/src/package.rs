//! Store packages: one zip per browser, byte for byte the same whenever the same sources are built
//! (entries sorted, fixed times and modes), and the source archive Firefox's review asks for when
//! an add-on ships WebAssembly (sources, lockfiles, pinned tool versions, the one command that
//! rebuilds the zips) — with the proof that it does: `verify_rebuild`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::{output, step, Result, BROWSERS};

pub const SOURCE_ARCHIVE: &str = "unbusy-source.zip";

fn options(mode: u32) -> SimpleFileOptions {
    // 1980-01-01 00:00 (zip's epoch): no build time in the package.
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(DateTime::default())
        .unix_permissions(mode)
}

/// Every file under `dir`, as paths relative to it with `/`, sorted.
fn files_under(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).map_err(|e| format!("{}: {e}", at.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).map_err(|e| e.to_string())?;
                found.push(relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes `names` (relative to `base`) into the zip at `out`; its size.
fn write_zip(base: &Path, names: &[String], out: &Path, extra: &[(&str, String)]) -> Result<u64> {
    let mut zip = ZipWriter::new(File::create(out).map_err(|e| format!("{}: {e}", out.display()))?);
    for name in names {
        let mut bytes = Vec::new();
        File::open(base.join(name)).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| format!("{name}: {e}"))?;
        let executable = base.join(name).metadata().map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0).unwrap_or(false);
        zip.start_file(name.as_str(), options(if executable { 0o755 } else { 0o644 })).map_err(|e| e.to_string())?;
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
    }
    for (name, text) in extra {
        zip.start_file(*name, options(0o644)).map_err(|e| e.to_string())?;
        zip.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    }
    zip.finish().map_err(|e| e.to_string())?;
    std::fs::metadata(out).map(|m| m.len()).map_err(|e| e.to_string())
}

/// dist/unbusy-<browser>.zip from dist/<browser>; their names and sizes.
pub fn zip_dist(root: &Path) -> Result<Vec<(String, u64)>> {
    let mut zips = Vec::new();
    for browser in BROWSERS {
        let name = format!("unbusy-{browser}.zip");
        let dir = root.join("dist").join(browser);
        zips.push((name.clone(), write_zip(&dir, &files_under(&dir)?, &root.join("dist").join(&name), &[])?));
    }
    Ok(zips)
}

fn sha256(path: &Path) -> Result<String> {
    output(Command::new("sha256sum").arg(path))
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .ok_or_else(|| format!("sha256sum {}", path.display()))
}

/// The source archive: every file git tracks (lockfiles and pinned versions included) and
/// REBUILD.md, which names the tools and the command, and the zips' checksums it must give.
pub fn source_archive(root: &Path) -> Result<u64> {
    let tracked = output(Command::new("git").args(["ls-files", "-z"]).current_dir(root)).ok_or("git ls-files failed")?;
    let mut names: Vec<String> = tracked.split('\0').filter(|n| !n.is_empty() && root.join(n).is_file()).map(String::from).collect();
    names.sort();
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| e.to_string())?;
    let bindgen = lock.split("name = \"wasm-bindgen\"\nversion = \"").nth(1).and_then(|v| v.split('"').next()).unwrap_or("?");
    let toolchain = std::fs::read_to_string(root.join("rust-toolchain.toml")).map_err(|e| e.to_string())?;
    let channel = toolchain.lines().find_map(|l| l.strip_prefix("channel = ")).unwrap_or("?").trim_matches('"');
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("tests/e2e/package.json")).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let binaryen = package["devDependencies"]["binaryen"].as_str().or(package["dependencies"]["binaryen"].as_str()).unwrap_or("?");
    let mut sums = String::new();
    for browser in BROWSERS {
        let zip = root.join("dist").join(format!("unbusy-{browser}.zip"));
        sums += &format!("    {}  dist/unbusy-{browser}.zip\n", sha256(&zip)?);
    }
    let wasm_pack = crate::WASM_PACK_VERSION;
    let rebuild = format!(
        "# Rebuilding Unbusy's packages\n\n\
         Tools (pinned): Rust {channel} with the wasm32-unknown-unknown target (rust-toolchain.toml), \
         wasm-bindgen-cli {bindgen} (the same version as the wasm-bindgen crate in Cargo.lock), wasm-pack {wasm_pack}, \
         binaryen {binaryen}'s wasm-opt and web-ext from npm (tests/e2e/package-lock.json), on Debian \
         with git, node and npm. `cargo xtask setup` installs the rest.\n\n\
         The one command, from this directory:\n\n    cargo xtask package\n\n\
         It writes dist/unbusy-chrome.zip and dist/unbusy-firefox.zip, which must be byte for byte:\n\n{sums}\n\
         (`sha256sum dist/unbusy-*.zip`). The WebAssembly is built from src/ and ui/ (Rust); \
         extension/ is copied as it is; extension/generated/protocol.js is generated from src/ and \
         checked in.\n"
    );
    write_zip(root, &names, &root.join("dist").join(SOURCE_ARCHIVE), &[("REBUILD.md", rebuild)])
}

/// The store zips unpacked into target/packaged/<browser>: what the end-to-end tests load to
/// prove the packages themselves work (Chromium loads unpacked extensions only).
pub fn unpack_for_tests(root: &Path) -> Result {
    for browser in BROWSERS {
        let into = crate::cargo_target_dir().join("packaged").join(browser);
        let _ = std::fs::remove_dir_all(&into);
        let zip = root.join("dist").join(format!("unbusy-{browser}.zip"));
        ZipArchive::new(File::open(&zip).map_err(|e| format!("{}: {e}", zip.display()))?).and_then(|mut a| a.extract(&into)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Unpacks the source archive into a fresh directory, builds the extension from it as
/// `cargo xtask package` does (in this process, with the dependencies already compiled), and
/// compares the zips it makes with these, byte for byte.
pub fn verify_rebuild(root: &Path) -> Result {
    step("package: rebuild from the source archive, compare byte for byte");
    let scratch = std::env::temp_dir().join(format!("unbusy-rebuild-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut archive = ZipArchive::new(File::open(root.join("dist").join(SOURCE_ARCHIVE)).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    archive.extract(&scratch).map_err(|e| e.to_string())?;
    let compared = crate::build_dist_in(&scratch).and_then(|_| zip_dist(&scratch)).and_then(|_| {
        for browser in BROWSERS {
            let name = format!("dist/unbusy-{browser}.zip");
            let (ours, theirs) = (std::fs::read(root.join(&name)).map_err(|e| e.to_string())?, std::fs::read(scratch.join(&name)).map_err(|e| e.to_string())?);
            if ours != theirs {
                return Err(format!("{name} rebuilt from the source archive differs ({} and {} bytes)", ours.len(), theirs.len()));
            }
            eprintln!("{name}: rebuilt byte for byte ({} bytes)", ours.len());
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&scratch);
    compared
}
