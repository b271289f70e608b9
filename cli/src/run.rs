//! `pinguard run [options] -- program args...`: the CI wrapper, a gate that never fails
//! open.
//!
//! - Every option is checked before the program starts; a bad one is an error (exit 2),
//!   named as the user typed it. So is a libpinguard.so that could not load on this
//!   machine (another architecture, a C library older than its build needs). A program
//!   that cannot be found exits 127, one that cannot be executed 126, as shells do.
//! - libpinguard.so is prepended to `LD_PRELOAD` (what was there stays), so every process
//!   the program starts inherits it; each writes its own report into the run folder, and
//!   under `pinguard run` each process image marks the folder as it starts, before any
//!   CUDA call. So `pinguard run` knows which programs it watched: a main program that
//!   left no mark was not watched (it says why: a static binary, a setuid program,
//!   another architecture, the loader's own reason), and the run fails (exit 69) unless
//!   `--allow-unwatched`.
//! - The run folder is new: a `--report-dir` that holds an earlier run's reports is
//!   refused (old and new results are never mixed), and the folder of a program that
//!   could not start is removed.
//! - When the program ends (also by Ctrl-C), the merged summary and the result line are
//!   printed, always, and a `run` record is written beside the reports. A report that is
//!   not whole (a damaged line, a summary its records contradict, records a full disk
//!   lost) makes the run "incomplete" (exit 74), never clean; `--accept-partial`
//!   accepts what a killed process leaves.
//! - Exit: `--error-exitcode N` when any finding was made; else the program's own code
//!   when it failed (128 + signal if it was killed); else 69 not watched, 74 incomplete,
//!   0 clean.
//! - Signals: SIGTERM and SIGHUP sent to pinguard reach the program. SIGINT and SIGQUIT
//!   typed at a terminal already reach it (same process group), so pinguard only passes
//!   on those another process sent to pinguard itself.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};

use clap::ArgMatches;
use pinguard_core::settings::{OPTIONS_VAR, PathSetting, Settings};
use pinguard_core::suppressions::Suppressions;
use pinguard_report::gate::{Outcome, Policy, Verdict};
use pinguard_report::merge::{self, Run};
use pinguard_report::read::{self, Exec, ExitStatus, Invocation, Problem, ProblemKind, Unwatched, plural};
use pinguard_report::render;

use crate::exits;
use crate::program::{self, NotStartable};
use crate::say::say;

/// Why the program was not run: the exit code and one line.
pub struct Refusal(pub u8, pub String);

impl From<String> for Refusal {
    fn from(why: String) -> Self {
        Refusal(exits::USAGE, why)
    }
}

pub fn main(m: &ArgMatches) -> ExitCode {
    match run(m) {
        Ok(code) => code,
        Err(Refusal(code, why)) => {
            say(&why);
            ExitCode::from(code)
        }
    }
}

/// The settings from the environment, `--options` and the flags (later wins), checked;
/// a bad one is named as the user gave it.
fn settings(m: &ArgMatches) -> Result<Settings, String> {
    let mut entries = Vec::new();
    let check = |text: &str, name: &dyn Fn(&str) -> String| -> Result<(), String> {
        let (_, problems, rejected) = Settings::parse_detailed(text);
        match problems.first() {
            None => Ok(()),
            Some(p) => {
                let more = if rejected > 1 { format!(" (and {} more)", rejected - 1) } else { String::new() };
                Err(format!("{}: {}{more}; the program was not started", name(&p.entry), p.why_as_flag()))
            }
        }
    };
    if let Some(env) = std::env::var_os(OPTIONS_VAR).filter(|v| !v.is_empty()) {
        let env = env.to_string_lossy().into_owned();
        check(&env, &|e| format!("bad {OPTIONS_VAR} entry '{e}'"))?;
        entries.push(env);
    }
    if let Some(o) = m.get_one::<String>("options") {
        check(o, &|e| format!("bad --options entry '{e}'"))?;
        entries.push(o.clone());
    }
    for s in Settings::table() {
        if let Some(v) = m.try_get_one::<String>(s.name).ok().flatten() {
            let entry = format!("{}=\"{}\"", s.name, v.replace('"', ""));
            let flag = s.name.replace('_', "-");
            check(&entry, &|_| format!("bad option --{flag} {v}"))?;
            entries.push(entry);
        }
    }
    let (settings, _) = Settings::parse(&entries.join(":"));
    if settings.log_path.is_set() {
        say(&format!(
            "log_path={} is not used under pinguard run: each process writes its report into the run folder",
            settings.log_path.0
        ));
    }
    if settings.suppressions.is_set() {
        let path = &settings.suppressions.0;
        let text =
            read_bounded(Path::new(path)).map_err(|e| format!("cannot read the suppressions file {path}: {e}"))?;
        Suppressions::parse(&text).map_err(|e| format!("bad suppressions file {path}: {e}"))?;
    }
    Ok(settings)
}

/// The largest suppressions file read (a rule file is a few KiB).
const SUPPRESSIONS_MAX: u64 = 1 << 20;

/// Reads a regular file of at most [`SUPPRESSIONS_MAX`] bytes (never a FIFO or a device
/// that would block or never end).
fn read_bounded(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > SUPPRESSIONS_MAX {
        return Err(format!("larger than {} MiB", SUPPRESSIONS_MAX >> 20));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

/// libpinguard.so: `--lib`, else next to this command, else in `../lib`.
fn library(m: &ArgMatches) -> Result<PathBuf, String> {
    if let Some(lib) = m.get_one::<String>("lib") {
        let p = PathBuf::from(lib);
        return p.is_file().then(|| absolute(&p)).ok_or(format!("--lib {lib}: no such file"));
    }
    crate::locate::library()
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `YYYYMMDD-HHMMSS` (UTC) of `secs` since the epoch.
pub fn timestamp(secs: u64) -> String {
    let (date, time) = render::civil(secs);
    format!("{}-{}", date.replace('-', ""), time.replace(':', ""))
}

/// The run's report folder: `--report-dir`, or a new `pinguard-report/run-*`; and
/// whether this run made it (then it is removed again if the program cannot start).
fn report_dir(m: &ArgMatches) -> Result<(PathBuf, bool), String> {
    let dir = match m.get_one::<String>("report-dir") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from("pinguard-report").join(format!("run-{}-{}", timestamp(now_secs()), std::process::id())),
    };
    let existed = dir.exists();
    if existed {
        let reports =
            read::files_in(std::slice::from_ref(&dir)).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        if !reports.is_empty() {
            return Err(format!(
                "--report-dir {} holds {} of an earlier run; pinguard never mixes runs: give a new or empty folder (or remove those files)",
                dir.display(),
                plural(reports.len() as u64, "report file")
            ));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make the report folder {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".pinguard-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("cannot write into the report folder {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok((absolute(&dir), !existed))
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn monotonic_ns() -> u64 {
    // SAFETY: timespec is plain C data; clock_gettime only writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock and a timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
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

/// Removes a run folder this run made, if nothing was written into it.
fn remove_if_empty(dir: &Path, created: bool) {
    if created && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) {
        let _ = std::fs::remove_dir(dir);
    }
}

fn run(m: &ArgMatches) -> Result<ExitCode, Refusal> {
    let mut settings = settings(m)?;
    let lib = library(m)?;
    program::check_library(&lib)?;
    let baseline = match m.get_one::<String>("baseline") {
        Some(b) => Some(std::sync::Arc::new(pinguard_report::baseline::load(Path::new(b))?)),
        None => None,
    };
    let policy = Policy {
        accept_partial: m.get_flag("accept-partial"),
        allow_unwatched: m.get_flag("allow-unwatched"),
        baseline,
    };
    let argv: Vec<&String> = m.get_many::<String>("program").map(|v| v.collect()).unwrap_or_default();
    let (name, args) = argv.split_first().ok_or("no program to run".to_string())?;
    let resolved = match program::resolve(name) {
        Ok(p) => p,
        Err(NotStartable::NotFound(why)) => return Err(Refusal(exits::NOT_FOUND, format!("cannot start {why}"))),
        Err(NotStartable::NotExecutable(why)) => {
            return Err(Refusal(exits::NOT_EXECUTABLE, format!("cannot start {why}")));
        }
    };
    let (dir, created) = report_dir(m)?;
    settings.log_path = PathSetting(dir.join("pinguard.%p.%h%r.jsonl").to_string_lossy().into_owned());

    let mut preload = OsString::from(&lib);
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(old);
    }
    let mut cmd = Command::new(&resolved);
    cmd.arg0(name.as_str())
        .args(args)
        .env("LD_PRELOAD", preload)
        .env(OPTIONS_VAR, settings.to_options())
        .env("PINGUARD_RUN_DIR", &dir);
    install_forwarding();
    let (start_ms, mono_ns) = (now_ms(), monotonic_ns());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            remove_if_empty(&dir, created);
            let code = if e.kind() == std::io::ErrorKind::NotFound { exits::NOT_FOUND } else { exits::NOT_EXECUTABLE };
            let (why, _) = program::why_not_watched(&resolved, &lib);
            let why = if why.is_empty() { String::new() } else { format!(" ({why})") };
            return Err(Refusal(code, format!("cannot start {}: {e}{why}", resolved.display())));
        }
    };
    let pid = child.id();
    CHILD.store(pid as i32, Ordering::Relaxed);
    let status = child.wait().map_err(|e| format!("cannot wait for {name}: {e}"))?;
    CHILD.store(0, Ordering::Relaxed);
    let end_ms = now_ms();

    let host = host_name();
    let main = Exec {
        iid: String::new(),
        pid,
        by: std::process::id(),
        host: host.clone(),
        path: resolved.to_string_lossy().into_owned(),
        preload: true,
        run: true,
        mono_ns,
    };
    let (mut run, read_error) = match merge::run(std::slice::from_ref(&dir)) {
        Ok(r) => (r, None),
        Err(e) => (Run::default(), Some(e.to_string())),
    };
    run.policy = policy.clone();
    // A program that left no mark because the run folder could not be written was
    // watched, but its report is not whole: incomplete, not unwatched.
    let (unwatched, unwritten): (Vec<Unwatched>, Vec<Unwatched>) = run
        .unwatched(Some(&main))
        .into_iter()
        .map(|u| diagnose(u, &lib, &dir))
        .partition(|u| !u.reason.starts_with(NO_MARK_WRITTEN));
    for u in unwritten {
        run.problems.push(Problem {
            file: dir.clone(),
            line: None,
            kind: ProblemKind::RecordsLost,
            detail: format!("pid {} ({}) {}", u.pid, u.path, u.reason),
        });
    }
    let exit = ExitStatus { code: status.code(), signal: status.signal() };
    let own = match (exit.code, exit.signal) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    let mut invocation = Invocation {
        schema: pinguard_core::records::SCHEMA,
        pinguard: env!("CARGO_PKG_VERSION").into(),
        commit: pinguard_core::COMMIT.into(),
        argv: argv.iter().map(|a| a.to_string()).collect(),
        cwd: std::env::current_dir().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default(),
        host,
        start_ms,
        end_ms,
        main_pid: pid,
        main_path: main.path.clone(),
        mono_ns,
        exit,
        unwatched: unwatched.clone(),
        accept_partial: policy.accept_partial,
        allow_unwatched: policy.allow_unwatched,
        baseline: m.get_one::<String>("baseline").cloned(),
        ..Default::default()
    };
    if let Some(e) = &read_error {
        run.problems.push(Problem { file: dir.clone(), line: None, kind: ProblemKind::NotARecord, detail: e.clone() });
    }
    let error_exitcode = m.get_one::<u8>("error-exitcode").copied();
    let mut outcome = Outcome::of(&run, unwatched.clone(), Some(pid), &policy);
    invocation.result = outcome.verdict.name().into();
    invocation.exit_code = exit_code(&outcome, error_exitcode, own);
    if let Err(e) = write_invocation(&dir, &invocation) {
        outcome.failing_problems.push(Problem {
            file: dir.join(RUN_RECORD),
            line: None,
            kind: ProblemKind::RecordsLost,
            detail: format!("cannot write the run record: {e}"),
        });
        if outcome.verdict == Verdict::Clean {
            outcome.verdict = Verdict::Incomplete;
        }
    }
    run.invocation = Some(invocation);
    let code = exit_code(&outcome, error_exitcode, own);

    eprint!("{}", render::text::render(&run, 10));
    say(&format!("reports: {} (pinguard report {} --format html -o report.html)", dir.display(), dir.display()));
    say(&result_line(&outcome, &run, code));
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// The file `pinguard run` writes its `run` record into, beside the reports.
pub const RUN_RECORD: &str = "pinguard.run.jsonl";

fn write_invocation(dir: &Path, inv: &Invocation) -> std::io::Result<()> {
    let fields = serde_json::to_string(inv).map_err(std::io::Error::other)?;
    // `event` first, as in every record (readers know a report by its first bytes).
    let line = format!("{{\"event\":\"run\",{}\n", fields.strip_prefix('{').unwrap_or(&fields));
    std::fs::write(dir.join(RUN_RECORD), line)
}

/// The exit code: `--error-exitcode` for findings; else the program's own code when it
/// failed (its failure comes first; the result line still says what pinguard could not
/// check); else 69 not watched, 74 incomplete; else 0. Never 0 unless clean or findings
/// without `--error-exitcode`.
fn exit_code(outcome: &Outcome, error_exitcode: Option<u8>, own: i32) -> i32 {
    match error_exitcode {
        Some(n) if outcome.findings > 0 => i32::from(n),
        _ if own != 0 => own,
        _ if outcome.not_watched() => i32::from(exits::NOT_WATCHED),
        _ if outcome.incomplete() => i32::from(exits::INCOMPLETE),
        _ => 0,
    }
}

/// The last line of a run: what the gate concluded, and the exit code it gives.
fn result_line(o: &Outcome, run: &Run, code: i32) -> String {
    let t = run.totals();
    let tail = match o.verdict {
        Verdict::Findings if run.policy.baseline.is_some() => format!(
            "findings: {} at {} not in the baseline ({} known from it)",
            plural(t.findings, "new finding"),
            plural(t.sites as u64, "site"),
            t.known
        ),
        Verdict::Findings => {
            format!("findings: {} at {}", plural(t.findings, "finding"), plural(t.sites as u64, "site"))
        }
        Verdict::NotWatched => {
            let first = &o.failing_unwatched[0];
            format!(
                "NOT WATCHED: {} ran without pinguard ({}), so its copies were not checked; --allow-unwatched accepts this",
                if o.failing_unwatched.len() == 1 {
                    short(&first.path)
                } else {
                    format!("{} programs", o.failing_unwatched.len())
                },
                if first.reason.is_empty() { "reason unknown" } else { first.reason.split(':').next().unwrap_or("") }
            )
        }
        Verdict::Incomplete => format!(
            "INCOMPLETE: {} not whole, so a finding may be missing{}",
            plural(o.failing_problems.len() as u64, "report problem"),
            if o.failing_problems.iter().all(|p| p.kind.is_partial()) {
                "; --accept-partial accepts what a killed process leaves"
            } else {
                ""
            }
        ),
        Verdict::Clean => format!(
            "clean: {} watched, {} checked, no {}finding{}",
            plural(t.watched as u64, "process"),
            plural(t.checked, "async copy"),
            if run.policy.baseline.is_some() { "new " } else { "" },
            if t.known > 0 {
                format!(" ({} known from the baseline)", plural(t.known, "finding"))
            } else {
                String::new()
            }
        ),
    };
    let also = match o.verdict {
        Verdict::Findings if o.not_watched() => "; also NOT WATCHED: a program ran without pinguard",
        Verdict::Findings if o.incomplete() => "; also INCOMPLETE: a report is not whole",
        _ => "",
    };
    format!("result: {tail}{also} (exit {code})")
}

fn short(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Says why a program was not watched, where its own note did not: from its file (a
/// static binary, a setuid program, another architecture, the loader's word) or from
/// the run folder (a full file system).
fn diagnose(mut u: Unwatched, lib: &Path, dir: &Path) -> Unwatched {
    let path = if u.path.contains('/') { Some(PathBuf::from(&u.path)) } else { program::on_path(u.path.as_ref()) };
    let (reason, could_use_cuda) = match path {
        Some(p) => program::why_not_watched(&p, lib),
        None => (String::new(), true),
    };
    u.could_use_cuda = could_use_cuda;
    if !could_use_cuda || u.reason.is_empty() {
        u.reason = if !reason.is_empty() {
            reason
        } else if let Some(why) = folder_trouble(dir) {
            format!("{NO_MARK_WRITTEN}: {why}")
        } else if u.reason.is_empty() {
            "it left no start mark in the run folder, though the loader accepts libpinguard.so for it (was its environment changed?)".into()
        } else {
            u.reason
        };
    }
    u
}

/// How a reason begins when the run folder, not the loader, kept a mark from being
/// written.
const NO_MARK_WRITTEN: &str = "could not write its start mark";

/// A run folder whose file system is full or read-only (a start mark could not be
/// written there).
fn folder_trouble(dir: &Path) -> Option<String> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs is plain C data; the call only writes it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a struct to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Some(format!("the run folder {} is on a read-only file system", dir.display()));
    }
    let free = st.f_bavail as u64 * st.f_frsize as u64;
    (free < 64 * 1024).then(|| format!("the run folder's file system is full ({free} bytes free)"))
}

use std::os::unix::process::CommandExt as _;
