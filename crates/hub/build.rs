//! Fetches uPlot, the dashboard's chart library, at build time — never copied into the repository.
//!
//! `npm pack uplot@<UPLOT_VERSION>` downloads the package tarball into OUT_DIR; its SHA-512 must
//! match the pinned integrity string (the one the npm registry publishes), then
//! `dist/uPlot.iife.min.js` and `dist/uPlot.min.css` are extracted for `include_bytes!`.
//! Offline: set `HOSTWATCH_UPLOT_TGZ=/path/to/uplot-<version>.tgz` (same checksum applies).

use base64::Engine;
use sha2::{Digest, Sha512};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const UPLOT_VERSION: &str = "1.6.32";
const UPLOT_INTEGRITY: &str = "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==";
const OVERRIDE_VAR: &str = "HOSTWATCH_UPLOT_TGZ";
const WANTED: [(&str, &str); 2] = [
    ("package/dist/uPlot.iife.min.js", "uPlot.iife.min.js"),
    ("package/dist/uPlot.min.css", "uPlot.min.css"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={OVERRIDE_VAR}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    if WANTED.iter().all(|(_, name)| out.join(name).exists())
        && std::env::var_os(OVERRIDE_VAR).is_none()
        && out.join(format!("uplot-{UPLOT_VERSION}.ok")).exists()
    {
        return;
    }
    let tgz = match std::env::var_os(OVERRIDE_VAR) {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            std::fs::read(&path).unwrap_or_else(|e| {
                fail(&format!(
                    "{OVERRIDE_VAR}={}: cannot read it: {e}",
                    path.display()
                ))
            })
        }
        None => npm_pack(&out).unwrap_or_else(|e| fail(&e)),
    };
    verify(&tgz).unwrap_or_else(|e| fail(&e));
    extract(&tgz, &out).unwrap_or_else(|e| fail(&e));
    std::fs::write(out.join(format!("uplot-{UPLOT_VERSION}.ok")), b"")
        .unwrap_or_else(|e| fail(&format!("writing into OUT_DIR: {e}")));
}

fn fail(why: &str) -> ! {
    panic!(
        "\n\nhostwatch-hub needs uPlot {UPLOT_VERSION} for its dashboard: {why}\n\
         Either make `npm` available (the build runs `npm pack uplot@{UPLOT_VERSION}`), or download \
         the tarball elsewhere with `npm pack uplot@{UPLOT_VERSION}` and set \
         {OVERRIDE_VAR}=/path/to/uplot-{UPLOT_VERSION}.tgz\n\n"
    )
}

fn npm_pack(out: &Path) -> Result<Vec<u8>, String> {
    let result = Command::new("npm")
        .args(["pack", &format!("uplot@{UPLOT_VERSION}"), "--silent"])
        .arg("--pack-destination")
        .arg(out)
        .current_dir(out)
        .output()
        .map_err(|e| format!("running `npm pack` failed: {e}"))?;
    if !result.status.success() {
        return Err(format!(
            "`npm pack uplot@{UPLOT_VERSION}` exited with {}: {}",
            result.status,
            String::from_utf8_lossy(&result.stderr).trim()
        ));
    }
    let path = out.join(format!("uplot-{UPLOT_VERSION}.tgz"));
    std::fs::read(&path).map_err(|e| format!("`npm pack` left no {}: {e}", path.display()))
}

fn verify(tgz: &[u8]) -> Result<(), String> {
    let expected = UPLOT_INTEGRITY
        .strip_prefix("sha512-")
        .expect("the pinned integrity is sha512");
    let actual = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(tgz));
    if actual != expected {
        return Err(format!(
            "the uPlot tarball's checksum is sha512-{actual}, expected {UPLOT_INTEGRITY}: \
             refusing an unexpected file"
        ));
    }
    Ok(())
}

fn extract(tgz: &[u8], out: &Path) -> Result<(), String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut found = 0;
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the uPlot tarball: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("reading the uPlot tarball: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("reading the uPlot tarball: {e}"))?
            .to_string_lossy()
            .into_owned();
        if let Some((_, name)) = WANTED.iter().find(|(p, _)| *p == path) {
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .map_err(|e| format!("extracting {path}: {e}"))?;
            std::fs::write(out.join(name), data)
                .map_err(|e| format!("writing {name} into OUT_DIR: {e}"))?;
            found += 1;
        }
    }
    if found != WANTED.len() {
        return Err("the tarball lacks dist/uPlot.iife.min.js or dist/uPlot.min.css".into());
    }
    Ok(())
}
