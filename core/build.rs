//! Stamps the commit pinguard is built from into `pinguard_core::COMMIT` (`pinguard
//! --version`, every report's header, every run's record): `PINGUARD_COMMIT` from the
//! environment where set (a release or wheel build), else `git rev-parse` where the
//! source is a git checkout, else "unknown".
use std::process::Command;

fn main() {
    let from_env = std::env::var("PINGUARD_COMMIT").ok().filter(|c| !c.is_empty());
    let from_git = || {
        let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        let hash = String::from_utf8(out.stdout).ok()?.trim().to_string();
        if !out.status.success() || hash.is_empty() {
            return None;
        }
        let dirty = Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false);
        Some(if dirty { format!("{hash}-modified") } else { hash })
    };
    let commit = from_env.or_else(from_git).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PINGUARD_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=PINGUARD_COMMIT");
    for git in ["../.git/HEAD", "../.git/index"] {
        if std::path::Path::new(git).exists() {
            println!("cargo:rerun-if-changed={git}");
        }
    }
}
