//! Where this command's `libpinguard.so` is: beside the command, or in `../lib` (a
//! release unpacked, `cargo install`'s layout). `--lib` overrides it.

use std::path::{Path, PathBuf};

pub fn library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this command's path: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for candidate in [dir.join("libpinguard.so"), dir.join("../lib/libpinguard.so")] {
        if candidate.is_file() {
            return Ok(std::fs::canonicalize(&candidate).unwrap_or(candidate));
        }
    }
    Err(format!("cannot find libpinguard.so next to {} (or in ../lib); give it with --lib", exe.display()))
}
