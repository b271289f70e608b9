//! The test harness: runs the test apps under `libpinguard.so` and compares what
//! pinguard reported with `testing/apps/manifest.txt`, exactly: every run writes a JSON
//! Lines report into a folder of its own, whose per-site totals are compared. The cargo integration tests
//! use it against fakecuda; `scripts/gpu/test.sh` runs its binary,
//! `pinguard-manifest-run`, against the real driver.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::sync::atomic::{AtomicUsize, Ordering};

use pinguard_core::report::parse_record;
use pinguard_core::summary::SummaryLine;
use pinguard_report::merge;

pub mod hang;
pub mod reliability;

/// One expected record: `verdict:dir:bytes:count`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    pub verdict: String,
    pub dir: String,
    pub bytes: u64,
    pub count: usize,
}

/// One manifest line.
#[derive(Clone, Debug)]
pub struct Case {
    pub app: String,
    pub builds: Vec<String>,
    pub expected: Vec<Expected>,
    /// `key=value` checks against the exit summary.
    pub summary: Vec<(String, String)>,
    /// `same-fate`: the app need not succeed; it must end exactly as it does without
    /// pinguard (same exit code, or same signal). For calls that crash inside CUDA itself.
    pub same_fate: bool,
}

pub const ALL_BUILDS: [&str; 4] = ["dynamic", "static", "driver", "dlsym"];

impl Case {
    /// The first finding (not an "allowed" note) an app prints, for abort mode.
    pub fn has_finding(&self) -> bool {
        self.expected.iter().any(|e| e.verdict != "allowed")
    }
}

/// Parses the manifest text.
pub fn parse_manifest(text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let app = words.next().unwrap().to_string();
        let builds = match words.next() {
            Some("all") => ALL_BUILDS.iter().map(|b| b.to_string()).collect(),
            Some(list) => list.split(',').map(str::to_string).collect(),
            None => return Err(format!("manifest line {}: no builds", n + 1)),
        };
        let mut case = Case { app, builds, expected: Vec::new(), summary: Vec::new(), same_fate: false };
        for w in words {
            if w == "-" {
                continue;
            }
            if w == "same-fate" {
                case.same_fate = true;
                continue;
            }
            if let Some((k, v)) = w.split_once('=') {
                case.summary.push((k.to_string(), v.to_string()));
                continue;
            }
            let parts: Vec<&str> = w.split(':').collect();
            let [verdict, dir, bytes, count] = parts[..] else {
                return Err(format!("manifest line {}: bad expectation '{w}'", n + 1));
            };
            let num = |s: &str| s.parse::<u64>().map_err(|_| format!("manifest line {}: bad number in '{w}'", n + 1));
            case.expected.push(Expected {
                verdict: verdict.into(),
                dir: dir.into(),
                bytes: num(bytes)?,
                count: num(count)? as usize,
            });
        }
        cases.push(case);
    }
    Ok(cases)
}

/// Log or abort mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    Log,
    Abort,
}

impl fmt::Display for RunMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunMode::Log => "log",
            RunMode::Abort => "abort",
        })
    }
}

/// Where things are.
#[derive(Clone, Debug)]
pub struct Setup {
    pub lib: PathBuf,
    pub apps: PathBuf,
    /// Prepended to LD_LIBRARY_PATH (fakecuda's folder), if any.
    pub library_path: Option<PathBuf>,
    /// Appended to PINGUARD_OPTIONS (e.g. `verify_with_driver=1`).
    pub extra_options: Option<String>,
    /// Extra environment for every program run (e.g. fakecuda's test-only switches).
    pub extra_env: Vec<(String, String)>,
    /// Where each run's report folder is made.
    pub reports: PathBuf,
}

/// A finished run of one app.
pub struct Run {
    /// The child's process id, as the OS gave it.
    pub pid: u32,
    pub output: Output,
    /// The `[key=value]` tails of the finding lines on stderr.
    pub records: Vec<BTreeMap<String, String>>,
    /// The summary line on stderr (the first, if several processes wrote one).
    pub summary: Option<SummaryLine>,
    /// Every summary line on stderr, in order (one per process that wrote one).
    pub summaries: Vec<SummaryLine>,
    /// The run was killed for outlasting its timeout.
    pub timed_out: bool,
    /// For a run killed so: what its threads were doing, scanned just before the kill
    /// ([`hang::scan_stacks`]; `None` where no scan could be made).
    pub hang_stacks: Option<String>,
    /// The JSON Lines reports the run's processes wrote.
    pub report: merge::Run,
    pub report_dir: PathBuf,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs a program under pinguard with extra environment.
pub fn run_program(setup: &Setup, program: &Path, env: &[(&str, &str)]) -> std::io::Result<Run> {
    run_with(setup, program, &[], env, true, None)
}

/// Runs a program the same way, but without pinguard: the baseline.
pub fn run_bare(setup: &Setup, program: &Path) -> std::io::Result<Run> {
    run_with(setup, program, &[], &[], false, None)
}

/// How one run is made.
#[derive(Clone, Copy, Debug)]
pub struct Launch<'a> {
    pub args: &'a [&'a str],
    pub env: &'a [(&'a str, &'a str)],
    /// Without pinguard: the baseline.
    pub bare: bool,
    /// Killed (with its whole process group) after this long: a hang.
    pub timeout: Option<std::time::Duration>,
}

/// Runs a program as `launch` says.
pub fn launch(setup: &Setup, program: &Path, launch: Launch<'_>) -> std::io::Result<Run> {
    run_with(setup, program, launch.args, launch.env, !launch.bare, launch.timeout)
}

fn run_with(
    setup: &Setup,
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    guarded: bool,
    timeout: Option<std::time::Duration>,
) -> std::io::Result<Run> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if guarded {
        cmd.env("LD_PRELOAD", &setup.lib);
    } else {
        cmd.env_remove("LD_PRELOAD");
    }
    if let Some(dir) = &setup.library_path {
        let old = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
        cmd.env("LD_LIBRARY_PATH", format!("{}:{old}", dir.display()));
    }
    cmd.env_remove("PINGUARD_OPTIONS");
    for (k, v) in &setup.extra_env {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Every run reports into a folder of its own (the program's options come first; a
    // log_path they set wins).
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let report_dir = setup.reports.join(format!("run-{}-{}", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&report_dir);
    std::fs::create_dir_all(&report_dir)?;
    if guarded {
        let given = env.iter().find(|(k, _)| *k == "PINGUARD_OPTIONS").map(|(_, v)| v.to_string()).unwrap_or_default();
        let log = format!("log_path=\"{}/pinguard.%p.jsonl\"", report_dir.display());
        let options = if given.is_empty() { log } else { format!("{log}:{given}") };
        cmd.env("PINGUARD_OPTIONS", options);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // A group of its own, so that a hang is ended with every process it started.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    // Drain both pipes while waiting: a chatty child must never block on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out_reader = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let err_reader = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let started = std::time::Instant::now();
    let mut timed_out = false;
    let mut hang_stacks = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if timeout.is_some_and(|limit| started.elapsed() > limit) {
            hang_stacks = hang::scan_stacks(pid);
            // SAFETY: kill(2) of the child's own process group; no memory involved.
            unsafe { kill(-(pid as i32), 9) };
            timed_out = true;
            break child.wait()?;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let output =
        Output { status, stdout: out_reader.join().unwrap_or_default(), stderr: err_reader.join().unwrap_or_default() };
    let text = String::from_utf8_lossy(&output.stderr);
    let records = text.lines().filter_map(parse_record).collect();
    let summary = text.lines().find_map(SummaryLine::parse);
    let report = merge::run(std::slice::from_ref(&report_dir)).map_err(|e| std::io::Error::other(e.to_string()))?;
    let summaries = text.lines().filter_map(SummaryLine::parse).collect();
    Ok(Run { pid, output, records, summary, summaries, report, report_dir, timed_out, hang_stacks })
}

/// What a report shows for one (verdict, direction): copies, bytes in all, the smallest
/// and the largest copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub count: u64,
    pub bytes_total: u64,
    pub bytes_min: u64,
    pub bytes_max: u64,
}

type Groups = BTreeMap<(String, String), Group>;

fn add(groups: &mut Groups, verdict: &str, dir: &str, count: u64, total: u64, min: u64, max: u64) {
    let g = groups
        .entry((verdict.to_string(), dir.to_string()))
        .or_insert(Group { bytes_min: u64::MAX, ..Group::default() });
    g.count += count;
    g.bytes_total += total;
    g.bytes_min = g.bytes_min.min(min);
    g.bytes_max = g.bytes_max.max(max);
}

/// The report's sites (suppressed ones left out), grouped.
pub fn found_groups(report: &merge::Run) -> Groups {
    let mut groups = Groups::new();
    for s in report.sites().iter().filter(|s| !s.suppressed && s.totals.count > 0) {
        add(
            &mut groups,
            s.kind.name(),
            &s.dir,
            s.totals.count,
            s.totals.bytes_total,
            s.totals.bytes_min,
            s.totals.bytes_max,
        );
    }
    groups
}

/// The manifest's expectations, grouped the same way.
pub fn expected_groups(expected: &[Expected]) -> Groups {
    let mut groups = Groups::new();
    for e in expected {
        add(&mut groups, &e.verdict, &e.dir, e.count as u64, e.bytes * e.count as u64, e.bytes, e.bytes);
    }
    groups
}

fn show(m: &Groups) -> String {
    m.iter()
        .map(|((v, d), g)| {
            format!("{v}:{d} count={} bytes={} min={} max={}", g.count, g.bytes_total, g.bytes_min, g.bytes_max)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn key(r: &BTreeMap<String, String>) -> (String, String, u64) {
    let get = |k: &str| r.get(k).cloned().unwrap_or_default();
    (get("verdict"), get("dir"), get("bytes").parse().unwrap_or(u64::MAX))
}

/// Runs one case in one build and mode; `Err` says what differed.
pub fn check_case(setup: &Setup, case: &Case, build: &str, mode: RunMode) -> Result<(), String> {
    check_case_counted(setup, case, build, mode).map(|_| ())
}

/// As [`check_case`], returning the run's exit summary when it printed one.
pub fn check_case_counted(
    setup: &Setup,
    case: &Case,
    build: &str,
    mode: RunMode,
) -> Result<Option<SummaryLine>, String> {
    let program = setup.apps.join(build).join(&case.app);
    let mut options = format!("mode={mode}");
    if let Some(extra) = &setup.extra_options {
        options = format!("{options}:{extra}");
    }
    let run = run_program(setup, &program, &[("PINGUARD_OPTIONS", &options)])
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let status = run.output.status;
    let got = found_groups(&run.report);
    let context = || format!("\n--- stderr ---\n{}", run.stderr());
    // The fate without pinguard, for same-fate cases: exit code and signal must match.
    let baseline = if case.same_fate {
        let bare = run_bare(setup, &program).map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let fate = |s: std::process::ExitStatus| (s.code(), s.signal());
        if fate(bare.output.status) != fate(status) {
            return Err(format!("ended with {status}, but {} without pinguard{}", bare.output.status, context()));
        }
        Some(bare.output.status)
    } else {
        None
    };
    let ends_as_expected = |s: std::process::ExitStatus| baseline.map_or(s.success(), |b| b == s);
    match mode {
        RunMode::Log => {
            if !ends_as_expected(status) {
                return Err(format!("exited with {status}{}", context()));
            }
            let want = expected_groups(&case.expected);
            if got != want {
                return Err(format!("report [{}], expected [{}]{}", show(&got), show(&want), context()));
            }
            check_no_disagreement(&run).map_err(|why| format!("{why}{}", context()))?;
            for (k, v) in &case.summary {
                if run.summary.is_none() && case.same_fate && status.signal().is_some() {
                    // Killed inside CUDA before the exit summary: the per-kind note must be there.
                    if k == "unclassified" && !run.stderr().contains("no verdict for a copy") {
                        return Err(format!("no 'no verdict' note before the crash{}", context()));
                    }
                    continue;
                }
                let actual = match run.summary.as_ref() {
                    None => "(no summary)".to_string(),
                    Some(s) => s.counts.get(k).map(|n| n.to_string()).unwrap_or_else(|| format!("(no counter {k})")),
                };
                if &actual != v {
                    return Err(format!("summary {k}={actual}, expected {v}{}", context()));
                }
            }
        }
        RunMode::Abort => {
            if !case.has_finding() {
                if !ends_as_expected(status) {
                    return Err(format!("no finding expected, but exited with {status}{}", context()));
                }
                return Ok(run.summary);
            }
            if status.signal() != Some(SIGABRT) {
                return Err(format!("expected death by SIGABRT, got {status}{}", context()));
            }
            let findings: Vec<_> =
                run.records.iter().filter(|r| r.get("verdict").is_some_and(|v| v != "allowed")).collect();
            if findings.len() != 1 {
                return Err(format!(
                    "expected exactly one finding before the abort, got {}{}",
                    findings.len(),
                    context()
                ));
            }
            let (v, d, b) = key(findings[0]);
            if !case.expected.iter().any(|e| e.verdict == v && e.dir == d && e.bytes == b) {
                return Err(format!("abort finding {v}:{d}:{b} is not in the manifest{}", context()));
            }
            if findings[0].get("result").map(String::as_str) != Some("aborted") {
                return Err(format!("abort line does not say result=aborted{}", context()));
            }
        }
    }
    Ok(run.summary)
}

/// The differential self-check (`verify_with_driver=1`): any disagreement line, or a
/// nonzero count in the summary, fails the run. Checked on every log-mode run: with the
/// setting off, pinguard prints neither.
pub fn check_no_disagreement(run: &Run) -> Result<(), String> {
    let stderr = run.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("disagreement=")).collect();
    if !lines.is_empty() {
        return Err(format!("{} verdicts the driver disagreed with: {}", lines.len(), lines[0]));
    }
    match run.summary {
        Some(s) if s.counts.disagreements != 0 => {
            Err(format!("the summary counts {} verdicts the driver disagreed with", s.counts.disagreements))
        }
        _ => Ok(()),
    }
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// SIGABRT on Linux.
const SIGABRT: i32 = 6;

/// Outcome of a whole manifest run.
#[derive(Default)]
pub struct Tally {
    pub passed: usize,
    pub failures: Vec<String>,
    /// Summed over every run's exit summary: copies checked and, with
    /// verify_with_driver, the disagreements found (what a "0 disagreements" covers).
    pub checked: u64,
    pub disagreements: u64,
}

/// Runs every case of the manifest in the given builds and modes.
pub fn run_manifest(
    setup: &Setup,
    cases: &[Case],
    builds: &[&str],
    modes: &[RunMode],
    mut progress: impl FnMut(&str),
) -> Tally {
    let mut tally = Tally::default();
    for mode in modes {
        for build in builds {
            for case in cases.iter().filter(|c| c.builds.iter().any(|b| b == build)) {
                let name = format!("{build}/{} ({mode})", case.app);
                match check_case_counted(setup, case, build, *mode) {
                    Ok(summary) => {
                        tally.passed += 1;
                        if let Some(s) = summary {
                            tally.checked += s.counts.checked;
                            tally.disagreements += s.counts.disagreements;
                        }
                        progress(&format!("PASS {name}"));
                    }
                    Err(why) => {
                        progress(&format!("FAIL {name}: {why}"));
                        tally.failures.push(format!("{name}: {why}"));
                    }
                }
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines() {
        let cases =
            parse_manifest("# c\n\na all pageable:H2D:16:2 allowed:H2D:8:1 pinned_unseen=1\nb driver,dlsym -\n")
                .unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].builds.len(), 4);
        assert_eq!(
            cases[0].expected[0],
            Expected { verdict: "pageable".into(), dir: "H2D".into(), bytes: 16, count: 2 }
        );
        assert_eq!(cases[0].summary, vec![("pinned_unseen".to_string(), "1".to_string())]);
        assert!(cases[0].has_finding());
        assert_eq!(cases[1].builds, vec!["driver", "dlsym"]);
        assert!(!cases[1].has_finding());
        assert!(parse_manifest("a all pageable:H2D:x:1").is_err());
        assert!(parse_manifest("a all pageable:H2D").is_err());
    }

    /// A run killed for outlasting its timeout comes back with its threads scanned before
    /// the kill: here a shell's `sleep`, blocked in a system call.
    #[test]
    fn a_hung_run_is_scanned_before_it_is_killed() {
        let reports = std::env::temp_dir().join(format!("pinguard-hang-scan-{}", std::process::id()));
        let setup = Setup {
            lib: PathBuf::from("/nonexistent/libpinguard.so"),
            apps: PathBuf::from("/"),
            library_path: None,
            extra_options: None,
            extra_env: Vec::new(),
            reports: reports.clone(),
        };
        let l = Launch { args: &["30"], env: &[], bare: true, timeout: Some(std::time::Duration::from_millis(300)) };
        let r = launch(&setup, Path::new("/bin/sleep"), l).unwrap();
        let _ = std::fs::remove_dir_all(&reports);
        assert!(r.timed_out);
        let scan = r.hang_stacks.expect("a scan of the hung run");
        assert!(scan.lines().any(|l| l.starts_with("-- tid ") && l.contains(" S syscall=")), "{scan}");
        assert!(scan.contains("libc.so"), "{scan}");
    }

    #[test]
    fn the_real_manifest_parses() {
        let text = include_str!("../../apps/manifest.txt");
        let cases = parse_manifest(text).unwrap();
        assert!(cases.len() >= 20);
        for c in &cases {
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps").join(format!("{}.cpp", c.app)).exists(),
                "{}",
                c.app
            );
        }
    }
}
