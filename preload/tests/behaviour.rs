//! What pinguard must do beyond the manifest: keep `dlsym`'s meaning for everyone else,
//! leave programs without CUDA alone, survive bad settings, pass everything through in
//! mode=off, name the stream, report each user call once and at the right layer.

#[path = "../../testing/support/mod.rs"]
mod support;

use std::process::Command;

use pinguard_harness::{Setup, run_program};

fn app(setup: &Setup, build: &str, name: &str) -> std::path::PathBuf {
    setup.apps.join(build).join(name)
}

fn pinguard_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("pinguard: ")).collect()
}

#[test]
fn rtld_next_and_rtld_default_keep_the_callers_meaning() {
    let dir = support::profile_dir().join("probes");
    std::fs::create_dir_all(&dir).unwrap();
    let src = support::repo_root().join("testing/probes");
    let s = |f: &str| src.join(f).to_string_lossy().into_owned();
    support::compile("cc", &["-shared", "-fPIC", &s("probe_first.c"), "-ldl"], &dir.join("libprobe_first.so"));
    support::compile("cc", &["-shared", "-fPIC", &s("probe_second.c")], &dir.join("libprobe_second.so"));
    let d = dir.to_string_lossy().into_owned();
    let main = support::compile(
        "cc",
        &[
            &s("probe_main.c"),
            "-L",
            &d,
            "-Wl,--no-as-needed",
            "-lprobe_first",
            "-lprobe_second",
            "-ldl",
            "-Wl,-rpath,$ORIGIN",
        ],
        &dir.join("probe_main"),
    );
    let plain = Command::new(&main).output().unwrap();
    let guarded = Command::new(&main).env("LD_PRELOAD", support::lib_path()).output().unwrap();
    let plain_out = String::from_utf8_lossy(&plain.stdout);
    assert_eq!(plain_out.trim(), "next=2 default=1 handle=2 missing=null dlerror=set", "the probe itself");
    assert_eq!(String::from_utf8_lossy(&guarded.stdout), plain_out, "dlsym answers changed under pinguard");
    assert!(guarded.status.success());
}

#[test]
fn a_program_without_cuda_is_untouched() {
    let dir = support::profile_dir().join("probes");
    std::fs::create_dir_all(&dir).unwrap();
    let src = support::repo_root().join("testing/probes/no_cuda.c");
    let prog = support::compile("cc", &[&src.to_string_lossy()], &dir.join("no_cuda"));
    let out = Command::new(&prog)
        .env("LD_PRELOAD", support::lib_path())
        .env("PINGUARD_OPTIONS", "mode=nonsense:::colour")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "exit code must be the program's own");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sum=14\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "pinguard must say nothing to a program without CUDA");
}

#[test]
fn malformed_settings_get_one_line_each_and_the_defaults() {
    let setup = support::fake_setup();
    let run =
        run_program(setup, &app(setup, "dynamic", "pageable_h2d"), &[("PINGUARD_OPTIONS", "mode=loud:colour=red")])
            .unwrap();
    let stderr = run.stderr();
    let lines = pinguard_lines(&stderr);
    assert!(run.output.status.success(), "{stderr}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("ignoring PINGUARD_OPTIONS entry 'mode=loud'")).count(),
        1,
        "{stderr}"
    );
    assert_eq!(lines.iter().filter(|l| l.contains("'colour=red': unknown setting")).count(), 1, "{stderr}");
    assert_eq!(run.records.len(), 1, "log mode (the default) still reports: {stderr}");
}

#[test]
fn mode_off_passes_everything_through_silently() {
    let setup = support::fake_setup();
    for name in ["pageable_h2d", "straddle", "threads8", "batch"] {
        for build in ["dynamic", "static"] {
            let run = run_program(setup, &app(setup, build, name), &[("PINGUARD_OPTIONS", "mode=off")]).unwrap();
            let stderr = run.stderr();
            assert!(run.output.status.success(), "{build}/{name}: {stderr}");
            assert!(pinguard_lines(&stderr).is_empty(), "{build}/{name} printed under mode=off: {stderr}");
        }
    }
}

/// Pinning much of the machine's memory is said at exit, above `pinned_share` (the
/// machine's memory given by a test switch: `pinned_lifetime` pins 256 KiB at most).
#[test]
fn pinning_much_of_the_machine_is_said_at_exit() {
    let setup = support::fake_setup();
    let note = "note: up to 256.0 KiB of host memory was pinned at once, 25% of this machine's 1.0 MiB (over pinned_share=20%)";
    for build in ["dynamic", "driver"] {
        let program = app(setup, build, "pinned_lifetime");
        let over = run_program(setup, &program, &[("PINGUARD_OPTIONS", "test_only_mem_total=1048576:pinned_share=20")])
            .unwrap();
        assert!(over.output.status.success() && over.stderr().contains(note), "{build}: {}", over.stderr());
        let under =
            run_program(setup, &program, &[("PINGUARD_OPTIONS", "test_only_mem_total=1048576:pinned_share=25")])
                .unwrap();
        assert!(!under.stderr().contains("was pinned at once"), "{build}: 25% is not over 25%: {}", under.stderr());
        let summary = under.summary.expect("a summary");
        assert_eq!((summary.counts.pinned_peak, summary.counts.pinned_at_exit), (262_144, 131_072));
    }
}

#[test]
fn per_thread_default_stream_is_named_as_such() {
    let setup = support::fake_setup();
    for build in ["dynamic", "static", "driver", "dlsym"] {
        let run = run_program(setup, &app(setup, build, "ptsz_default_stream"), &[]).unwrap();
        assert_eq!(run.records.len(), 1, "{build}: {}", run.stderr());
        let r = &run.records[0];
        assert_eq!(r["stream_kind"], "per-thread-default", "{build}: {}", run.stderr());
        assert!(r["api"].ends_with("_ptsz"), "{build}: a _ptsz entry point must be reported, got {}", r["api"]);
    }
}

#[test]
fn each_call_is_reported_once_at_the_outermost_layer() {
    let setup = support::fake_setup();
    let expect = [
        ("dynamic", "runtime", "cudaMemcpyAsync"),
        ("static", "driver", "cuMemcpyHtoDAsync_v2"),
        ("dlsym", "driver", "cuMemcpyHtoDAsync_v2"),
    ];
    for (build, layer, api) in expect {
        let run = run_program(setup, &app(setup, build, "pageable_h2d"), &[]).unwrap();
        assert_eq!(run.records.len(), 1, "{build}: {}", run.stderr());
        assert_eq!((run.records[0]["layer"].as_str(), run.records[0]["api"].as_str()), (layer, api), "{build}");
    }
}

/// The blocked time a finding reports is the time the call kept the thread: fakecuda
/// keeps it a known 30 ms in a pageable copy (a test-only switch), and the finding says
/// 30 to 45 ms, with the time-stamp counter as the clock and without it.
#[test]
fn a_findings_blocked_time_is_the_time_the_call_kept_the_thread() {
    let setup = support::fake_setup();
    for no_tsc in [false, true] {
        let mut env = vec![("FAKECUDA_TEST_PAGEABLE_DELAY_US", "30000")];
        if no_tsc {
            env.push(("PINGUARD_OPTIONS", "test_only_no_tsc=1"));
        }
        let run = run_program(setup, &app(setup, "dynamic", "pageable_h2d"), &env).unwrap();
        assert_eq!(run.records.len(), 1, "{}", run.stderr());
        let blocked_us: u64 = run.records[0]["blocked_us"].parse().unwrap();
        assert!((30_000..45_000).contains(&blocked_us), "no_tsc={no_tsc}: blocked {blocked_us} us, kept 30 000 us");
        let site = run.report.processes[0].sites.values().next().unwrap();
        assert!(
            (30_000_000..45_000_000).contains(&site.first.blocked_ns),
            "no_tsc={no_tsc}: the report's first call blocked {} ns",
            site.first.blocked_ns
        );
    }
}

/// Eight threads copy from the same line: one site, shown once on stderr, whose totals
/// in the report count all eight copies; the line names the child's own pid and says how
/// long the call kept the host blocked.
#[test]
fn a_site_is_shown_once_and_its_totals_count_every_copy() {
    let setup = support::fake_setup();
    let run = run_program(setup, &app(setup, "dynamic", "threads8"), &[]).unwrap();
    let stderr = run.stderr();
    assert_eq!(run.records.len(), 1, "one site, shown once: {stderr}");
    let r = &run.records[0];
    assert_eq!(r["pid"], run.pid.to_string(), "the finding names the child's own pid");
    assert!(r["blocked_us"].parse::<u64>().is_ok());
    assert_eq!(r["result"], "0");
    let sites: Vec<_> = run.report.sites().iter().filter(|s| s.is_finding()).collect();
    assert_eq!(sites.len(), 1, "{sites:?}");
    assert_eq!((sites[0].totals.count, sites[0].totals.bytes_total, sites[0].totals.bytes_max), (8, 8 * 65536, 65536));
    let summary = run.summary.expect("a summary line");
    assert_eq!((summary.pid, summary.counts.pageable, summary.sites), (run.pid, 8, 1));
    let site = run.report.processes[0].sites.values().next().unwrap();
    assert_eq!(site.first.tid.to_string(), r["tid"], "the report names the first copy's thread");
}

/// Sites met again and again on one line (a thread's replayed walk hands back the site
/// found for it) are still one site per direction and verdict, each with the stack that
/// reaches the line: also the batch whose second record, of another kind, comes in a
/// call whose stack was known only for its first record's site.
#[test]
fn sites_on_one_line_each_keep_their_stack() {
    let setup = support::fake_setup();
    for build in ["dynamic", "static"] {
        let run = run_program(setup, &app(setup, build, "one_line_many_sites"), &[]).unwrap();
        let stderr = run.stderr();
        let sites = run.report.sites();
        let shape: std::collections::BTreeSet<_> =
            sites.iter().map(|s| (s.kind.name(), s.dir.as_str(), s.totals.count, s.totals.bytes_max)).collect();
        let expect = [
            ("allowed", "H2D", 1, 8192),
            ("pageable", "D2H", 2, 65536),
            ("pageable", "H2D", 2, 8192),
            ("pageable", "H2D", 2, 65536),
            ("pageable", "H2D", 3, 4096),
            ("straddles", "H2D", 2, 8192),
        ];
        assert_eq!(shape, expect.into_iter().collect(), "{build}: {stderr}");
        for s in sites {
            let from_main = s.frames.iter().any(|f| f.function.as_deref().is_some_and(|n| n.contains("main")));
            assert!(s.location.is_some() && from_main, "{build}: a site without its stack: {s:?}\n{stderr}");
        }
    }
}

#[test]
fn straddle_reports_the_pinned_edge_and_cudas_return_code() {
    let setup = support::fake_setup();
    let run = run_program(setup, &app(setup, "dynamic", "straddle"), &[]).unwrap();
    let stderr = run.stderr();
    assert_eq!(run.records.len(), 2, "{stderr}");
    let r = &run.records[0];
    assert_eq!(r["verdict"], "straddles");
    assert_eq!(r["result"], "1", "cudaErrorInvalidValue, returned unchanged");
    assert!(r.contains_key("edge"));
    assert!(stderr.contains("from cudaHostRegister"), "{stderr}");
    // The copy that starts pageable and runs into the registered range: accepted, pageable.
    let r = &run.records[1];
    assert_eq!((r["verdict"].as_str(), r["result"].as_str()), ("pageable", "0"), "{stderr}");
    assert!(!r.contains_key("edge"));
}

/// A program without CUDA that looks CUDA up by name (RTLD_DEFAULT, RTLD_NEXT), and one
/// that defines a CUDA name itself, get exactly the answers (and dlerror) they get
/// without pinguard: not found, and their own function.
#[test]
fn a_program_without_cuda_sees_the_same_symbol_lookups() {
    let dir = support::profile_dir().join("probes");
    std::fs::create_dir_all(&dir).unwrap();
    let src = support::repo_root().join("testing/probes/no_cuda_dlsym.c");
    let prog = support::compile("cc", &["-rdynamic", &src.to_string_lossy(), "-ldl"], &dir.join("no_cuda_dlsym"));
    let bare = Command::new(&prog).output().unwrap();
    let guarded = Command::new(&prog).env("LD_PRELOAD", support::lib_path()).output().unwrap();
    let bare_out = String::from_utf8_lossy(&bare.stdout);
    assert!(bare_out.contains("default cuGetProcAddress_v2: null dlerror=set"), "the probe itself: {bare_out}");
    assert!(bare_out.contains("default cudaFreeHost: own"), "the probe itself: {bare_out}");
    assert_eq!(String::from_utf8_lossy(&guarded.stdout), bare_out, "symbol lookups changed under pinguard");
    assert_eq!(String::from_utf8_lossy(&guarded.stderr), "", "pinguard said something to a program without CUDA");
}

/// A weak reference to a CUDA function is bound by the dynamic linker at load time, to
/// pinguard's export when pinguard is preloaded: the ELF rules leave no way around it.
/// This is the behaviour the README documents (the CUDA path, and error 302 from the call).
#[test]
fn a_weak_cuda_reference_binds_to_pinguard_as_documented() {
    let dir = support::profile_dir().join("probes");
    std::fs::create_dir_all(&dir).unwrap();
    let src = support::repo_root().join("testing/probes/weak_cuda.c");
    let prog = support::compile("cc", &[&src.to_string_lossy()], &dir.join("weak_cuda"));
    let bare = Command::new(&prog).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&bare.stdout), "cpu path\n");
    let guarded = Command::new(&prog).env("LD_PRELOAD", support::lib_path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&guarded.stdout), "cuda path: cudaMallocHost returned 302\n");
    let readme = std::fs::read_to_string(support::repo_root().join("README.md")).unwrap();
    let words = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("**weak reference**") && words.contains("(302)"), "the README documents weak references");
}

/// A privileged process (AT_SECURE: here a setgid program, which links pinguard directly
/// because the loader ignores LD_PRELOAD paths then): PINGUARD_OPTIONS from an
/// unprivileged caller is not read (no abort) and no report file is written.
#[test]
fn a_privileged_process_ignores_the_callers_options_and_writes_no_report() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("SKIPPED: making a setgid program needs root (CI runs as root)");
        return;
    }
    let setup = support::fake_setup();
    let dir = support::profile_dir().join("probes/secure");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lib_dir = support::lib_path().parent().unwrap().to_path_buf();
    let fk = setup.library_path.clone().unwrap();
    let (lib_dir, fk) = (lib_dir.to_string_lossy().into_owned(), fk.to_string_lossy().into_owned());
    let inc = format!("-I{}", support::cuda_include());
    let apps = format!("-I{}", support::repo_root().join("testing/apps").display());
    let src = support::repo_root().join("testing/probes/secure_probe.cpp");
    let prog = support::compile(
        "g++",
        &[
            "-std=c++17",
            "-w",
            &apps,
            &inc,
            &src.to_string_lossy(),
            "-Wl,--disable-new-dtags",
            &format!("-L{lib_dir}"),
            "-lpinguard",
            &format!("-Wl,-rpath,{lib_dir}"),
            &format!("-L{fk}"),
            "-lcudart",
            &format!("-Wl,-rpath,{fk}"),
            "-lpthread",
        ],
        &dir.join("secure_probe"),
    );
    let ok = |c: &mut Command| c.status().unwrap().success();
    assert!(ok(Command::new("chgrp").arg("nogroup").arg(&prog)) && ok(Command::new("chmod").arg("g+s").arg(&prog)));
    let options = format!("mode=abort:log_path={}/report.%p.jsonl", dir.display());
    let out = Command::new(&prog).env("PINGUARD_OPTIONS", &options).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the caller's mode=abort took effect: {} {stderr}", out.status);
    assert!(stderr.contains("privileged process (AT_SECURE)"), "{stderr}");
    assert!(stderr.contains("[verdict=pageable"), "pinguard still reports, with its defaults: {stderr}");
    let reports = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("report"))
        .count();
    assert_eq!(reports, 0, "a report was written");
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A panic in pinguard's own code never crosses into the program: forced in the real
/// library (a switch only debug builds honour), the copy still runs, the program ends as
/// it would, and pinguard says what happened once, without Rust's panic report.
#[test]
fn a_panic_inside_pinguard_never_crosses_into_the_program() {
    let setup = support::fake_setup();
    for build in ["dynamic", "static", "driver"] {
        let run =
            run_program(setup, &app(setup, build, "default_both_ways"), &[("PINGUARD_OPTIONS", "test_only_panic=1")])
                .unwrap();
        let stderr = run.stderr();
        assert!(run.output.status.success(), "{build}: {} {stderr}", run.output.status);
        assert!(String::from_utf8_lossy(&run.output.stdout).contains("default_both_ways: ok"), "{build}: {stderr}");
        assert_eq!(stderr.matches("internal error in the").count(), 1, "{build}: said once: {stderr}");
        assert!(!stderr.contains("panicked at"), "{build}: Rust's panic report leaked: {stderr}");
        assert!(run.records.is_empty(), "{build}: no verdict from a failed check: {stderr}");
    }
}

/// Odd files as settings (issue 24, item 5): a FIFO as `log_path` or `suppressions` never
/// hangs the program (each is opened without blocking and must be a regular file);
/// `/dev/zero` as suppressions is refused, not read until memory runs out; and no setting
/// can put a raw control character (a forged `pinguard:` line) into pinguard's messages.
#[test]
fn fifos_devices_and_control_characters_in_settings_are_refused_in_one_line() {
    let setup = support::fake_setup();
    let dir = support::profile_dir().join("odd-files");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { mkfifo(c.as_ptr(), 0o644) }, 0);
    let program = app(setup, "dynamic", "pageable_h2d");
    let run = |options: String| {
        let mut child = Command::new(&program)
            .env("LD_PRELOAD", &setup.lib)
            .env("LD_LIBRARY_PATH", setup.library_path.as_ref().unwrap())
            .env("PINGUARD_OPTIONS", options)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(20) {
                let _ = child.kill();
                panic!("the program hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    for (options, said) in [
        (format!("log_path={}", fifo.display()), "it is not a regular file"),
        (format!("suppressions={}", fifo.display()), "not a regular file"),
        ("suppressions=/dev/zero".into(), "not a regular file"),
    ] {
        let o = run(options.clone());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{options}: {err}");
        assert!(err.contains(said), "{options}: {err}");
        assert_eq!(err.matches("[verdict=pageable").count(), 1, "{options}: the finding still goes to stderr: {err}");
    }
    // A path with a newline and an escape sequence: written escaped, on one line.
    let o = run(format!("log_path=\"{}/no/such/dir\npinguard: forged\u{1b}[31m/r.jsonl\"", dir.display()));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.lines().any(|l| l.starts_with("pinguard: forged")), "a forged line: {err}");
    assert!(!err.contains('\u{1b}'), "a raw escape reached stderr: {err}");
    assert!(err.contains("\\x0apinguard: forged\\x1b[31m"), "{err}");
}

unsafe extern "C" {
    fn mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
}
