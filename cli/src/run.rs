//! `pinguard run [options] -- program args...`: the CI wrapper.
//!
//! - Every option is checked before the program starts; a bad one is an error (exit 2),
//!   never a silent fallback.
//! - libpinguard.so is prepended to `LD_PRELOAD` (what was there stays), so every process
//!   the program starts inherits it; each writes its own report into the run's folder.
//! - Signals: SIGTERM and SIGHUP sent to pinguard reach the program. SIGINT and SIGQUIT
//!   typed at a terminal already reach it (same process group), so pinguard only passes
//!   on those another process sent to pinguard itself.
//! - When the program ends (also by Ctrl-C), the merged summary is printed, always, and
//!   pinguard exits with the program's own code (128 + signal if it was killed), or with
//!   `--error-exitcode N` when any finding was made.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};

use clap::ArgMatches;
use pinguard_core::settings::{OPTIONS_VAR, PathSetting, Settings};
use pinguard_core::suppressions::Suppressions;
use pinguard_report::{merge, render};

use crate::say::say;

pub fn main(m: &ArgMatches) -> ExitCode {
    match run(m) {
        Ok(code) => code,
        Err(why) => {
            say(&why);
            ExitCode::from(2)
        }
    }
}

/// The settings from the environment, `--options` and the flags (later wins), checked.
fn settings(m: &ArgMatches) -> Result<Settings, String> {
    let mut entries = Vec::new();
    if let Some(env) = std::env::var_os(OPTIONS_VAR).filter(|v| !v.is_empty()) {
        entries.push(env.to_string_lossy().into_owned());
    }
    if let Some(o) = m.get_one::<String>("options") {
        entries.push(o.clone());
    }
    for s in Settings::table() {
        if let Some(v) = m.try_get_one::<String>(s.name).ok().flatten() {
            entries.push(format!("{}=\"{}\"", s.name, v.replace('"', "")));
        }
    }
    let (settings, problems) = Settings::parse(&entries.join(":"));
    if let Some(first) = problems.first() {
        let more = if problems.len() > 1 { format!(" (and {} more)", problems.len() - 1) } else { String::new() };
        return Err(format!("bad option: {}{more}; the program was not started", first.replacen("ignoring ", "", 1)));
    }
    if settings.suppressions.is_set() {
        let path = &settings.suppressions.0;
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the suppressions file {path}: {e}"))?;
        Suppressions::parse(&text).map_err(|e| format!("bad suppressions file {path}: {e}"))?;
    }
    Ok(settings)
}

/// libpinguard.so: `--lib`, else next to this command, else in `../lib`.
fn library(m: &ArgMatches) -> Result<PathBuf, String> {
    if let Some(lib) = m.get_one::<String>("lib") {
        let p = PathBuf::from(lib);
        return p.is_file().then(|| absolute(&p)).ok_or(format!("--lib {lib}: no such file"));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this command's path: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for candidate in [dir.join("libpinguard.so"), dir.join("../lib/libpinguard.so")] {
        if candidate.is_file() {
            return Ok(absolute(&candidate));
        }
    }
    Err(format!("cannot find libpinguard.so next to {} (or in ../lib); give it with --lib", exe.display()))
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `YYYYMMDD-HHMMSS` (UTC) of now.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The run's report folder: `--report-dir`, or a new `pinguard-report/run-*`.
fn report_dir(m: &ArgMatches) -> Result<PathBuf, String> {
    let dir = match m.get_one::<String>("report-dir") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from("pinguard-report").join(format!("run-{}-{}", timestamp(), std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make the report folder {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".pinguard-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("cannot write into the report folder {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(absolute(&dir))
}

/// The child, for the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: i32, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let from_a_process = unsafe { info.as_ref() }.is_some_and(|i| i.si_code == libc::SI_USER);
    let typed_at_terminal = (sig == libc::SIGINT || sig == libc::SIGQUIT) && !from_a_process;
    let child = CHILD.load(Ordering::Relaxed);
    if child > 0 && !typed_at_terminal {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(child, sig) };
    }
}

fn install_forwarding() {
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: sigaction is plain C data; all-zero is a valid start.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = forward as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        // SAFETY: installs a handler that only calls kill(2).
        unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
    }
}

fn run(m: &ArgMatches) -> Result<ExitCode, String> {
    let mut settings = settings(m)?;
    let lib = library(m)?;
    let dir = report_dir(m)?;
    settings.log_path = PathSetting(dir.join("pinguard.%p.%h.jsonl").to_string_lossy().into_owned());
    let program: Vec<&String> = m.get_many::<String>("program").map(|v| v.collect()).unwrap_or_default();
    let (name, args) = program.split_first().ok_or("no program to run")?;

    let mut preload = OsString::from(&lib);
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(old);
    }
    let mut cmd = Command::new(name);
    cmd.args(args).env("LD_PRELOAD", preload).env(OPTIONS_VAR, settings.to_options());
    install_forwarding();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
    CHILD.store(child.id() as i32, Ordering::Relaxed);
    let status = child.wait().map_err(|e| format!("cannot wait for {name}: {e}"))?;
    CHILD.store(0, Ordering::Relaxed);

    let run = merge::run(std::slice::from_ref(&dir))
        .map_err(|e| format!("cannot read the reports in {}: {e}", dir.display()))?;
    eprint!("{}", render::text::render(&run, 10));
    if run.bad_lines > 0 {
        say(&format!(
            "{} report lines were cut short (a process killed while writing); the rest was read",
            run.bad_lines
        ));
    }
    say(&format!("reports: {} (pinguard report {} --format html -o report.html)", dir.display(), dir.display()));
    let findings = run.totals().findings;
    let own = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    let code = match m.get_one::<u8>("error-exitcode") {
        Some(&n) if findings > 0 => i32::from(n),
        _ => own,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
