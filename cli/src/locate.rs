//! Where this command's `libpinguard.so` is: beside the command, or in `../lib` (a
//! release unpacked, the wheel's layout); else the copy the command carries (built in by
//! `cargo install`: see `cli/build.rs`), written once to a cache folder of this user's and
//! checked byte for byte before each use. `--lib` overrides it.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The library this command carries (empty when it carries none).
static CARRIED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libpinguard.so"));

pub fn library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this command's path: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for candidate in [dir.join("libpinguard.so"), dir.join("../lib/libpinguard.so")] {
        if candidate.is_file() {
            return Ok(std::fs::canonicalize(&candidate).unwrap_or(candidate));
        }
    }
    if !CARRIED.is_empty() {
        return carried();
    }
    Err(format!("cannot find libpinguard.so next to {} (or in ../lib); give it with --lib", exe.display()))
}

/// FNV-1a of the carried bytes: the cache folder's name, and the check of its file.
fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The carried library, written to `$XDG_CACHE_HOME/pinguard/VERSION-DIGEST/` (else
/// `~/.cache/...`) on first use. Used only if that file is this user's, writable by no
/// one else, and byte for byte the carried one: a file someone else planted is refused.
fn carried() -> Result<PathBuf, String> {
    let id = format!("{}-{:016x}", env!("CARGO_PKG_VERSION"), digest(CARRIED));
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("cannot find libpinguard.so: no cache folder (HOME is not set) to write the carried one to")?;
    let dir = base.join("pinguard").join(id);
    let path = dir.join("libpinguard.so");
    if trusted(&path) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".libpinguard.so.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(CARRIED)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| format!("cannot write the carried libpinguard.so to {}: {e}", path.display()))?;
    if trusted(&path) { Ok(path) } else { Err(format!("{} is not the library this command carries", path.display())) }
}

/// Is `path` this user's, writable by no one else, and the carried bytes?
fn trusted(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    // SAFETY: geteuid has no preconditions.
    let ours = meta.is_file() && meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o022 == 0;
    ours && std::fs::read(path).is_ok_and(|b| b == CARRIED)
}
