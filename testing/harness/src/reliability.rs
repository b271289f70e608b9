//! The reliability scenarios: pinguard left on under fork, exec, signals, exit and
//! stress must not hang, must not change how the program ends, and must account exactly.
//! Each scenario runs a program of `testing/apps/reliability/` (built with the runtime
//! linked dynamically and statically) and checks what it said and wrote. The cargo tests
//! run them against fakecuda; `pinguard-manifest-run --reliability` on the GPU machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::{Launch, Run, Setup, Tally, hang, launch};

/// How hard to push: `Quick` for a developer's loop, `Full` for CI and the GPU suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Quick,
    Full,
}

impl Scale {
    fn pick(self, quick: usize, full: usize) -> usize {
        match self {
            Scale::Quick => quick,
            Scale::Full => full,
        }
    }
}

/// One scenario: a name and a check that runs its program (in one build) and says why
/// it failed, or what it saw.
pub struct Scenario {
    pub name: &'static str,
    pub check: fn(&Setup, &Path, Scale) -> Result<String, String>,
}

/// Every scenario.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario { name: "sigterm_exit", check: sigterm_exit },
        Scenario { name: "fork_init", check: fork_init },
        Scenario { name: "fork_counts", check: fork_counts },
        Scenario { name: "teardown", check: teardown },
        Scenario { name: "teardown_thread", check: teardown_thread },
        Scenario { name: "stderr_reuse", check: stderr_reuse },
        Scenario { name: "unregister_race", check: unregister_race },
        Scenario { name: "way_out", check: way_out },
        Scenario { name: "spawner", check: spawner },
        Scenario { name: "stress", check: stress },
        Scenario { name: "fork_finding", check: fork_finding },
        Scenario { name: "small_stack", check: small_stack },
        Scenario { name: "stack_share", check: stack_share },
        Scenario { name: "signal_copy", check: signal_copy },
        Scenario { name: "raw_fork", check: raw_fork },
        Scenario { name: "late_destructor", check: late_destructor },
        Scenario { name: "stderr_early", check: stderr_early },
        Scenario { name: "out_of_memory", check: out_of_memory },
    ]
}

/// Runs every scenario (or those named in `only`) in each build.
pub fn run_all(setup: &Setup, builds: &[&str], scale: Scale, only: &[String], mut progress: impl FnMut(&str)) -> Tally {
    let mut tally = Tally::default();
    for build in builds {
        for s in scenarios().into_iter().filter(|s| only.is_empty() || only.iter().any(|o| o == s.name)) {
            let apps = setup.apps.join("reliability").join(build);
            let name = format!("reliability/{build}/{}", s.name);
            match (s.check)(setup, &apps, scale) {
                Ok(what) => {
                    tally.passed += 1;
                    progress(&format!("PASS {name}: {what}"));
                }
                Err(why) => {
                    progress(&format!("FAIL {name}: {why}"));
                    tally.failures.push(format!("{name}: {why}"));
                }
            }
        }
    }
    tally
}

fn run(
    setup: &Setup,
    apps: &Path,
    app: &str,
    args: &[&str],
    env: &[(&str, &str)],
    timeout_s: u64,
) -> Result<Run, String> {
    let r = run_even_hung(setup, apps, app, args, env, timeout_s)?;
    if r.timed_out {
        return Err(hung(&r, timeout_s));
    }
    Ok(r)
}

/// [`run`], but a run killed for outlasting `timeout_s` comes back too, for the caller
/// to judge (`timed_out`, `hang_stacks`).
fn run_even_hung(
    setup: &Setup,
    apps: &Path,
    app: &str,
    args: &[&str],
    env: &[(&str, &str)],
    timeout_s: u64,
) -> Result<Run, String> {
    let program = apps.join(app);
    let l = Launch { args, env, bare: false, timeout: Some(Duration::from_secs(timeout_s)) };
    launch(setup, &program, l).map_err(|e| format!("cannot run {}: {e}", program.display()))
}

/// A hang's failure message: pinguard's last lines and what the threads were doing.
fn hung(r: &Run, timeout_s: u64) -> String {
    let stacks = r
        .hang_stacks
        .as_deref()
        .map_or("(no scan: testing/harness/stack-scan.py or python3 missing)\n".to_string(), |s| {
            s.lines().take(200).map(|l| format!("{l}\n")).collect()
        });
    format!("hung: killed after {timeout_s} s{}\n--- threads (testing/harness/stack-scan.py) ---\n{stacks}", tail(r))
}

fn tail(r: &Run) -> String {
    let s = r.stderr();
    let lines: Vec<&str> = s.lines().collect();
    let last = lines.len().saturating_sub(12);
    // A crash's whole stack, even where it is longer than the tail: the frame that died
    // comes first.
    let crash: Vec<&str> =
        lines[..last].iter().copied().filter(|l| l.starts_with("reliability: crash frame #")).collect();
    let mut out = String::from("\n--- stderr (last lines) ---\n");
    if !crash.is_empty() {
        out += &crash.join("\n");
        out += "\n";
    }
    out += &lines[last..].join("\n");
    out
}

/// The summary comes last: no finding line after the first summary line.
fn summary_is_last(r: &Run) -> Result<(), String> {
    let s = r.stderr();
    let lines: Vec<&str> = s.lines().collect();
    let Some(at) = lines.iter().position(|l| l.starts_with("pinguard: summary (")) else {
        return Ok(());
    };
    if let Some(late) = lines[at..].iter().find(|l| l.contains("[verdict=")) {
        return Err(format!("a finding after the summary: {late}{}", tail(r)));
    }
    Ok(())
}

/// Every line a whole record, and every summary in step with its own process's records
/// (a killed process may lack its summary: these scenarios kill some on purpose).
fn report_valid(r: &Run) -> Result<(), String> {
    use pinguard_report::read::ProblemKind;
    let bad: Vec<String> =
        r.report.problems.iter().filter(|p| p.kind != ProblemKind::NoSummary).map(|p| p.text()).collect();
    if !bad.is_empty() {
        return Err(format!("the report is not whole (in {}): {}", r.report_dir.display(), bad.join("; ")));
    }
    Ok(())
}

/// A forked child (no exec) makes CUDA calls. fakecuda lets it, so it must report
/// exactly `want`. A real driver refuses CUDA in a forked child, and a static runtime
/// refuses such calls before they reach the driver: then pinguard sees none and the child
/// rightly reports nothing. What it may never report is the parent's counts.
fn fork_child_ok(setup: &Setup, got: Option<u64>, want: u64) -> bool {
    got == Some(want) || (got.is_none() && !on_fakecuda(setup))
}

fn pageable_by_pid(r: &Run) -> BTreeMap<u32, u64> {
    r.summaries.iter().map(|s| (s.pid, s.counts.pageable)).collect()
}

/// A SIGTERM handler that calls exit() interrupts a thread at a random moment: no hang.
fn sigterm_exit(setup: &Setup, apps: &Path, scale: Scale) -> Result<String, String> {
    let runs = scale.pick(30, 200);
    let mut crashes = CudaCrashes::default();
    for i in 0..runs {
        let r = run_even_hung(setup, apps, "sigterm_exit", &["4"], &[], 20).map_err(|e| format!("run {i}: {e}"))?;
        if r.timed_out {
            if crashes.admit_hang(setup, &r) {
                continue;
            }
            return Err(format!("run {i}: {}", hung(&r, 20)));
        }
        if r.output.status.code() != Some(0) && !crashes.admit(setup, &r) {
            return Err(format!("run {i}: ended with {}{}", r.output.status, tail(&r)));
        }
        if r.summaries.len() > 1 {
            return Err(format!("run {i}: {} summaries", r.summaries.len()));
        }
        summary_is_last(&r).and_then(|_| report_valid(&r)).map_err(|e| format!("run {i}: {e}"))?;
    }
    Ok(format!("{runs} runs, none hung in pinguard{}", crashes.compare(setup, apps, "sigterm_exit", &["4"], runs)?))
}

/// Crashes of a real CUDA runtime that a scenario may meet: a thread still calling CUDA
/// while `exit` tears the runtime down can die inside CUDA, with or without pinguard, and
/// so can a CUDA call from a signal handler (CUDA promises no async-signal safety). Such
/// a crash is admitted only off fakecuda (which never tears down), and only when the
/// program's crash reporter (testing/apps/reliability/common.h) shows no pinguard frame on
/// the crashing stack; then the same program runs as often without pinguard, and both
/// counts are reported side by side.
///
/// Likewise a hang that the scan of its threads shows to be the CUDA runtime waiting for
/// itself at exit ([`hang::runtime_exit_deadlock`]: the program's signal handler called
/// `exit` while the runtime held its own lock). That one is proven by the stack, not by a
/// rate: it is admitted and reported beside the runs without pinguard, never a failure.
#[derive(Default)]
struct CudaCrashes {
    runs_crashed: usize,
    places: BTreeMap<String, usize>,
    runs_hung: usize,
    hang_places: BTreeMap<String, usize>,
}

impl CudaCrashes {
    fn admit(&mut self, setup: &Setup, r: &Run) -> bool {
        use std::os::unix::process::ExitStatusExt;
        if on_fakecuda(setup) || r.output.status.signal().is_none() {
            return false;
        }
        let Some(place) = crash_outside_pinguard(&r.stderr()) else {
            return false;
        };
        *self.places.entry(place).or_default() += 1;
        self.runs_crashed += 1;
        true
    }

    /// A hang admitted when its scan shows the CUDA runtime's own deadlock at exit.
    fn admit_hang(&mut self, setup: &Setup, r: &Run) -> bool {
        if on_fakecuda(setup) {
            return false;
        }
        let Some(place) = r.hang_stacks.as_deref().and_then(hang::runtime_exit_deadlock) else {
            return false;
        };
        *self.hang_places.entry(place).or_default() += 1;
        self.runs_hung += 1;
        true
    }

    /// Runs the program twice as often without pinguard. A crash seen twice or more with
    /// pinguard and never without it is pinguard's after all: an error.
    fn compare(&self, setup: &Setup, apps: &Path, app: &str, args: &[&str], runs: usize) -> Result<String, String> {
        if self.runs_crashed == 0 && self.runs_hung == 0 {
            return Ok(String::new());
        }
        let program = apps.join(app);
        let bare_runs = 2 * runs;
        let (mut bare_crashed, mut bare_hung) = (0, 0);
        for _ in 0..bare_runs {
            let l = Launch { args, env: &[], bare: true, timeout: Some(Duration::from_secs(20)) };
            let r = launch(setup, &program, l).map_err(|e| format!("cannot run {}: {e}", program.display()))?;
            if r.timed_out {
                bare_hung += 1;
            } else if r.output.status.code() != Some(0) {
                bare_crashed += 1;
            }
        }
        let mut what = format!(
            "{} of {runs} runs died outside pinguard, no pinguard frame on the crashing stack ({:?})",
            self.runs_crashed, self.places
        );
        if self.runs_hung > 0 {
            what += &format!(
                ", {} hung in the CUDA runtime's own lock at exit, no pinguard frame in the wait ({:?})",
                self.runs_hung, self.hang_places
            );
        }
        what += &format!("; without pinguard {bare_crashed} of {bare_runs} crashed and {bare_hung} hung");
        if self.runs_crashed >= 2 && bare_crashed + bare_hung == 0 {
            return Err(format!("crashes only with pinguard: {what}"));
        }
        Ok(format!("; {what}"))
    }
}

/// The module a crash died in, from the crash reporter's lines, when no frame of the
/// crashing stack is pinguard's; `None` when one is, or when there are no such lines.
fn crash_outside_pinguard(stderr: &str) -> Option<String> {
    let frames: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("reliability: crash frame #")).collect();
    if frames.is_empty() || frames.iter().any(|f| f.contains("libpinguard")) {
        return None;
    }
    // Frame 0 is the handler and frame 1 the signal return; the third is where it died.
    Some(frames.get(2).map(|f| crash_module(f)).unwrap_or("?").to_string())
}

/// `#2: /usr/lib/libcuda.so.1+0x1234 (signal 11)` -> `libcuda.so.1`.
fn crash_module(frame: &str) -> &str {
    let module = frame.split(": ").nth(1).unwrap_or(frame);
    let module = module.split('+').next().unwrap_or(module);
    module.rsplit('/').next().unwrap_or(module)
}

/// A statically linked CUDA runtime on a real driver answers some calls itself and never
/// passes them to the driver, where pinguard watches it: a copy after its own teardown
/// has run at exit, every call in a forked child, an empty copy. fakecuda's static
/// runtime passes everything on, so there the counts stay exact.
fn static_runtime_on_real_driver(setup: &Setup, apps: &Path) -> bool {
    !on_fakecuda(setup) && apps.ends_with("static")
}

fn on_fakecuda(setup: &Setup) -> bool {
    setup.library_path.as_ref().is_some_and(|p| p.ends_with("fakecuda"))
}

/// A child forked while pinguard initialises makes CUDA calls of its own: no hang.
fn fork_init(setup: &Setup, apps: &Path, scale: Scale) -> Result<String, String> {
    // A long string of bad entries makes initialisation slow (and its messages capped).
    let options = vec!["x=1"; 20_000].join(":");
    let runs = scale.pick(10, 30);
    for i in 0..runs {
        let r = run(setup, apps, "fork_init", &[], &[("PINGUARD_OPTIONS", &options)], 30)
            .map_err(|e| format!("run {i}: {e}"))?;
        if r.output.status.code() != Some(0) {
            return Err(format!("run {i}: ended with {}{}", r.output.status, tail(&r)));
        }
        let notes = r.stderr().lines().filter(|l| l.contains("PINGUARD_OPTIONS")).count();
        if notes > 2 * 9 {
            return Err(format!("run {i}: {notes} lines about the options: not capped"));
        }
    }
    Ok(format!("{runs} runs, no child hung"))
}

/// A forked child's summary and report are its own.
fn fork_counts(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let r = run(setup, apps, "fork_counts", &[], &[], 60)?;
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    let by_pid = pageable_by_pid(&r);
    let parent = by_pid.get(&r.pid).copied();
    let children: Vec<u64> = by_pid.iter().filter(|(p, _)| **p != r.pid).map(|(_, n)| *n).collect();
    // A real driver refuses CUDA in a forked child; a static runtime refuses it before
    // the driver, so pinguard sees nothing there and the child is silent too.
    let child_silent_ok = static_runtime_on_real_driver(setup, apps) && children.is_empty();
    let want_summaries = if child_silent_ok { 1 } else { 2 };
    if parent != Some(101) || !(children == vec![7] || child_silent_ok) || r.summaries.len() != want_summaries {
        return Err(format!(
            "summaries by pid {by_pid:?} (parent {}): expected the parent 101, one child 7, the other silent{}",
            r.pid,
            tail(&r)
        ));
    }
    report_valid(&r)?;
    let mut reported: Vec<(u32, u64)> = r
        .report
        .processes
        .iter()
        .map(|p| (p.pid, p.summary.as_ref().and_then(|s| s.counts.get("pageable")).unwrap_or(u64::MAX)))
        .collect();
    reported.sort();
    if reported.len() != want_summaries
        || !reported.iter().any(|&(p, n)| p == r.pid && n == 101)
        || !(child_silent_ok || reported.iter().any(|&(p, n)| p != r.pid && n == 7))
    {
        return Err(format!("reports by pid {reported:?}: expected the parent's (101) and one child's (7)"));
    }
    if child_silent_ok {
        return Ok("parent 101; the static runtime refused the children's calls before the driver: both silent".into());
    }
    Ok("parent 101, child 7, silent child silent; one report each".into())
}

/// Copies in a static destructor and a late atexit handler are counted; the summary last.
fn teardown(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let r = run(setup, apps, "teardown", &[], &[], 60)?;
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    summary_is_last(&r)?;
    report_valid(&r)?;
    // The static destructor's copy comes after a static runtime's own teardown (its
    // atexit handler, registered at its first call, runs first): the runtime refuses it
    // without calling the driver, so on a real driver pinguard sees 2.
    let want = if static_runtime_on_real_driver(setup, apps) { 2 } else { 3 };
    match r.summaries.as_slice() {
        [s] if s.counts.pageable == want && s.sites == want => {}
        other => {
            return Err(format!(
                "summaries {other:?}: expected one counting {want} pageable copies at {want} sites{}",
                tail(&r)
            ));
        }
    }
    let p = r.report.processes.first().ok_or("no report")?;
    let last = p.summary.as_ref().ok_or("the report has no summary")?;
    if last.counts.get("pageable") != Some(want) || p.sites.len() as u64 != want {
        return Err(format!("report: {} sites, summary {:?}", p.sites.len(), last.counts));
    }
    Ok(format!("{want} late copies counted, summary last"))
}

/// A thread still copying at new sites when main returns: the summary is said once, last.
fn teardown_thread(setup: &Setup, apps: &Path, scale: Scale) -> Result<String, String> {
    let runs = scale.pick(10, 50);
    let mut crashes = CudaCrashes::default();
    for i in 0..runs {
        // Every other run, a new site's build outlasts the summary's wait for report lines
        // under way, as symbolising a large program's first site can, and ends while the
        // summary is being written (`test_only_slow_exit`, honoured by debug builds of
        // pinguard only).
        let env: &[(&str, &str)] = if i % 2 == 1 { &[("PINGUARD_OPTIONS", "test_only_slow_exit=1")] } else { &[] };
        let r = run(setup, apps, "teardown_thread", &[], env, 20).map_err(|e| format!("run {i}: {e}"))?;
        if !r.output.status.success() && !crashes.admit(setup, &r) {
            return Err(format!("run {i}: ended with {}{}", r.output.status, tail(&r)));
        }
        if r.summaries.len() > 1 {
            return Err(format!("run {i}: {} summaries", r.summaries.len()));
        }
        summary_is_last(&r).and_then(|_| report_valid(&r)).map_err(|e| format!("run {i}: {e}"))?;
        // Everything the report counted, the summary counted (and no more).
        if let (Some(s), Some(p)) = (r.summaries.first(), r.report.processes.first()) {
            let sites: u64 = p.totals.values().filter(|t| t.last).map(|t| t.count).sum();
            if sites != s.counts.pageable {
                return Err(format!("run {i}: the report's sites count {sites}, the summary {}", s.counts.pageable));
            }
        }
    }
    Ok(format!("{runs} runs, one summary each, last{}", crashes.compare(setup, apps, "teardown_thread", &[], runs)?))
}

/// A program that closes stderr and opens a data file: pinguard's line stays out of it.
fn stderr_reuse(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let data = std::env::temp_dir().join(format!("pinguard-stderr-reuse-{}.txt", std::process::id()));
    let arg = data.to_string_lossy().into_owned();
    let r = run(setup, apps, "stderr_reuse", &[&arg], &[], 60)?;
    let content = std::fs::read_to_string(&data).unwrap_or_default();
    let _ = std::fs::remove_file(&data);
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    if content != "DATA\n" {
        return Err(format!("the data file holds {content:?}, not the program's own line"));
    }
    if r.records.len() != 1 {
        return Err(format!(
            "the finding should still reach the original stderr: {} finding lines{}",
            r.records.len(),
            tail(&r)
        ));
    }
    Ok("the data file is the program's alone; the finding went to the original stderr".into())
}

/// Concurrent releases of one registration (one refused): every later copy is found.
fn unregister_race(setup: &Setup, apps: &Path, scale: Scale) -> Result<String, String> {
    let n = scale.pick(2000, 20_000);
    let r = run(setup, apps, "unregister_race", &[&n.to_string()], &[], 300)?;
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    let got = r.summary.map(|s| s.counts.pageable);
    if got != Some(n as u64) {
        return Err(format!("{got:?} pageable copies reported of {n}{}", tail(&r)));
    }
    Ok(format!("{n} of {n} found"))
}

/// Every way out: at most one summary, last, counting all three copies; the report
/// valid; the same end as without pinguard; no hang.
fn way_out(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let modes = ["return", "exit_thread", "_exit", "abort", "sigterm", "sigterm_handler", "sigint", "crash"];
    let mut seen = Vec::new();
    for mode in modes {
        let r = run(setup, apps, "way_out", &[mode], &[], 60).map_err(|e| format!("{mode}: {e}"))?;
        let program = apps.join("way_out");
        let bare = launch(
            setup,
            &program,
            Launch { args: &[mode], env: &[], bare: true, timeout: Some(Duration::from_secs(60)) },
        )
        .map_err(|e| e.to_string())?;
        use std::os::unix::process::ExitStatusExt;
        let fate = |s: std::process::ExitStatus| (s.code(), s.signal());
        if fate(r.output.status) != fate(bare.output.status) {
            return Err(format!("{mode}: ended with {}, without pinguard {}", r.output.status, bare.output.status));
        }
        let summarised = ["return", "exit_thread", "sigterm_handler"].contains(&mode);
        match (summarised, r.summaries.as_slice()) {
            (true, [s]) if s.counts.pageable == 3 => {}
            (false, []) => {}
            (_, other) => return Err(format!("{mode}: summaries {other:?}{}", tail(&r))),
        }
        summary_is_last(&r).and_then(|_| report_valid(&r)).map_err(|e| format!("{mode}: {e}"))?;
        let sites = r.report.processes.first().map(|p| p.sites.len()).unwrap_or(0);
        if sites != 3 {
            return Err(format!("{mode}: the report holds {sites} sites, expected 3"));
        }
        seen.push(format!("{mode}: {}", if summarised { "summary" } else { "no summary" }));
    }
    Ok(seen.join(", "))
}

/// fork, posix_spawn, vfork + exec, system: every child reports its own copies only.
fn spawner(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let r = run(setup, apps, "spawner", &[], &[], 120)?;
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    let by_pid = pageable_by_pid(&r);
    let mut counts: Vec<u64> = by_pid.values().copied().collect();
    counts.sort();
    // The forked child (3 copies) may be silent where the real driver refuses it.
    let forked = counts.contains(&3);
    let want: Vec<u64> = if forked { vec![2, 3, 4, 5, 6] } else { vec![2, 4, 5, 6] };
    if by_pid.get(&r.pid) != Some(&2)
        || counts != want
        || r.summaries.len() != want.len()
        || !fork_child_ok(setup, forked.then_some(3), 3)
    {
        return Err(format!(
            "summaries by pid {by_pid:?} (parent {}): expected 2 (parent), 3 (forked child), 4, 5, 6{}",
            r.pid,
            tail(&r)
        ));
    }
    report_valid(&r)?;
    if r.report.processes.len() != want.len() {
        return Err(format!("{} reports, expected {}", r.report.processes.len(), want.len()));
    }
    let fork = if forked { "fork 3" } else { "fork refused by the driver" };
    Ok(format!("{fork}, posix_spawn 4, vfork+exec 5, system 6, parent 2"))
}

/// The copies of the stress app's cycle of 32 operations (`stress.cpp`): positions 2 to
/// 29 take the four kinds in turn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StressCopy {
    Pinned = 0,
    Pageable = 1,
    Straddling = 2,
    Empty = 3,
}

/// How many of one thread's `ops` operations are copies of `kind`.
fn stress_copies(ops: u64, kind: StressCopy) -> u64 {
    (2..30u64).filter(|at| (at - 2) % 4 == kind as u64).map(|at| ops / 32 + u64::from(at < ops % 32)).sum()
}

/// 16 threads of mixed operations with forks: exact counts, no hang.
fn stress(setup: &Setup, apps: &Path, scale: Scale) -> Result<String, String> {
    let threads = 16u64;
    let ops = scale.pick(100_000, 1_000_000) as u64;
    let fork_every = ops / 4;
    let args = [threads.to_string(), ops.to_string(), fork_every.to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(setup, apps, "stress", &args, &[], 900)?;
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    let parent =
        r.summaries.iter().find(|s| s.pid == r.pid).ok_or_else(|| format!("no summary of the parent{}", tail(&r)))?;
    let want = threads * stress_copies(ops, StressCopy::Pageable);
    // The empty copy: a static runtime on a real driver answers it itself.
    let mut kinds = vec![StressCopy::Pinned, StressCopy::Pageable, StressCopy::Straddling];
    if !static_runtime_on_real_driver(setup, apps) {
        kinds.push(StressCopy::Empty);
    }
    let checked: u64 = kinds.into_iter().map(|k| threads * stress_copies(ops, k)).sum();
    let c = parent.counts;
    if c.pageable != want || c.straddles != want || c.checked != checked {
        return Err(format!(
            "pageable {} straddles {} checked {}: expected {want}, {want}, {checked}",
            c.pageable, c.straddles, c.checked
        ));
    }
    let forks = (ops - 1) / fork_every;
    let children: Vec<u64> = r.summaries.iter().filter(|s| s.pid != r.pid).map(|s| s.counts.pageable).collect();
    let children_ok = if children.is_empty() {
        fork_child_ok(setup, None, 10)
    } else {
        children.len() as u64 == forks && children.iter().all(|&n| fork_child_ok(setup, Some(n), 10))
    };
    if !children_ok {
        return Err(format!("children's summaries {children:?}: expected {forks} of 10 each"));
    }
    report_valid(&r)?;
    Ok(format!("{threads} threads x {ops} ops: {want} pageable, {want} straddling, {forks} children of 10"))
}

// ---- issue 24: never take the program down ----------------------------------------------

/// Did this run's library ignore the tests' switches (`test_only_*`)? A release build
/// does, and says so; a scenario that needs one is then not applicable.
fn test_switches_ignored(r: &Run) -> bool {
    r.stderr().contains("switches for pinguard's own tests, honoured by its debug builds only")
}

fn stdout_line(r: &Run, prefix: &str) -> Option<String> {
    String::from_utf8_lossy(&r.output.stdout).lines().find(|l| l.starts_with(prefix)).map(str::to_string)
}

/// Forks while another thread takes its first finding at a new site (its unwind rules
/// read inside the loader's lock; a test build holds each lookup 20 ms there): no child
/// may hang on the lock its parent's thread held at the fork.
fn fork_finding(setup: &Setup, apps: &Path, scale: Scale) -> Result<String, String> {
    let rounds = scale.pick(20, 40);
    let r = run(
        setup,
        apps,
        "fork_finding",
        &[&rounds.to_string()],
        &[("PINGUARD_OPTIONS", "test_only_slow_rules=1")],
        300,
    )?;
    let line = stdout_line(&r, "fork_finding:").unwrap_or_default();
    if !r.output.status.success() || !line.ends_with(" 0 hung") {
        return Err(format!("ended with {}: {line}{}", r.output.status, tail(&r)));
    }
    Ok(format!(
        "{line} (the loader's lookups held {} in the lock)",
        if test_switches_ignored(&r) { "as long as they take" } else { "20 ms" }
    ))
}

/// Threads with stacks of 16 KiB to 256 KiB take findings at new sites: no overflow on
/// any stack the program runs on without pinguard with room for pinguard's share
/// ([`STACK_SHARE`], which `stack_share` holds it to); every copy counted (without a site
/// where too little stack was left).
fn small_stack(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let program = apps.join("small_stack");
    let tls_only = tls_only_preload(apps)?;
    let bare = |sizes: &[&str], env: &[(&str, &str)]| {
        launch(setup, &program, Launch { args: sizes, env, bare: true, timeout: Some(Duration::from_secs(60)) })
            .map_err(|e| format!("cannot run small_stack without pinguard: {e}"))
    };
    let runs = |r: &Run| r.output.status.success() && !String::from_utf8_lossy(&r.output.stdout).contains("refused");
    // How deep a thread on a painted stack of `size` KiB wrote, without pinguard.
    let used = |size: &str, env: &[(&str, &str)]| -> Result<Option<usize>, String> {
        Ok(high_water_marks(&bare(&["--high-water", size], env)?).first().map(|&(_, used)| used))
    };
    // The sizes CUDA itself runs on (a real driver needs more than fakecuda), with a
    // library of thread-locals alone preloaded (see tls_only.cpp: a page some runtimes'
    // TLS layout takes from every thread for any such library), with room to spare for
    // the share of a stack pinguard may take (STACK_SHARE for the build loaded: the
    // `stack_share` scenario holds pinguard to it): each tried alone without pinguard;
    // pinguard then gets exactly those.
    // Which build is loaded (a release build says it ignores a test switch): its share.
    let probe =
        run(setup, apps, "small_stack", &["256"], &[("PINGUARD_OPTIONS", "test_only_maps_left=1000000000")], 60)?;
    let share = if test_switches_ignored(&probe) { STACK_SHARE.0 } else { STACK_SHARE.1 };
    let mut sizes = Vec::new();
    let mut too_small = Vec::new();
    let mut tls_page = Vec::new();
    let mut tight = Vec::new();
    for size in ["16", "24", "36", "64", "128", "256"] {
        let tls = [("LD_PRELOAD", tls_only.as_str())];
        if runs(&bare(&[size], &tls)?) {
            let kib: usize = size.parse().unwrap_or(0);
            match used(size, &tls)? {
                Some(u) if (kib << 10).saturating_sub(u) < share => tight.push(size),
                _ => sizes.push(size),
            }
        } else if runs(&bare(&[size], &[])?) {
            tls_page.push(size);
        } else {
            too_small.push(size);
        }
    }
    if sizes.len() < 2 {
        return Err(format!("without pinguard only {sizes:?} KiB stacks ran; {too_small:?} KiB did not"));
    }
    let r = run(setup, apps, "small_stack", &sizes, &[], 60)?;
    let b = bare(&sizes, &[])?;
    if r.output.status.code() != b.output.status.code() || r.output.stdout != b.output.stdout {
        return Err(format!(
            "ended with {} and {:?}, without pinguard {} and {:?}{}",
            r.output.status,
            String::from_utf8_lossy(&r.output.stdout),
            b.output.status,
            String::from_utf8_lossy(&b.output.stdout),
            tail(&r)
        ));
    }
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    let made: u64 = String::from_utf8_lossy(&r.output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("small_stack: ")?.strip_suffix(" copies")?.parse().ok())
        .ok_or_else(|| format!("no count of copies on stdout{}", tail(&r)))?;
    let s = r.summary.ok_or_else(|| format!("no summary{}", tail(&r)))?;
    if s.counts.pageable != made {
        return Err(format!("{} of {made} copies counted{}", s.counts.pageable, tail(&r)));
    }
    report_valid(&r)?;
    let mut skipped = if too_small.is_empty() {
        String::new()
    } else {
        format!("; {too_small:?} KiB stacks left out: they fail without pinguard too")
    };
    if !tls_page.is_empty() {
        skipped.push_str(&format!(
            "; {tls_page:?} KiB stacks left out: they run without any preload but fail with a library of thread-locals alone"
        ));
    }
    if !tight.is_empty() {
        skipped.push_str(&format!(
            "; {tight:?} KiB stacks left out: CUDA leaves less than the {share} bytes pinguard may take of them"
        ));
    }
    Ok(format!(
        "stacks of {sizes:?} KiB: {made} of {made} counted, {} without a site (too little stack){skipped}",
        s.counts.unsited
    ))
}

/// `small_stack --high-water`'s marks: (stack KiB, bytes the thread used), one a size.
fn high_water_marks(r: &Run) -> Vec<(usize, usize)> {
    String::from_utf8_lossy(&r.output.stdout)
        .lines()
        .filter_map(|l| {
            let (kib, rest) = l.strip_prefix("small_stack: ")?.split_once(" KiB: used ")?;
            Some((kib.parse().ok()?, rest.strip_suffix(" bytes")?.parse().ok()?))
        })
        .collect()
}

/// The library of thread-locals alone (`testing/apps/reliability/lib/tls_only.cpp`) built
/// beside the scenarios: the baseline that tells glibc's TLS layout from pinguard.
fn tls_only_preload(apps: &Path) -> Result<String, String> {
    let lib = apps.join("libtls_only.so");
    if lib.exists() {
        Ok(lib.to_string_lossy().into_owned())
    } else {
        Err(format!("{} is missing: build the test apps (scripts/dev/build-test-apps.sh)", lib.display()))
    }
}

/// The most of a thread's stack pinguard may take where too little is left to name a site
/// (its static TLS, which glibc carves from every thread's stack, and its frames), in a
/// release build and in a debug one (whose frames are larger).
const STACK_SHARE: (usize, usize) = (3 << 10, 8 << 10);
/// The stack a release (debug) build demands before it walks a stack and names a site
/// (`REPORT_STACK` in the finding path): a site's walk must fit in it.
const REPORT_ROOM: (usize, usize) = (64 << 10, 192 << 10);

/// How much of a thread's stack pinguard takes: a thread on a stack the program maps and
/// paints makes findings at three new sites, with and without pinguard, and the program
/// says how deep the thread wrote. Measured against the program with a library of
/// thread-locals alone preloaded (`tls_only.cpp`): with CUDA 13's shared runtime, glibc's
/// TLS layout takes a page of every thread's stack for any preloaded library with
/// thread-locals, pinguard or not (`scripts/gpu/probe-tls-share.sh`). On a 48 KiB stack
/// (too small for a site) pinguard may add at most [`STACK_SHARE`] to that; on a 256 KiB
/// one (a site is named) its walk must fit the room it demanded.
fn stack_share(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let args = ["--high-water", "48", "256"];
    // fakecuda's calls run as deep as a real driver's (a real one ignores the switch), so
    // that pinguard's frames under them count as they do on a GPU.
    const DEEP_DRIVER: (&str, &str) = ("FAKECUDA_TEST_DRIVER_STACK", "16384");
    let used = |r: &Run| -> Result<Vec<(usize, usize)>, String> {
        let found = high_water_marks(r);
        if found.len() == 2 { Ok(found) } else { Err(format!("no high-water marks on stdout{}", tail(r))) }
    };
    let bare = launch(
        setup,
        &apps.join("small_stack"),
        Launch { args: &args, env: &[DEEP_DRIVER], bare: true, timeout: None },
    )
    .map_err(|e| format!("cannot run small_stack without pinguard: {e}"))?;
    let bare = used(&bare)?;
    // The same with a library of thread-locals alone preloaded: what any such library
    // costs (glibc's TLS layout), against which pinguard's own frames are measured.
    let tls_only = tls_only_preload(apps)?;
    let layout = launch(
        setup,
        &apps.join("small_stack"),
        Launch { args: &args, env: &[DEEP_DRIVER, ("LD_PRELOAD", &tls_only)], bare: true, timeout: None },
    )
    .map_err(|e| format!("cannot run small_stack with a library of thread-locals: {e}"))?;
    let layout = used(&layout)?;
    // A switch for pinguard's own tests, at a value that changes nothing: a release build
    // says it ignores it, which tells the build.
    let r = run(
        setup,
        apps,
        "small_stack",
        &args,
        &[("PINGUARD_OPTIONS", "test_only_maps_left=1000000000"), DEEP_DRIVER],
        60,
    )?;
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    let release = test_switches_ignored(&r);
    let (share, room) = if release { (STACK_SHARE.0, REPORT_ROOM.0) } else { (STACK_SHARE.1, REPORT_ROOM.1) };
    let with = used(&r)?;
    let extra = |i: usize| with[i].1.saturating_sub(layout[i].1);
    let build = if release { "release" } else { "debug" };
    let figures = format!(
        "{build} build: {} KiB stack: {} bytes without pinguard ({} with a library of thread-locals alone: +{} of TLS layout), {} with (+{}); {} KiB: {} with thread-locals alone, {} with pinguard (+{})",
        bare[0].0,
        bare[0].1,
        layout[0].1,
        layout[0].1.saturating_sub(bare[0].1),
        with[0].1,
        extra(0),
        bare[1].0,
        layout[1].1,
        with[1].1,
        extra(1)
    );
    if extra(0) > share {
        return Err(format!("pinguard took more than {share} bytes of a small stack: {figures}"));
    }
    if extra(1) > room {
        return Err(format!("naming a site took more than the {room} bytes pinguard demands first: {figures}"));
    }
    Ok(figures)
}

/// A timer's handler copies at new sites while the main thread allocates: no crash in
/// any run, every handler's copy counted.
fn signal_copy(setup: &Setup, apps: &Path, scale: Scale) -> Result<String, String> {
    let runs = scale.pick(5, 20);
    let mut copies = 0;
    let mut crashes = CudaCrashes::default();
    for i in 0..runs {
        let r = run(setup, apps, "signal_copy", &["300"], &[], 60).map_err(|e| format!("run {i}: {e}"))?;
        if crashes.admit(setup, &r) {
            continue;
        }
        if !r.output.status.success() {
            return Err(format!("run {i}: ended with {}{}", r.output.status, tail(&r)));
        }
        let line = stdout_line(&r, "signal_copy:").unwrap_or_default();
        let k: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
        let counted = r.summary.map(|s| s.counts.pageable);
        if counted != Some(k + 1) {
            return Err(format!("run {i}: {counted:?} copies counted, {k} made in handlers and 1 before{}", tail(&r)));
        }
        copies += k;
    }
    let beside = crashes.compare(setup, apps, "signal_copy", &["300"], runs)?;
    let crashed =
        if crashes.runs_crashed == 0 { "no crash".to_string() } else { format!("{} crashed", crashes.runs_crashed) };
    Ok(format!("{runs} runs, {crashed}, {copies} copies in handlers, each counted{beside}"))
}

/// A child of a raw fork system call (no fork handler) reports its own 10 findings, not
/// its parent's 100 as well.
fn raw_fork(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let r = run(setup, apps, "raw_fork", &[], &[], 60)?;
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    let by_pid = pageable_by_pid(&r);
    let parent = by_pid.get(&r.pid).copied();
    let child: Vec<u64> = by_pid.iter().filter(|(p, _)| **p != r.pid).map(|(_, n)| *n).collect();
    // A real driver refuses CUDA in a forked child, and a static runtime refuses it before
    // the driver: then pinguard sees none of the child's copies and it says nothing.
    let silent_ok = static_runtime_on_real_driver(setup, apps) && child.is_empty();
    if parent != Some(100) || !(child == vec![10] || silent_ok) {
        return Err(format!("by pid {by_pid:?}: expected the parent 100 and the child 10{}", tail(&r)));
    }
    report_valid(&r)?;
    Ok("parent 100, child 10".into())
}

/// Copies in another library's destructor, after the summary: counted and said.
fn late_destructor(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let r = run(setup, apps, "late_destructor", &[], &[], 60)?;
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    let counted = r.summary.map(|s| s.counts.pageable);
    // A static runtime on a real driver registers its teardown at its first call, after
    // the program's static destructor: that destructor's copy comes after the teardown,
    // and the runtime answers it without the driver.
    let expected = if static_runtime_on_real_driver(setup, apps) { 2 } else { 3 };
    let late = r.report.processes.iter().map(|p| p.late).max().unwrap_or(0);
    if counted != Some(expected) || late < 2 || !r.stderr().contains("was called after the summary") {
        return Err(format!(
            "{counted:?} copies before the summary (expected {expected}), {late} calls after it (expected 2 or more){}",
            tail(&r)
        ));
    }
    summary_is_last(&r)?;
    Ok(format!("{expected} counted before the summary; {late} calls after it counted and said"))
}

/// The program replaces fd 2 with a data file before its first CUDA call: the data file
/// stays the program's alone; the finding is in the report.
fn stderr_early(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let data = std::env::temp_dir().join(format!("pinguard-stderr-early-{}.txt", std::process::id()));
    let arg = data.to_string_lossy().into_owned();
    let r = run(setup, apps, "stderr_reuse", &[&arg, "early"], &[], 60)?;
    let content = std::fs::read_to_string(&data).unwrap_or_default();
    let _ = std::fs::remove_file(&data);
    if !r.output.status.success() {
        return Err(format!("ended with {}{}", r.output.status, tail(&r)));
    }
    if content != "DATA\n" {
        return Err(format!("the data file holds {content:?}, not the program's own line"));
    }
    let reported = r.report.totals().findings;
    if reported != 1 {
        return Err(format!("the report holds {reported} findings, expected 1"));
    }
    Ok("the data file is the program's alone; the finding is in the report".into())
}

/// pinguard's memory refused part-way (a test build maps one region, then no more): the
/// program runs on and ends as without pinguard; pinguard says so once and counts the
/// calls it let through unchecked.
fn out_of_memory(setup: &Setup, apps: &Path, _: Scale) -> Result<String, String> {
    let r = run(setup, apps, "many_sites", &[], &[("PINGUARD_OPTIONS", "test_only_maps_left=1")], 120)?;
    if test_switches_ignored(&r) {
        return Ok("not applicable: a release build ignores test_only_maps_left (and says so)".into());
    }
    let bare = launch(setup, &apps.join("many_sites"), Launch { args: &[], env: &[], bare: true, timeout: None })
        .map_err(|e| e.to_string())?;
    if r.output.status.code() != bare.output.status.code() || r.output.stdout != bare.output.stdout {
        return Err(format!("ended with {}, without pinguard {}{}", r.output.status, bare.output.status, tail(&r)));
    }
    let s = r.summary.ok_or_else(|| format!("no summary{}", tail(&r)))?;
    let said = r.stderr().matches("out of memory for pinguard's own work").count();
    if s.counts.unchecked == 0 || said != 1 || s.counts.checked + s.counts.unchecked < 256 {
        return Err(format!(
            "checked {}, unchecked {}, said {said} times: expected some unchecked, said once{}",
            s.counts.checked,
            s.counts.unchecked,
            tail(&r)
        ));
    }
    Ok(format!(
        "{} checked, then {} let through unchecked; the program's own output and end",
        s.counts.checked, s.counts.unchecked
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(modules: &[&str]) -> String {
        modules
            .iter()
            .enumerate()
            .map(|(i, m)| format!("reliability: crash frame #{i}: {m}+0x10 (signal 11)\n"))
            .collect()
    }

    #[test]
    fn stress_counts_follow_the_cycle_of_32() {
        assert_eq!(stress_copies(32, StressCopy::Pageable), 7);
        assert_eq!(stress_copies(1_000_000, StressCopy::Straddling), 1_000_000 / 32 * 7);
        // 35 operations: a full cycle, then 0 (allocate), 1 (register), 2 (pinned copy).
        assert_eq!(stress_copies(35, StressCopy::Pinned), 8);
        assert_eq!(stress_copies(35, StressCopy::Pageable), 7);
    }

    #[test]
    fn a_crash_with_a_pinguard_frame_is_never_admitted() {
        let cuda = frames(&["/t/sigterm_exit", "/lib/libc.so.6", "/usr/lib/libcuda.so.1", "/lib/libcudart.so.13"]);
        assert_eq!(crash_outside_pinguard(&cuda).as_deref(), Some("libcuda.so.1"));
        let ours = frames(&["/t/sigterm_exit", "/lib/libc.so.6", "/usr/lib/libcuda.so.1", "/w/.gpu/libpinguard.so"]);
        assert_eq!(crash_outside_pinguard(&ours), None, "libcuda called from pinguard is pinguard's crash");
        assert_eq!(crash_outside_pinguard("Segmentation fault\n"), None, "no reporter lines: not admitted");
    }
}
