//! `pinguard run` and `pinguard report` against fakecuda: call sites, processes, exit
//! codes, suppressions, halt_on_error, Ctrl-C, killed processes, SARIF against the
//! official schema, and the HTML report in a real headless browser.

#[path = "../../testing/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PINGUARD: &str = env!("CARGO_BIN_EXE_pinguard");

fn scratch(name: &str) -> PathBuf {
    let d = support::profile_dir().join("cli-tests").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `pinguard run [flags] -- program args`, reports into a new run folder under
/// `dir/reports` (one run per folder: pinguard never mixes runs).
fn pinguard_run(dir: &Path, flags: &[&str], program: &Path, args: &[&str]) -> Output {
    let setup = support::fake_setup();
    let runs = dir.join("reports");
    let n = std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0);
    Command::new(PINGUARD)
        .arg("run")
        .arg("--lib")
        .arg(support::lib_path())
        .arg("--report-dir")
        .arg(runs.join(format!("run-{n}")))
        .args(flags)
        .arg("--")
        .arg(program)
        .args(args)
        .env("LD_LIBRARY_PATH", setup.library_path.as_ref().unwrap())
        .env_remove("PINGUARD_OPTIONS")
        .output()
        .unwrap()
}

/// Every run folder [`pinguard_run`] made under `dir`.
fn all_reports(dir: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("reports")).unwrap().map(|e| e.unwrap().path()).collect();
    runs.sort();
    runs
}

fn app(build: &str, name: &str) -> PathBuf {
    support::fake_setup().apps.join(build).join(name)
}

fn rel(name: &str) -> PathBuf {
    support::fake_setup().apps.join("reliability/dynamic").join(name)
}

fn report(paths: &[&Path], format: &str, out: &Path) -> Output {
    Command::new(PINGUARD).arg("report").args(paths).args(["--format", format, "-o"]).arg(out).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_stack_of_a_finding_points_to_the_apps_own_function_and_line() {
    let line = std::fs::read_to_string(support::repo_root().join("testing/apps/pageable_h2d.cpp"))
        .unwrap()
        .lines()
        .position(|l| l.contains("tk_memcpy_async(dev, host.data()"))
        .unwrap() as u32
        + 1;
    for build in ["dynamic", "static", "driver", "dlsym"] {
        let dir = scratch(&format!("stack-{build}"));
        let out = pinguard_run(&dir, &[], &app(build, "pageable_h2d"), &[]);
        assert!(out.status.success(), "{build}: {}", stderr(&out));
        let run = pinguard_report::merge::run(&all_reports(&dir)).unwrap();
        let sites = run.sites();
        assert_eq!(sites.len(), 1, "{build}");
        let s = &sites[0];
        let main = s
            .frames
            .iter()
            .find(|f| f.function.as_deref() == Some("main"))
            .unwrap_or_else(|| panic!("{build}: no main in {:?}", s.frames));
        assert!(main.file.as_deref().unwrap_or("").ends_with("testing/apps/pageable_h2d.cpp"), "{build}: {main:?}");
        assert_eq!(main.line, Some(line), "{build}: the line of the copy");
        let loc = s.location.as_ref().unwrap();
        assert!(
            loc.file.as_deref().unwrap_or("").contains("/testing/apps/"),
            "{build}: the location is in the app's code: {loc:?}"
        );
        assert!(
            stderr(&out).contains(&format!("main at {}", main.file.as_deref().unwrap())),
            "{build}: shown on stderr"
        );
    }
}

/// The caching unwinder finds exactly the stacks the C library's unwinder finds, through
/// frames without a frame pointer, with one, and with a size that changes per call
/// (alloca: only a walk that follows RBP gets past them): same sites, same frames.
#[test]
fn the_caching_unwinder_finds_the_same_stacks_as_the_c_librarys() {
    for build in ["dynamic", "static", "driver", "dlsym"] {
        let stacks = |fast: &str| {
            let dir = scratch(&format!("unwind-{build}-{fast}"));
            let out =
                pinguard_run(&dir, &["--options", &format!("fast_unwind={fast}")], &app(build, "deep_stacks"), &[]);
            assert!(out.status.success(), "{build}: {}", stderr(&out));
            let files: Vec<PathBuf> = pinguard_report::read::files_in(&all_reports(&dir))
                .unwrap()
                .into_iter()
                .filter(|f| std::fs::read_to_string(f).unwrap().contains("\"event\":\"process\""))
                .collect();
            assert_eq!(files.len(), 1, "{build}: one process made CUDA calls");
            let read = pinguard_report::read::file(&files[0]).unwrap();
            assert_eq!(read.processes.len(), 1);
            let p = &read.processes[0];
            let slow = p.summary.as_ref().map(|s| s.counts.slow_stacks);
            assert_eq!(slow, Some(0), "{build} fast_unwind={fast}: no stack left to the C library's unwinder");
            let mut sites: Vec<Vec<String>> = p
                .sites
                .values()
                .map(|s| {
                    let count = p.totals.get(&s.site).map(|t| t.count);
                    assert_eq!(count, Some(2), "{build} fast_unwind={fast}: each chain's two copies at one site");
                    s.frames.iter().map(|f| format!("{:?} {:?}:{:?}", f.function, f.file, f.line)).collect()
                })
                .collect();
            sites.sort();
            sites
        };
        let (cached, libgcc) = (stacks("1"), stacks("0"));
        assert_eq!(cached.len(), 3, "{build}: three chains, three sites: {cached:#?}");
        assert_eq!(cached, libgcc, "{build}: the two unwinders disagree");
        let alloca = cached
            .iter()
            .find(|s| s.iter().any(|f| f.contains("with_alloca")))
            .unwrap_or_else(|| panic!("{build}: no alloca chain in {cached:#?}"));
        assert!(
            alloca.iter().filter(|f| f.contains("with_alloca")).count() >= 4
                && alloca.iter().any(|f| f.contains("main")),
            "{build}: the walk went through every alloca frame to main: {alloca:#?}"
        );
    }
}

#[test]
fn a_multi_process_program_yields_one_report_per_process_and_one_merged_summary() {
    let dir = scratch("spawner");
    let out = pinguard_run(&dir, &[], &rel("spawner"), &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let reports = pinguard_report::read::files_in(&all_reports(&dir)).unwrap();
    let with_cuda =
        reports.iter().filter(|f| std::fs::read_to_string(f).unwrap().contains("\"event\":\"process\"")).count();
    assert_eq!(with_cuda, 5, "one report per process (fork, posix_spawn, vfork+exec, system, parent)");
    assert_eq!(err.matches("pinguard: run summary: ").count(), 1, "{err}");
    let run = pinguard_report::merge::run(&all_reports(&dir)).unwrap();
    assert_eq!(run.totals().processes, 5, "five processes made CUDA calls");
    // The parent, the forked child, the spawned child, the vfork+exec child, and the
    // shell `system` starts and the child it execs.
    assert!(err.contains("run summary: 6 processes watched (5 made CUDA calls)"), "{err}");
    let pids: std::collections::BTreeSet<u32> = run.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids.len(), 5);
    assert_eq!(run.totals().findings, 2 + 3 + 4 + 5 + 6);
}

#[test]
fn exit_codes_are_the_programs_own_or_the_error_exit_code_and_2_for_bad_options() {
    let dir = scratch("exits");
    let sh = Path::new("/bin/sh");
    let own = pinguard_run(&dir, &[], sh, &["-c", "exit 7"]);
    assert_eq!(own.status.code(), Some(7), "{}", stderr(&own));
    assert!(
        stderr(&own).contains("pinguard: run summary: 1 process watched (0 made CUDA calls)"),
        "the summary shows pinguard ran and watched the shell: {}",
        stderr(&own)
    );
    let clean = pinguard_run(&dir, &[], &app("static", "malloc_host"), &[]);
    assert_eq!(clean.status.code(), Some(0));
    let clean_flag = pinguard_run(&dir, &["--error-exitcode", "3"], &app("static", "malloc_host"), &[]);
    assert_eq!(clean_flag.status.code(), Some(0), "no finding: the program's own code");
    let found = pinguard_run(&dir, &["--error-exitcode", "3"], &app("static", "pageable_h2d"), &[]);
    assert_eq!(found.status.code(), Some(3), "{}", stderr(&found));
    // A bad option: exit 2 with the reason, and the program never starts.
    let marker = dir.join("started");
    let script = format!("touch {}", marker.display());
    for bad in [
        vec!["--mode", "abrot"],
        vec!["--min-bytes", "lots"],
        vec!["--options", "colour=red"],
        vec!["--suppressions", "/nonexistent"],
    ] {
        let o = pinguard_run(&dir, &bad, sh, &["-c", &script]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("the program was not started") || stderr(&o).contains("suppressions"),
            "{bad:?}: {}",
            stderr(&o)
        );
        assert!(!marker.exists(), "{bad:?}: the program started");
    }
    let missing = Command::new(PINGUARD).args(["run", "--lib", "/nonexistent.so", "--", "/bin/true"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn suppressions_remove_exactly_the_matching_sites() {
    let dir = scratch("suppress");
    let rules = dir.join("rules.txt");
    std::fs::write(&rules, "# device-to-host copies of this app are known\nsource:*default_both_ways.cpp dir:D2H\n")
        .unwrap();
    let o =
        pinguard_run(&dir, &["--suppressions", &rules.to_string_lossy()], &app("dynamic", "default_both_ways"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = pinguard_report::merge::run(&all_reports(&dir)).unwrap();
    let findings: Vec<_> = run.sites().iter().filter(|s| s.is_finding()).collect();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].dir, "H2D", "the H2D site stays");
    let p = &run.processes[0];
    assert_eq!(p.summary.as_ref().unwrap().counts.suppressed, 1);
    assert_eq!(p.summary.as_ref().unwrap().counts.pageable, 1);
    assert!(!stderr(&o).contains("dir=D2H"), "a suppressed site is not shown: {}", stderr(&o));
}

#[test]
fn halt_on_error_stops_at_the_first_finding_with_the_exit_code_and_no_core() {
    let dir = scratch("halt");
    let o = pinguard_run(&dir, &["--halt-on-error", "1", "--exitcode", "9"], &app("static", "default_both_ways"), &[]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!((o.status.code(), o.status.signal()), (Some(9), None), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("Stopping the program with exit code 9 (halt_on_error)"), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("default_both_ways: ok"), "it stopped before the end");
    let run = pinguard_report::merge::run(&all_reports(&dir)).unwrap();
    assert_eq!(run.processes[0].summary.as_ref().unwrap().end, "halt", "the report was flushed with its summary");
}

#[test]
fn ctrl_c_stops_the_run_and_still_prints_what_was_gathered() {
    let dir = scratch("ctrl-c");
    let setup = support::fake_setup();
    let child = Command::new(PINGUARD)
        .args(["run", "--lib"])
        .arg(support::lib_path())
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .arg("--")
        .arg(rel("way_out"))
        .arg("sleep")
        .env("LD_LIBRARY_PATH", setup.library_path.as_ref().unwrap())
        .env_remove("PINGUARD_OPTIONS")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    // Wait for the program's three findings, then Ctrl-C as a terminal sends it: to the
    // whole foreground process group.
    let reports = dir.join("reports");
    for _ in 0..200 {
        let sites = std::fs::read_dir(&reports)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|f| std::fs::read_to_string(f.unwrap().path()).ok())
            .map(|t| t.matches("\"event\":\"site\"").count());
        if sites == Some(3) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: kill(2) of the child's own process group.
    unsafe { kill(-(child.id() as i32), 2) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "128 + SIGINT");
    let err = stderr(&o);
    assert!(err.contains("pinguard: run summary: 1 process watched") && err.contains("3 findings"), "{err}");
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

use std::os::unix::process::CommandExt as _;

#[test]
fn a_killed_process_leaves_a_report_valid_up_to_its_last_line() {
    let dir = scratch("killed");
    let o = pinguard_run(&dir, &[], &rel("way_out"), &["sigkill"]);
    assert_eq!(o.status.code(), Some(128 + 9), "{}", stderr(&o));
    let run = pinguard_report::merge::run(&all_reports(&dir)).unwrap();
    use pinguard_report::read::ProblemKind;
    let kinds: Vec<ProblemKind> = run.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, vec![ProblemKind::NoSummary], "every line is a whole record; only the summary is missing");
    assert_eq!(run.processes.len(), 1);
    assert!(run.processes[0].summary.is_none(), "killed: no summary");
    assert_eq!(run.processes[0].sites.len(), 3, "the sites it wrote are there");
    assert!(stderr(&o).contains("has no summary: it was killed or is still running"), "{}", stderr(&o));
    assert!(stderr(&o).contains("result: findings"), "{}", stderr(&o));
}

/// The official SARIF 2.1.0 schema, as the serde-sarif crate ships it (found through
/// cargo metadata, so nothing is vendored here).
fn sarif_schema() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let meta = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(support::repo_root())
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif in the dependency graph (a dev-dependency of pinguard-report)")
        .to_string();
    let schema = Path::new(&manifest).parent().unwrap().join("src/schema.json");
    serde_json::from_str(&std::fs::read_to_string(&schema).unwrap()).unwrap()
}

#[test]
fn sarif_validates_against_the_official_2_1_0_schema() {
    let dir = scratch("sarif");
    let o = pinguard_run(&dir, &[], &app("dynamic", "straddle"), &[]);
    assert!(o.status.success());
    let o2 = pinguard_run(&dir, &[], &app("dynamic", "default_both_ways"), &[]);
    assert!(o2.status.success());
    let out = dir.join("report.sarif");
    let r = Command::new(PINGUARD)
        .arg("report")
        .args(all_reports(&dir))
        .args(["--format", "sarif", "--source-root"])
        .arg(support::repo_root())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let sarif: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let schema = sarif_schema();
    assert_eq!(schema["title"], "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema");
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&sarif).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema check can fail: a result without its required message does not pass.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0].as_object_mut().unwrap().remove("message");
    assert!(!validator.is_valid(&broken), "the validator accepted a result without a message");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "straddle, pageable + two pageable");
    let straddle = results.iter().find(|r| r["ruleId"] == "PG002").unwrap();
    let uri = straddle["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap();
    assert!(uri.starts_with("testing/apps/"), "relative to the source root: {uri}");
    assert!(straddle["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().unwrap() > 0);
    assert!(straddle["partialFingerprints"]["pinguardSite/v1"].as_str().unwrap().len() == 16);
}

/// Every report in `dir`, rendered by `pinguard report` in `format`.
fn rendered(dir: &Path, format: &str) -> String {
    let out = dir.join(format!("report.{format}"));
    let r = report(&all_reports(dir).iter().map(PathBuf::as_path).collect::<Vec<_>>(), format, &out);
    assert!(r.status.success(), "{}", stderr(&r));
    std::fs::read_to_string(&out).unwrap()
}

/// The results of every report in `dir` rendered as SARIF, which must be valid.
fn sarif_results(dir: &Path) -> Vec<serde_json::Value> {
    let sarif: serde_json::Value = serde_json::from_str(&rendered(dir, "sarif")).unwrap();
    let validator = jsonschema::draft7::new(&sarif_schema()).unwrap();
    assert!(validator.is_valid(&sarif));
    sarif["runs"][0]["results"].as_array().unwrap().clone()
}

/// Copies captured into CUDA graphs (issue 28) through every reader: the run's summary
/// counts them apart, SARIF gives them a rule of their own with the capture's place, and
/// a suppression by kind removes exactly them.
#[test]
fn captured_copies_are_their_own_kind_in_every_reader() {
    let dir = scratch("captured");
    let o = pinguard_run(&dir, &["--error-exitcode", "3"], &app("dynamic", "captured_copy"), &[]);
    assert_eq!(o.status.code(), Some(3), "captured copies are findings: {}", stderr(&o));
    assert!(
        stderr(&o).contains("(1 pageable, 0 straddling a pinned edge, 3 captured into CUDA graphs)"),
        "{}",
        stderr(&o)
    );
    let results = sarif_results(&dir);
    let captured: Vec<_> = results.iter().filter(|r| r["ruleId"] == "PG003").collect();
    assert_eq!((captured.len(), results.len()), (3, 4), "{results:#?}");
    let text = captured[0]["message"]["text"].as_str().unwrap();
    assert!(text.contains("captured into a graph begun in tk_begin_capture"), "{text}");

    let rules = dir.join("rules.txt");
    std::fs::write(&rules, "kind:captured\n").unwrap();
    let o = pinguard_run(&dir, &["--suppressions", &rules.to_string_lossy()], &app("dynamic", "captured_copy"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = pinguard_report::merge::run(&all_reports(&dir)[1..]).unwrap();
    let counts = run.processes[0].summary.as_ref().unwrap().counts;
    assert_eq!((counts.suppressed, counts.captured, counts.pageable), (3, 0, 1));
}

/// Registered memory released while still registered (issue 28) through every reader:
/// the run's summary counts the releases apart, the text and Markdown summaries say
/// releases (not copies) and where each range was registered, SARIF gives them a rule of
/// their own (an error), and a suppression by kind removes exactly them.
#[test]
fn releases_of_registered_memory_are_their_own_kind_in_every_reader() {
    let dir = scratch("released");
    let o = pinguard_run(&dir, &["--error-exitcode", "3"], &app("dynamic", "released_registered"), &[]);
    assert_eq!(o.status.code(), Some(3), "releases are findings: {}", stderr(&o));
    let said = stderr(&o);
    assert!(
        said.contains("(0 pageable, 0 straddling a pinned edge, 6 registered ranges released while still registered)"),
        "{said}"
    );
    assert!(said.contains("released_while_registered munmap in main at"), "{said}");
    assert!(said.contains(": 1 release, 2.0 MiB,"), "{said}");
    assert!(said.contains(", registered in tk_register"), "{said}");

    let md = rendered(&dir, "markdown");
    assert!(md.contains("| released_while_registered  `realloc` |"), "{md}");

    let results = sarif_results(&dir);
    let released: Vec<_> = results.iter().filter(|r| r["ruleId"] == "PG004").collect();
    assert_eq!((released.len(), results.len()), (6, 6), "{results:#?}");
    assert!(released.iter().all(|r| r["level"] == "error"), "{released:#?}");
    let text = released[0]["message"]["text"].as_str().unwrap();
    assert!(text.contains("1 release,") && text.contains("registered in tk_register"), "{text}");

    let rules = dir.join("rules.txt");
    std::fs::write(&rules, "kind:released_while_registered api:munmap\n").unwrap();
    let o = pinguard_run(
        &dir,
        &["--error-exitcode", "3", "--suppressions", &rules.to_string_lossy()],
        &app("dynamic", "released_registered"),
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "five are left: {}", stderr(&o));
    let run = pinguard_report::merge::run(&all_reports(&dir)[1..]).unwrap();
    let counts = run.processes[0].summary.as_ref().unwrap().counts;
    assert_eq!((counts.suppressed, counts.released_while_registered), (1, 5));
}

/// Pinning again and again at one call site (issue 28, item 4): its own kind in the
/// run's summary, Markdown and SARIF (PG005, a warning), suppressible by kind, and off
/// with `churn_min=0`.
#[test]
fn pinning_churn_is_its_own_kind_in_every_reader() {
    let dir = scratch("churn");
    let o = pinguard_run(&dir, &["--error-exitcode", "3"], &app("dynamic", "pinned_churn"), &[]);
    assert_eq!(o.status.code(), Some(3), "churn is a finding: {}", stderr(&o));
    let said = stderr(&o);
    assert!(said.contains(", 72 pin-and-release cycles at call sites that pin host memory again and again)"), "{said}");
    assert!(said.contains("pinned_churn cudaHostAlloc in tk_host_alloc at"), "{said}");
    assert!(said.contains(": 21 pin-and-release cycles, 84.0 KiB,"), "{said}");

    let md = rendered(&dir, "markdown");
    assert!(md.contains("| pinned_churn  `cudaHostRegister` |"), "{md}");

    let results = sarif_results(&dir);
    let churn: Vec<_> = results.iter().filter(|r| r["ruleId"] == "PG005").collect();
    assert_eq!((churn.len(), results.len()), (2, 2), "{results:#?}");
    assert!(churn.iter().all(|r| r["level"] == "warning"), "{churn:#?}");
    let text = churn.iter().map(|r| r["message"]["text"].as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("51 pin-and-release cycles (counted from the churn_min-th on)"), "{text}");

    let rules = dir.join("rules.txt");
    std::fs::write(&rules, "kind:pinned_churn api:cudaHostRegister\n").unwrap();
    let o = pinguard_run(
        &dir,
        &["--error-exitcode", "3", "--suppressions", &rules.to_string_lossy()],
        &app("dynamic", "pinned_churn"),
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "the allocations' churn is left: {}", stderr(&o));
    let run = pinguard_report::merge::run(&all_reports(&dir)[1..]).unwrap();
    let counts = run.processes[0].summary.as_ref().unwrap().counts;
    assert_eq!((counts.suppressed, counts.pinned_churn), (51, 21));

    let off = scratch("churn-off");
    let o = pinguard_run(&off, &["--error-exitcode", "3", "--churn-min", "0"], &app("dynamic", "pinned_churn"), &[]);
    assert_eq!(o.status.code(), Some(0), "churn_min=0 reports no churn: {}", stderr(&o));
}

/// Debian's Chromium, headless, as the machine's notes give it.
fn chromium(args: &[&str]) -> Output {
    let bin = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Chromium is missing: scripts/setup.sh installs it (Debian package chromium)");
    let profile = scratch("chromium-profile");
    Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_html_report_shows_its_site_table_and_chart_in_a_real_browser() {
    let dir = scratch("html");
    for name in ["default_both_ways", "threads8", "straddle"] {
        assert!(pinguard_run(&dir, &[], &app("dynamic", name), &[]).status.success());
    }
    let page = dir.join("report.html");
    let runs = all_reports(&dir);
    assert!(report(&runs.iter().map(PathBuf::as_path).collect::<Vec<_>>(), "html", &page).status.success());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"), "self-contained: no network");
    let url = format!("file://{}", page.display());
    let dom = chromium(&["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The rendered page: five sites in the table (threads8 1, default_both_ways 2,
    // straddle 2), a bar for each in the chart.
    assert_eq!(dom.matches("<tr class=\"site\">").count(), 5, "{dom}");
    assert_eq!(dom.matches("class=\"bar\"").count(), 5, "{dom}");
    assert!(dom.contains("id=\"findings\">12<"), "8 + 2 + 2 findings: {dom}");
    // A screenshot, as a reviewer sees it (docs/report.png is one of these).
    let shot = dir.join("report.png");
    let s = chromium(&["--window-size=1280,900", &format!("--screenshot={}", shot.display()), &url]);
    assert!(
        shot.exists() && std::fs::metadata(&shot).unwrap().len() > 10_000,
        "{}",
        String::from_utf8_lossy(&s.stderr)
    );
}
