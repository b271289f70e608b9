//! The command carries its preload library, so that `cargo install --path cli` installs
//! one file that works: this script builds `libpinguard.so` from the library's source
//! (found through the `pinguard` dependency's `links` metadata, so a packaged crate
//! works too) into a target folder of its own, and `locate.rs` embeds it.
//!
//! `PINGUARD_EMBED_LIBRARY=PATH` embeds that file instead of building one (a release
//! built for an older glibc embeds the library built for it); `PINGUARD_EMBED_LIBRARY=`
//! (empty) embeds none: the command then finds its library beside it, as in a release
//! or a wheel, and the workspace's own builds stay fast.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let embedded = out.join("libpinguard.so");
    println!("cargo:rerun-if-env-changed=PINGUARD_EMBED_LIBRARY");
    let chosen = match std::env::var("PINGUARD_EMBED_LIBRARY") {
        Ok(p) if p.is_empty() => None,
        Ok(p) => Some(PathBuf::from(p)),
        Err(_) => build_library(&out),
    };
    match chosen {
        Some(lib) => {
            println!("cargo:rerun-if-changed={}", lib.display());
            std::fs::copy(&lib, &embedded).unwrap_or_else(|e| panic!("cannot copy {}: {e}", lib.display()));
        }
        // Nothing to carry: an empty file says so (locate.rs then never extracts it).
        None => std::fs::write(&embedded, b"").expect("write OUT_DIR"),
    }
}

/// Builds the library with the same cargo and profile, in a target folder of its own
/// (the outer build holds its own). `None` when the library's source cannot be found.
fn build_library(out: &Path) -> Option<PathBuf> {
    let source = PathBuf::from(std::env::var("DEP_PINGUARD_SOURCE").ok()?);
    println!("cargo:rerun-if-changed={}", source.join("src").display());
    println!("cargo:rerun-if-changed={}", source.join("core/src").display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let target_dir = out.join("library");
    let mut cmd = Command::new(cargo);
    cmd.arg("build").arg("--lib").arg("-p").arg("pinguard").arg("--manifest-path").arg(source.join("Cargo.toml"));
    cmd.arg("--target-dir").arg(&target_dir);
    if release {
        cmd.arg("--release");
    }
    // The outer build's settings for the command are not the library's.
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_MAKEFLAGS"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo to build libpinguard.so");
    assert!(status.success(), "building libpinguard.so to carry failed");
    Some(target_dir.join(if release { "release" } else { "debug" }).join("libpinguard.so"))
}
