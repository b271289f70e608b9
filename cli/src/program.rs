//! The programs `pinguard run` deals with, read as the dynamic loader reads them: where a
//! program is (`PATH`), whether it can be started, whether libpinguard.so can load at all
//! on this machine, and, for a program pinguard did not watch, why.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use object::elf;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Endianness, FileKind};

/// ELF machine numbers (`e_machine`) this command names.
mod em {
    pub const I386: u16 = 3;
    pub const PPC64: u16 = 21;
    pub const ARM: u16 = 40;
    pub const X86_64: u16 = 62;
    pub const AARCH64: u16 = 183;
}

/// `e_machine`, read as the file's own byte order says (`EI_DATA`).
fn raw_machine(data: &[u8]) -> u16 {
    if data.len() < 20 {
        return 0;
    }
    let b = [data[18], data[19]];
    if data[5] == 2 { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }
}

/// Why a program cannot be started: the shells' exit codes.
pub enum NotStartable {
    /// Exit 127.
    NotFound(String),
    /// Exit 126.
    NotExecutable(String),
}

/// The program as `execvp` would find it: a name with a slash as given, else the first
/// executable file of that name on `PATH`.
pub fn resolve(name: &str) -> Result<PathBuf, NotStartable> {
    let check = |p: &Path| -> Result<PathBuf, NotStartable> {
        let meta = std::fs::metadata(p).map_err(|e| NotStartable::NotFound(format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            return Err(NotStartable::NotExecutable(format!("{}: is a directory", p.display())));
        }
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default();
        // SAFETY: access(2) with a NUL-terminated path; no memory is written.
        let executable = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
        if !executable {
            return Err(NotStartable::NotExecutable(format!("{}: permission denied (not executable)", p.display())));
        }
        Ok(p.to_path_buf())
    };
    if name.contains('/') {
        return check(Path::new(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut denied = None;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            match check(&candidate) {
                Ok(p) => return Ok(p),
                Err(e) => denied = denied.or(Some(e)),
            }
        }
    }
    Err(denied.unwrap_or_else(|| NotStartable::NotFound(format!("{name}: command not found on PATH"))))
}

/// What the loader sees in an ELF file.
#[derive(Debug, PartialEq, Eq)]
pub struct ElfFacts {
    pub class64: bool,
    pub machine: u16,
    /// `PT_INTERP`: the dynamic loader it asks for (none: a static binary, static-pie too).
    pub interpreter: Option<String>,
    /// The highest `GLIBC_2.N` version it needs, as (2, N).
    pub glibc_needed: Option<(u32, u32)>,
}

/// Reads the facts of an ELF file; `Ok(None)` for a file that is not ELF.
pub fn elf_facts(path: &Path) -> Result<Option<ElfFacts>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !data.starts_with(b"\x7fELF") {
        return Ok(None);
    }
    match FileKind::parse(&*data) {
        Ok(FileKind::Elf64) => {}
        Ok(FileKind::Elf32) => {
            return Ok(Some(ElfFacts {
                class64: false,
                machine: raw_machine(&data),
                interpreter: None,
                glibc_needed: None,
            }));
        }
        _ => return Err(format!("{}: a damaged or unknown ELF file", path.display())),
    }
    let file = ElfFile64::<Endianness>::parse(&*data).map_err(|e| format!("{}: {e}", path.display()))?;
    let endian = file.endian();
    let mut interpreter = None;
    for ph in file.elf_program_headers() {
        if ph.p_type(endian) == elf::PT_INTERP
            && let Ok(bytes) = ph.data(endian, &*data)
        {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            interpreter = Some(String::from_utf8_lossy(&bytes[..end]).into_owned());
        }
    }
    let mut glibc_needed = None;
    let sections = file.elf_section_table();
    if let Ok(Some((mut needs, link))) = sections.gnu_verneed(endian, &*data)
        && let Ok(strings) = sections.strings(endian, &*data, link)
    {
        while let Ok(Some((_, mut aux))) = needs.next() {
            while let Ok(Some(a)) = aux.next() {
                let name = a.name(endian, strings).unwrap_or(b"");
                if let Some(v) = std::str::from_utf8(name).ok().and_then(|n| n.strip_prefix("GLIBC_"))
                    && let Some(v) = parse_version(v)
                {
                    glibc_needed = glibc_needed.max(Some(v));
                }
            }
        }
    }
    Ok(Some(ElfFacts { class64: true, machine: raw_machine(&data), interpreter, glibc_needed }))
}

/// `2.34` -> (2, 34); `2.2.5` -> (2, 2).
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next().and_then(|m| m.parse().ok()).unwrap_or(0)))
}

/// The C library this command runs with, as (2, N).
pub fn running_glibc() -> Option<(u32, u32)> {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    parse_version(v.to_str().ok()?)
}

/// This command's own machine (libpinguard.so is built for the same one).
fn own_machine() -> u16 {
    match std::env::consts::ARCH {
        "x86_64" => em::X86_64,
        "aarch64" => em::AARCH64,
        _ => 0,
    }
}

fn machine_name(class64: bool, machine: u16) -> String {
    match (class64, machine) {
        (true, em::X86_64) => "x86-64".into(),
        (false, em::I386) => "32-bit x86".into(),
        (false, em::X86_64) => "x32".into(),
        (true, em::AARCH64) => "64-bit Arm (aarch64)".into(),
        (false, em::ARM) => "32-bit Arm".into(),
        (true, em::PPC64) => "POWER (ppc64)".into(),
        (c, m) => format!("{}-bit machine {m}", if c { 64 } else { 32 }),
    }
}

/// Can libpinguard.so load on this machine at all? Checked before a program starts:
/// another architecture, or a C library older than the one the build needs.
pub fn check_library(lib: &Path) -> Result<(), String> {
    let name = lib.display();
    let facts = elf_facts(lib)?.ok_or_else(|| format!("{name} is not an ELF shared library"))?;
    if !facts.class64 || facts.machine != own_machine() {
        return Err(format!(
            "{name} is built for {}, this machine is {}: it cannot load here",
            machine_name(facts.class64, facts.machine),
            std::env::consts::ARCH
        ));
    }
    if let (Some(need), Some(have)) = (facts.glibc_needed, running_glibc())
        && need > have
    {
        return Err(format!(
            "glibc too old: {name} needs glibc {}.{}, this machine has {}.{}, so it would not load (use a build made for older glibc; see the README's install section)",
            need.0, need.1, have.0, have.1
        ));
    }
    Ok(())
}

/// Why `path` ran without pinguard, in one phrase, and whether it could have made CUDA
/// calls pinguard did not see (a static binary or another architecture cannot load
/// CUDA's x86-64 driver).
pub fn why_not_watched(path: &Path, lib: &Path) -> (String, bool) {
    why(path, lib, 0)
}

fn why(path: &Path, lib: &Path, depth: usize) -> (String, bool) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return (format!("{}: {e}", path.display()), true),
    };
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
    if head[..n].starts_with(b"#!") && depth < 2 {
        let line = String::from_utf8_lossy(&head[2..n]);
        let interp = line.lines().next().unwrap_or("").split_whitespace().next().unwrap_or("").to_string();
        let (reason, cuda) = why(Path::new(&interp), lib, depth + 1);
        return (format!("a script run by {interp}, which is a {reason}"), cuda);
    }
    let facts = match elf_facts(path) {
        Ok(Some(f)) => f,
        Ok(None) => return ("not an ELF executable the loader can start".into(), true),
        Err(e) => return (e, true),
    };
    if !facts.class64 || facts.machine != own_machine() {
        return (
            format!(
                "{} program: libpinguard.so is {}, and the loader only preloads a library of the program's own architecture",
                machine_name(facts.class64, facts.machine),
                std::env::consts::ARCH
            ),
            false,
        );
    }
    if facts.interpreter.is_none() {
        return (
            "static binary: the dynamic loader never runs for it, so LD_PRELOAD cannot load libpinguard.so (a static program cannot load CUDA's driver either)".into(),
            false,
        );
    }
    let setid = meta.permissions().mode() & 0o6000 != 0;
    // SAFETY: geteuid and getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if setid && (meta.uid() != uid || meta.gid() != gid) {
        return (
            "setuid or setgid program: the loader ignores LD_PRELOAD paths for it (secure-execution mode)".into(),
            true,
        );
    }
    if let Some(said) = loader_says(path, lib) {
        return (said, true);
    }
    (String::new(), true)
}

/// The loader's own word on preloading `lib` into `path`: `ld.so` in trace mode loads the
/// program's libraries and the preload without running any of their code, and prints
/// what it could not load.
fn loader_says(path: &Path, lib: &Path) -> Option<String> {
    let out = Command::new(path)
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .env("LD_PRELOAD", lib)
        .env_remove("PINGUARD_RUN_DIR")
        .env_remove("PINGUARD_OPTIONS")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("cannot be preloaded") || l.contains("not found (required by"))?;
    let line = line.trim();
    if let Some(v) = line.split('`').nth(1).and_then(|v| v.split('\'').next()).filter(|v| v.starts_with("GLIBC_")) {
        let have = running_glibc().map(|(a, b)| format!("{a}.{b}")).unwrap_or_else(|| "older".into());
        return Some(format!(
            "glibc too old: libpinguard.so needs {v}, the program's C library is {have} (the loader said: {line})"
        ));
    }
    Some(format!("the loader refused libpinguard.so: {line}"))
}

/// Is `p` an executable file (for diagnosing a child noted by name)?
pub fn on_path(name: &OsStr) -> Option<PathBuf> {
    let name = name.to_str()?;
    resolve(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("2.34"), Some((2, 34)));
        assert_eq!(parse_version("2.2.5"), Some((2, 2)));
        assert_eq!(parse_version("x"), None);
        assert!(running_glibc().is_some());
    }

    #[test]
    fn static_and_dynamic_programs_are_told_apart() {
        let sh = elf_facts(Path::new("/bin/sh")).unwrap().unwrap();
        assert!(sh.interpreter.is_some(), "{sh:?}");
        assert!(sh.glibc_needed.is_some());
        if Path::new("/sbin/ldconfig").exists() {
            let ldconfig = elf_facts(Path::new("/sbin/ldconfig")).unwrap().unwrap();
            assert_eq!(ldconfig.interpreter, None, "Debian's ldconfig is static-pie: no PT_INTERP");
            let (reason, cuda) = why_not_watched(Path::new("/sbin/ldconfig"), Path::new("/nonexistent.so"));
            assert!(reason.starts_with("static binary"), "{reason}");
            assert!(!cuda);
        }
        assert_eq!(elf_facts(Path::new("/etc/hostname")).unwrap_or(None), None);
    }
}
