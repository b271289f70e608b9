//! The gate never fails open: every way `pinguard run` and `pinguard report` could read
//! a run pinguard knows nothing about as clean (issue 23), each against fakecuda, each
//! checked to fail on the code before it.

#[path = "../../testing/support/mod.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PINGUARD: &str = env!("CARGO_BIN_EXE_pinguard");

fn scratch(name: &str) -> PathBuf {
    let d = support::profile_dir().join("gate-tests").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn app(build: &str, name: &str) -> PathBuf {
    support::fake_setup().apps.join(build).join(name)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `pinguard run --lib LIB [flags] -- program args`, from `cwd`.
fn run_with(lib: &Path, cwd: &Path, flags: &[&str], program: &[&str]) -> Output {
    let setup = support::fake_setup();
    Command::new(PINGUARD)
        .current_dir(cwd)
        .arg("run")
        .arg("--lib")
        .arg(lib)
        .args(flags)
        .arg("--")
        .args(program)
        .env("LD_LIBRARY_PATH", setup.library_path.as_ref().unwrap())
        .env_remove("PINGUARD_OPTIONS")
        .output()
        .unwrap()
}

fn run(cwd: &Path, flags: &[&str], program: &[&str]) -> Output {
    run_with(&support::lib_path(), cwd, flags, program)
}

fn report(cwd: &Path, args: &[&str]) -> Output {
    Command::new(PINGUARD).current_dir(cwd).arg("report").args(args).output().unwrap()
}

/// A statically linked program (it exits with `code`).
fn static_program(dir: &Path, code: i32) -> PathBuf {
    let src = dir.join("static_prog.c");
    std::fs::write(&src, format!("int main(void) {{ return {code}; }}\n")).unwrap();
    support::compile("gcc", &["-static", "-O1", src.to_str().unwrap()], &dir.join("static_prog"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- 1. the library did not load ---------------------------------------------------------

#[test]
fn a_static_program_is_not_watched_says_why_and_fails_the_gate() {
    let dir = scratch("static");
    let prog = static_program(&dir, 0);
    let o = run(&dir, &["--report-dir", "r", "--error-exitcode", "3"], &[s(&prog)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(69), "{err}");
    assert!(
        err.contains("not watched: pid") && err.contains("static binary: the dynamic loader never runs for it"),
        "{err}"
    );
    assert!(err.contains("run summary: 0 processes watched, 1 not watched"), "{err}");
    assert!(err.contains("result: NOT WATCHED: static_prog ran without pinguard (static binary)"), "{err}");
    // Accepted when asked, and the program's own code comes back.
    let ok = run(&dir, &["--report-dir", "r2", "--allow-unwatched"], &[s(&prog)]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    // A program that failed keeps its own code; the result still says it was not watched.
    let failing = static_program(&scratch("static-7"), 7);
    let o = run(&dir, &["--report-dir", "r3"], &[s(&failing)]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stderr(&o).contains("result: NOT WATCHED"), "{}", stderr(&o));
}

#[test]
fn a_setuid_program_is_not_watched() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!(
            "a_setuid_program_is_not_watched: needs root to make a setuid program of another user; CI runs as root"
        );
        return;
    }
    let dir = scratch("setuid");
    let prog = dir.join("setuid_true");
    std::fs::copy("/bin/true", &prog).unwrap();
    let st = Command::new("chown").args(["nobody", s(&prog)]).status().unwrap();
    assert!(st.success());
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o4755)).unwrap();
    // The run folder must be writable by the program's user, as a CI job's would be.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = run(&dir, &["--report-dir", "r"], &[s(&prog)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(69), "{err}");
    assert!(err.contains("setuid or setgid program: the loader ignores LD_PRELOAD"), "{err}");
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A copy of libpinguard.so with `edit` applied to its bytes.
fn edited_library(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(support::lib_path()).unwrap();
    edit(&mut bytes);
    let out = dir.join(name);
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn a_library_that_cannot_load_here_is_refused_before_the_program_starts() {
    let dir = scratch("badlib");
    let marker = dir.join("started");
    let touch = format!("touch {}", marker.display());
    // Another architecture: e_machine says aarch64.
    let arm = edited_library(&dir, "arm.so", |b| b[18..20].copy_from_slice(&183u16.to_le_bytes()));
    let o = run_with(&arm, &dir, &["--report-dir", "r1"], &["/bin/sh", "-c", &touch]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is built for 64-bit Arm (aarch64), this machine is x86_64"), "{}", stderr(&o));
    // A C library too old for the build: its newest GLIBC_ need renamed 2.99.
    let old = edited_library(&dir, "new-glibc.so", |b| {
        let newest = (17..=60)
            .rev()
            .map(|minor| format!("GLIBC_2.{minor}\0"))
            .find(|needle| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .expect("a GLIBC_2.N need");
        let at = b.windows(newest.len()).position(|w| w == newest.as_bytes()).unwrap();
        let patched = format!("GLIBC_2.{}\0", "9".repeat(newest.len() - 9));
        b[at..at + newest.len()].copy_from_slice(patched.as_bytes());
    });
    let o = run_with(&old, &dir, &["--report-dir", "r2"], &["/bin/sh", "-c", &touch]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("glibc too old: ") && stderr(&o).contains("needs glibc 2.9"), "{}", stderr(&o));
    assert!(!marker.exists(), "the program started");
    assert!(!dir.join("r1").exists() && !dir.join("r2").exists(), "no run folder was made");
}

#[test]
fn children_that_lose_the_preload_fail_the_gate_and_static_children_are_noted() {
    let dir = scratch("children");
    let prog = static_program(&dir, 0);
    // `env -u LD_PRELOAD` starts /bin/true without pinguard: it could have used CUDA.
    let script = format!("env -u LD_PRELOAD /bin/true; {}; exit 0", prog.display());
    let o = run(&dir, &["--report-dir", "r"], &["/bin/sh", "-c", &script]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(69), "{err}");
    assert!(err.contains("/bin/true: its environment no longer preloads pinguard"), "{err}");
    assert!(err.contains("not watched (could not use CUDA): pid") && err.contains("static binary"), "{err}");
    let ok = run(&dir, &["--report-dir", "r2", "--allow-unwatched"], &["/bin/sh", "-c", &script]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    // A static child alone could not have used CUDA: noted, not failing.
    let o = run(&dir, &["--report-dir", "r3"], &["/bin/sh", "-c", &format!("{}; exit 0", prog.display())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("not watched (could not use CUDA)"), "{}", stderr(&o));
}

#[test]
fn processes_with_and_without_cuda_are_told_apart() {
    let dir = scratch("states");
    let script = format!("/bin/true; {}", app("dynamic", "pageable_h2d").display());
    let o = run(&dir, &["--report-dir", "r"], &["/bin/sh", "-c", &script]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("run summary: 3 processes watched (1 made CUDA calls), 1 async copy checked, 1 finding"),
        "{err}"
    );
    let clean = run(&dir, &["--report-dir", "r2"], &["/bin/true"]);
    assert!(
        stderr(&clean).contains("result: clean: 1 process watched, 0 async copies checked, no finding (exit 0)"),
        "{}",
        stderr(&clean)
    );
}

// ---- 2. damaged reports ------------------------------------------------------------------

#[test]
fn a_damaged_report_is_never_read_as_clean() {
    let dir = scratch("damaged");
    assert!(run(&dir, &["--report-dir", "r"], &[s(&app("dynamic", "pageable_h2d"))]).status.success());
    let file = std::fs::read_dir(dir.join("r"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with("pinguard.") && !p.ends_with("pinguard.run.jsonl")
        })
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let site_line = text.lines().position(|l| l.contains("\"event\":\"site\"")).unwrap();
    let damaged: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == site_line { "#garbage#".into() } else { l.to_string() })
        .collect();
    std::fs::write(&file, damaged.join("\n") + "\n").unwrap();
    let o = report(&dir, &["r", "--fail-on-findings", "-o", "out.txt"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(74), "{err}");
    assert!(err.contains(&format!("line {}: not a whole pinguard record", site_line + 1)), "{err}");
    assert!(err.contains("summary says 1 finding at 1 site, but its records hold 0 findings at 0 sites"), "{err}");
    // Not whole is not partial: --accept-partial does not accept it.
    let o = report(&dir, &["r", "--fail-on-findings", "--accept-partial", "-o", "out.txt"]);
    assert_eq!(o.status.code(), Some(74), "{}", stderr(&o));
}

#[test]
fn files_that_are_not_reports_are_errors_with_their_names() {
    let dir = scratch("not-reports");
    std::fs::write(dir.join("plain.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("noise.jsonl"), [0x13u8, 0x9f, 0x00, 0xff, 0x42]).unwrap();
    for name in ["plain.txt", "noise.jsonl"] {
        let o = report(&dir, &[name, "--fail-on-findings"]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("{name} is not a pinguard report")), "{}", stderr(&o));
    }
}

#[test]
fn a_killed_process_is_incomplete_unless_partial_reports_are_accepted() {
    let dir = scratch("killed");
    let way_out = support::fake_setup().apps.join("reliability/dynamic/way_out");
    let o = run(&dir, &["--report-dir", "r"], &[s(&way_out), "sigkill"]);
    assert_eq!(o.status.code(), Some(137), "the program's own code first: {}", stderr(&o));
    // Cut the last record in two, as a kill in the middle of a write would.
    let file = std::fs::read_dir(dir.join("r"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.ends_with("pinguard.run.jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, &text[..text.len() - 20]).unwrap();
    // Findings come first in the gate's result; the damage is read in the outcome.
    let o = report(&dir, &["r", "--fail-on-findings", "-o", "x"]);
    assert_eq!(o.status.code(), Some(1), "findings first: {}", stderr(&o));
    let partial = |extra: &[&str]| {
        let mut args = vec!["r", "--format", "json", "-o", "x.json"];
        args.extend_from_slice(extra);
        report(&dir, &args)
    };
    let o = partial(&[]);
    assert!(stderr(&o).contains("the last line is cut short"), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("x.json")).unwrap()).unwrap();
    assert_eq!(json["outcome"]["failing_problems"].as_array().unwrap().len(), 2, "{json:#}");
    let o = partial(&["--accept-partial"]);
    assert!(o.status.success());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("x.json")).unwrap()).unwrap();
    assert_eq!(json["outcome"]["failing_problems"].as_array().unwrap().len(), 0, "{json:#}");
    assert_eq!(json["outcome"]["accepted_problems"].as_array().unwrap().len(), 2, "{json:#}");
}

// ---- 3. a reused report folder -----------------------------------------------------------

#[test]
fn a_report_folder_that_holds_reports_is_refused() {
    let dir = scratch("reuse");
    assert!(run(&dir, &["--report-dir", "r"], &[s(&app("dynamic", "pageable_h2d"))]).status.success());
    let marker = dir.join("started");
    let o = run(
        &dir,
        &["--report-dir", "r", "--error-exitcode", "3"],
        &["/bin/sh", "-c", &format!("touch {}", marker.display())],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--report-dir r holds 2 report files of an earlier run; pinguard never mixes runs"),
        "{}",
        stderr(&o)
    );
    assert!(!marker.exists(), "the program started");
}

// ---- 4. a full disk ----------------------------------------------------------------------

#[test]
fn a_full_file_system_makes_the_run_incomplete_never_clean() {
    // A real, tiny file system: a 16 KiB tmpfs in a mount namespace of our own.
    let dir = scratch("full");
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let setup = support::fake_setup();
    let script = format!(
        "mount -t tmpfs -o size=16k none {mnt} && head -c 12000 /dev/zero > {mnt}/filler && exec {pg} run --lib {lib} --report-dir {mnt}/r --error-exitcode 3 -- {app}",
        mnt = mnt.display(),
        pg = PINGUARD,
        lib = support::lib_path().display(),
        app = app("dynamic", "one_line_many_sites").display(),
    );
    let o = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .env("LD_LIBRARY_PATH", setup.library_path.as_ref().unwrap())
        .env_remove("PINGUARD_OPTIONS")
        .output()
        .expect("unshare (util-linux) makes the tiny file system");
    let err = stderr(&o);
    assert!(!err.contains("mount: "), "cannot mount a tmpfs here: {err}");
    assert!(err.contains("cannot write to the report: No space left on device"), "the process says it once: {err}");
    assert_eq!(err.matches("cannot write to the report").count(), 1, "{err}");
    // Findings were still made (stderr has them), so --error-exitcode's code; and the
    // result says the reports are not whole.
    assert!(err.contains("INCOMPLETE") || err.contains("report not whole"), "{err}");
    assert_ne!(o.status.code(), Some(0), "{err}");
    // Without findings the same full disk is exit 74, never 0.
    let script = script
        .replace(
            &app("dynamic", "one_line_many_sites").display().to_string(),
            &app("dynamic", "malloc_host").display().to_string(),
        )
        .replace("head -c 12000", "head -c 16384");
    let o = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .env("LD_LIBRARY_PATH", setup.library_path.as_ref().unwrap())
        .env_remove("PINGUARD_OPTIONS")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(74), "{err}");
    assert!(err.contains("result: INCOMPLETE"), "{err}");
}

// ---- 5. a clean program and the documented workflow --------------------------------------

#[test]
fn a_clean_run_renders_a_valid_empty_report_in_every_format() {
    let dir = scratch("clean");
    let o = run(&dir, &["--report-dir", "clean"], &["true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for (format, out) in
        [("sarif", "c.sarif"), ("html", "c.html"), ("markdown", "c.md"), ("json", "c.json"), ("text", "c.txt")]
    {
        let r = report(&dir, &["clean", "--format", format, "-o", out, "--fail-on-findings"]);
        assert_eq!(r.status.code(), Some(0), "{format}: {}", stderr(&r));
    }
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("c.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 0);
    let inv = &sarif["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], true);
    assert_eq!(inv["commandLine"], "true");
    assert!(inv["startTimeUtc"].as_str().unwrap().ends_with('Z'));
    let html = std::fs::read_to_string(dir.join("c.html")).unwrap();
    assert!(html.contains("No findings: no async copies were made"), "{html}");
    let md = std::fs::read_to_string(dir.join("c.md")).unwrap();
    assert!(md.contains("No finding: no async copy was made") && md.contains("`true`"), "{md}");
    // An empty folder (no report at all) also renders, but never passes a gate.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let r = report(&dir, &["empty", "--format", "sarif", "-o", "e.sarif"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let r = report(&dir, &["empty", "--fail-on-findings", "-o", "e.txt"]);
    assert_eq!(r.status.code(), Some(74), "{}", stderr(&r));
}

#[test]
fn a_program_that_cannot_start_exits_as_a_shell_does_and_leaves_no_folder() {
    let dir = scratch("nostart");
    let o = run(&dir, &[], &["/nonexistent/program"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    let o = run(&dir, &[], &["no-such-command-anywhere"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("command not found on PATH"), "{}", stderr(&o));
    let not_exec = dir.join("data.txt");
    std::fs::write(&not_exec, "x").unwrap();
    let o = run(&dir, &[], &[s(&not_exec)]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(
        !dir.join("pinguard-report").exists() || std::fs::read_dir(dir.join("pinguard-report")).unwrap().count() == 0,
        "no empty run folder is left"
    );
    // The newest run with reports is what `pinguard report` picks, never an empty one.
    assert!(run(&dir, &[], &[s(&app("dynamic", "pageable_h2d"))]).status.success());
    std::fs::create_dir_all(dir.join("pinguard-report/run-99991231-235959-1")).unwrap();
    let r = report(&dir, &["--format", "json", "-o", "n.json"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("n.json")).unwrap()).unwrap();
    assert_eq!(json["totals"]["findings"], 1);
}

// ---- what was run, names, paths -----------------------------------------------------------

#[test]
fn reports_say_what_was_run_in_every_format() {
    let dir = scratch("about");
    let o = run(&dir, &["--report-dir", "r"], &[s(&app("dynamic", "pageable_h2d")), "--an-arg"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    for (format, out) in [("html", "a.html"), ("markdown", "a.md"), ("json", "a.json"), ("sarif", "a.sarif")] {
        assert!(report(&dir, &["r", "--format", format, "-o", out]).status.success());
        let text = std::fs::read_to_string(dir.join(out)).unwrap();
        assert!(text.contains("pageable_h2d --an-arg"), "{format}: the command line");
        assert!(text.contains(&host), "{format}: the host");
        assert!(text.contains(pinguard_core::COMMIT), "{format}: pinguard's commit");
        assert!(
            text.contains("runtime 13.0") || text.contains("\"cuda_runtime\": 13000"),
            "{format}: the runtime version\n{text}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("a.json")).unwrap()).unwrap();
    assert!(json["about"]["duration"].as_str().unwrap().ends_with('s'), "{json:#}");
    assert_eq!(json["invocation"]["exit"]["code"], 0);
}

#[test]
fn site_titles_elide_templates_and_point_past_header_only_libraries() {
    let dir = scratch("names");
    // The test kit's wrapper is a helper like thrust's own: passed over as well.
    let skip = format!("{}|tk_*", pinguard_core::settings::DEFAULT_SKIP_FRAMES.join("|"));
    for build in ["dynamic", "static"] {
        let o = run(&dir, &["--report-dir", build, "--skip-frames", &skip], &[s(&app(build, "header_only_lib"))]);
        let err = stderr(&o);
        assert!(o.status.success(), "{err}");
        let summary = err.lines().find(|l| l.contains("  1. pageable H2D")).unwrap_or_else(|| panic!("{err}"));
        assert!(
            summary.contains(" in testSort(…) at ") && summary.contains("header_only_lib.cpp:"),
            "{build}: {summary}"
        );
        let run = pinguard_report::merge::run(&[dir.join(build)]).unwrap();
        let site = &run.sites()[0];
        let full = site.frames.iter().find_map(|f| f.function.clone().filter(|n| n.contains("thrust::copy"))).unwrap();
        assert!(full.contains("thrust::copy<") && full.contains('('), "{build}: the stack keeps the full name: {full}");
        assert!(site.short_where().contains("testSort(…)"), "{build}: {}", site.short_where());
        let o = report(&dir, &[build, "--format", "html", "-o", "n.html"]);
        assert!(o.status.success());
        let html = std::fs::read_to_string(dir.join("n.html")).unwrap();
        assert!(html.contains("testSort(…) at "), "{build}: the title");
        assert!(
            html.contains("thrust::copy&#60;unsigned int, unsigned int&#62;(thrust::detail::normal_iterator"),
            "{build}: the stack keeps the full name, escaped (askama writes < as &#60;)"
        );
    }
}

#[test]
fn source_root_makes_paths_relative_in_every_format_and_must_exist() {
    let dir = scratch("root");
    assert!(run(&dir, &["--report-dir", "r"], &[s(&app("dynamic", "pageable_h2d"))]).status.success());
    let root = support::repo_root();
    let abs = root.join("testing/apps").display().to_string();
    for format in ["text", "markdown", "json", "html", "sarif"] {
        let out = format!("p.{format}");
        let o = report(&dir, &["r", "--format", format, "--source-root", s(&root), "-o", &out]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(dir.join(&out)).unwrap();
        assert!(text.contains("testing/apps/"), "{format}");
        assert!(!text.contains(&abs), "{format}: an absolute path is left:\n{text}");
    }
    let o = report(&dir, &["r", "--source-root", "/no/such/root"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--source-root /no/such/root: no such folder"), "{}", stderr(&o));
}

// ---- small things --------------------------------------------------------------------------

#[test]
fn bad_options_are_named_as_typed_with_ranges_and_suggestions() {
    let dir = scratch("options");
    let cases: [(&[&str], &str); 5] = [
        (&["--mode", "abrot"], "bad option --mode abrot: mode takes off, log, abort; the program was not started"),
        (&["--stack-depth", "99"], "bad option --stack-depth 99: stack_depth takes a number from 1 to 64"),
        (&["--options", "colour=red"], "bad --options entry 'colour=red': unknown setting colour (known:"),
        (&["--options", "min_byte=4"], "unknown setting min_byte (did you mean min_bytes?)"),
        (&["--min-byte", "4"], "--min-bytes"),
    ];
    for (flags, want) in cases {
        let o = run(&dir, flags, &["/bin/true"]);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{flags:?}: {}", stderr(&o));
    }
    let env = Command::new(PINGUARD)
        .args(["run", "--lib"])
        .arg(support::lib_path())
        .args(["--", "/bin/true"])
        .env("PINGUARD_OPTIONS", "mode=abrot")
        .output()
        .unwrap();
    assert!(
        stderr(&env).contains("bad PINGUARD_OPTIONS entry 'mode=abrot': mode takes off, log, abort"),
        "{}",
        stderr(&env)
    );
}

#[test]
fn version_names_the_commit() {
    let o = Command::new(PINGUARD).arg("--version").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with(&format!("pinguard {} (commit ", env!("CARGO_PKG_VERSION"))), "{out}");
    assert!(out.contains(pinguard_core::COMMIT));
}

/// Copies on the legacy default stream are a note in the run's summary (text and
/// Markdown), not a finding: three of `legacy_stream`'s four copies, one of them pageable
/// (the finding); a program on streams of its own gets no note.
#[test]
fn copies_on_the_legacy_default_stream_are_a_note_of_the_run() {
    let dir = scratch("legacy");
    let out = run(&dir, &["--report-dir", "r"], &[s(&app("dynamic", "legacy_stream"))]);
    let text = stderr(&out);
    assert!(
        text.contains("pinguard: note: 3 async copies on the legacy default stream") && text.contains("1 finding"),
        "{text}"
    );
    let md = report(&dir, &["r", "--format", "markdown"]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("Note: 3 async copies on the legacy default stream"));
    let own = scratch("own-streams");
    let clean = run(&own, &["--report-dir", "r"], &[s(&app("dynamic", "default_both_ways"))]);
    assert!(!stderr(&clean).contains("legacy default stream"), "{}", stderr(&clean));
}
