//! Python call sites (issue 27): a Python program copies from pageable memory through
//! ctypes (fakecuda's runtime) at lines marked `# site: NAME` in
//! testing/apps/python/copies.py, from nested functions, two lines of one function, a
//! loop, a thread (ctypes releases the GIL), a call that keeps the GIL, a generator, a
//! coroutine, a method and a forked child. Each marked line must be one site whose
//! location is that line of that file, in the function that holds it; no other site.
//! On every CPython 3.10+ found here (Debian's python3 in CI; pyenv's versions where
//! present).

#[path = "../../testing/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn interpreters() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = vec![PathBuf::from("/usr/bin/python3")];
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(home.join(".pyenv/versions")) {
        let mut more: Vec<PathBuf> =
            entries.flatten().map(|e| e.path().join("bin/python3")).filter(|p| p.exists()).collect();
        more.sort();
        found.extend(more);
    }
    found.retain(|p| {
        Command::new(p)
            .args(["-c", "import sys; sys.exit(0 if sys.version_info[:2] >= (3, 10) else 1)"])
            .status()
            .is_ok_and(|s| s.success())
    });
    found
}

/// `python ARGS...` under the built library, on fakecuda, with `options` as
/// `PINGUARD_OPTIONS` where given.
fn under_pinguard(python: &Path, args: &[&OsStr], options: Option<String>) -> Output {
    let setup = support::fake_setup();
    let mut cmd = Command::new(python);
    cmd.args(args).env("LD_PRELOAD", &setup.lib).env("LD_LIBRARY_PATH", setup.library_path.as_ref().unwrap());
    if let Some(o) = options {
        cmd.env("PINGUARD_OPTIONS", o);
    }
    cmd.output().unwrap()
}

/// An empty folder for one test's reports.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = support::fake_setup().reports.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `log_path` into `dir`, one report per process.
fn log_into(dir: &Path) -> String {
    format!("log_path={}/pinguard.%p.jsonl", dir.display())
}

/// The marked lines of the script: name -> (line, function holding it).
fn marks(script: &str) -> BTreeMap<String, (u32, String)> {
    let mut function = String::from("<module>");
    let mut class = String::new();
    let mut out = BTreeMap::new();
    for (i, line) in script.lines().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        if let Some(rest) = t.strip_prefix("class ") {
            class = rest.split(['(', ':']).next().unwrap_or("").to_string();
        } else if let Some(rest) = t.strip_prefix("def ").or_else(|| t.strip_prefix("async def ")) {
            let name = rest.split('(').next().unwrap_or("");
            function = if indent > 0 && !class.is_empty() { format!("{class}.{name}") } else { name.to_string() };
        } else if indent == 0 && !t.is_empty() && !t.starts_with('#') {
            function = "<module>".into();
        }
        if let Some(name) = line.split("# site: ").nth(1).map(str::trim)
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            out.insert(name.to_string(), ((i + 1) as u32, function.clone()));
        }
    }
    out
}

#[test]
fn each_marked_python_line_is_its_own_site_on_every_interpreter_found() {
    let script = support::repo_root().join("testing/apps/python/copies.py");
    let want = marks(&std::fs::read_to_string(&script).unwrap());
    assert_eq!(want.len(), 10, "{want:?}");
    let pythons = interpreters();
    assert!(!pythons.is_empty(), "no CPython 3.10+ found");
    for python in &pythons {
        let dir = fresh_dir(&format!("python-{}", python.display().to_string().replace('/', "_")));
        let out = under_pinguard(python, &[script.as_os_str(), OsStr::new("--fork")], Some(log_into(&dir)));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("copies.py: ok"),
            "{}: {stderr}",
            python.display()
        );
        let run = pinguard_report::merge::run(std::slice::from_ref(&dir)).unwrap();
        let mut seen: BTreeMap<String, u64> = BTreeMap::new();
        for site in run.sites() {
            let at =
                site.location.as_ref().unwrap_or_else(|| panic!("{}: a site without a location", python.display()));
            let (file, line, function) =
                (at.file.as_deref().unwrap_or(""), at.line.unwrap_or(0), at.function.as_deref().unwrap_or(""));
            assert!(
                Path::new(file).ends_with("testing/apps/python/copies.py"),
                "{}: located in {file}: {}",
                python.display(),
                at.text()
            );
            let name = want
                .iter()
                .find(|(_, (l, _))| *l == line)
                .map(|(n, (_, f))| {
                    // 3.10's code objects have no qualified name (`forward`, not `Model.forward`).
                    let plain = f.rsplit('.').next().unwrap_or(f);
                    assert!(
                        function == f || function == plain,
                        "{}: line {line}: {function}, not {f}",
                        python.display()
                    );
                    n.clone()
                })
                .unwrap_or_else(|| panic!("{}: a site at an unmarked line: {}", python.display(), at.text()));
            assert_eq!(at.kind, "interpreted");
            *seen.entry(name).or_default() += site.totals.count;
        }
        let names: Vec<&String> = seen.keys().collect();
        assert_eq!(names, want.keys().collect::<Vec<_>>(), "{}: the sites found", python.display());
        assert_eq!(seen["loop"], 100, "{}: one line copying 100 times is one site", python.display());
        // The first call names its thread (the worker named itself `copier`).
        let thread_line = want["thread"].0;
        let worker =
            run.sites().iter().find(|s| s.location.as_ref().and_then(|l| l.line) == Some(thread_line)).unwrap();
        let named: Vec<Option<String>> = run
            .processes
            .iter()
            .flat_map(|p| p.sites.values())
            .filter(|s| s.fingerprint == worker.fingerprint)
            .map(|s| s.first.thread.clone())
            .collect();
        assert_eq!(named, [Some("copier".to_string())], "{}", python.display());
        assert_eq!(seen["generator"], 2, "{}", python.display());
        eprintln!("{}: {} sites, each at its line", python.display(), seen.len());
    }
}

/// A Python whose layout pinguard has not checked (3.9 here, where pyenv has one; 3.14,
/// a free-threaded build or PyPy elsewhere): no interpreter memory is read, the findings
/// keep their native frames, and one line says so.
#[test]
fn an_unchecked_python_version_gets_native_frames_and_one_line() {
    let script = support::repo_root().join("testing/apps/python/copies.py");
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(home.join(".pyenv/versions")) else { return };
    let old: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("3.9.") || n.starts_with("3.8.")))
        .map(|e| e.path().join("bin/python3"))
        .filter(|p| p.exists())
        .collect();
    for python in old {
        let out = under_pinguard(&python, &[script.as_os_str()], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", python.display());
        let said =
            stderr.lines().filter(|l| l.contains("frames are not read (pinguard reads those of 3.10 to 3.13)")).count();
        assert_eq!(said, 1, "{}: {stderr}", python.display());
        assert!(!stderr.contains("copies.py:"), "{}: no Python frame may appear: {stderr}", python.display());
        assert!(stderr.contains("pageable"), "{}: the findings are still made", python.display());
    }
}

/// Suppressions name Python functions and files as they name native ones: `function:`
/// and `source:` match the Python frames too.
#[test]
fn suppressions_match_python_functions_and_files() {
    let script = support::repo_root().join("testing/apps/python/copies.py");
    let dir = fresh_dir("python-suppressions");
    let rules = dir.join("rules.txt");
    std::fs::write(&rules, "function:two_lines\nsource:*/python/copies.py function:Model.forward\n").unwrap();
    let options = format!("{}:suppressions={}", log_into(&dir), rules.display());
    let out = under_pinguard(Path::new("/usr/bin/python3"), &[script.as_os_str()], Some(options));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let run = pinguard_report::merge::run(std::slice::from_ref(&dir)).unwrap();
    let functions = |suppressed: bool| -> Vec<String> {
        let mut f: Vec<String> = run
            .sites()
            .iter()
            .filter(|s| s.suppressed == suppressed)
            .filter_map(|s| s.location.as_ref()?.function.clone())
            .collect();
        f.sort();
        f
    };
    assert_eq!(functions(true), ["Model.forward", "two_lines", "two_lines"], "{stderr}");
    assert!(!functions(false).iter().any(|f| f == "two_lines" || f == "Model.forward"));
    assert_eq!(functions(false).len(), 6, "the other sites (no fork here): {:?}", functions(false));
}

/// The advice is the framework's whose code made the copy: a copy made from a module in
/// a `jax/` package gets JAX's advice, one from the script itself (in a process that
/// loaded no framework) the CUDA advice; each site says its own.
#[test]
fn the_advice_follows_the_framework_in_the_copys_stack() {
    let dir = fresh_dir("python-advice");
    std::fs::create_dir_all(dir.join("pkg/jax")).unwrap();
    std::fs::write(dir.join("pkg/jax/__init__.py"), "").unwrap();
    std::fs::write(
        dir.join("pkg/jax/transfer.py"),
        "def put(rt, device, host, size):\n    rt.cudaMemcpyAsync(device, host, size, 1, None)\n",
    )
    .unwrap();
    let script = dir.join("main.py");
    std::fs::write(
        &script,
        "import ctypes, sys\n\
         sys.path.insert(0, sys.argv[1])\n\
         from jax import transfer\n\
         rt = ctypes.CDLL('libcudart.so.13')\n\
         rt.cudaMemcpyAsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]\n\
         rt.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]\n\
         d = ctypes.c_void_p()\n\
         assert rt.cudaMalloc(ctypes.byref(d), 4096) == 0\n\
         h = ctypes.create_string_buffer(4096)\n\
         transfer.put(rt, d, h, 4096)\n\
         rt.cudaMemcpyAsync(d, h, 4096, 1, None)\n",
    )
    .unwrap();
    let pkg = dir.join("pkg");
    let out =
        under_pinguard(Path::new("/usr/bin/python3"), &[script.as_os_str(), pkg.as_os_str()], Some(log_into(&dir)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let run = pinguard_report::merge::run(std::slice::from_ref(&dir)).unwrap();
    let mut advice: Vec<(u32, &str)> = run
        .sites()
        .iter()
        .map(|s| (s.location.as_ref().and_then(|l| l.line).unwrap_or(0), s.advice.as_str()))
        .collect();
    advice.sort();
    assert_eq!(advice.len(), 2, "{stderr}");
    assert!(advice[0].1.contains("pinned_host"), "the copy in jax/transfer.py: {advice:?}");
    assert!(advice[1].1.contains("cudaMallocHost"), "the script's own copy: {advice:?}");
}

/// A frame chain gone bad while a copy is made (testing/apps/python/bad_frames.py bends
/// the copying function's link to its caller: to unmapped memory, to garbage, to the
/// frame itself): no crash, no hang; the site is still the marked line, and its Python
/// frames end at the copying function (the cycle's repeat it, up to the depth), where the
/// intact case's reach the module. On every CPython 3.10+ found here.
#[test]
fn a_bad_frame_link_gives_a_shorter_stack_and_no_crash() {
    let script = support::repo_root().join("testing/apps/python/bad_frames.py");
    let want = marks(&std::fs::read_to_string(&script).unwrap());
    assert_eq!(want.len(), 4, "{want:?}");
    for python in &interpreters() {
        let version = Command::new(python)
            .args(["-c", "import sys; print(sys.version_info[1])"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<u8>().ok())
            .unwrap();
        let Some(layout) = pinguard_core::py_layout::for_version(3, version) else { continue };
        let dir = fresh_dir(&format!("python-bad-{}", python.display().to_string().replace('/', "_")));
        let previous = layout.frame_previous.to_string();
        let out = under_pinguard(python, &[script.as_os_str(), OsStr::new(&previous)], Some(log_into(&dir)));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("bad_frames.py: ok"),
            "{}: {}: {stderr}",
            python.display(),
            out.status
        );
        let run = pinguard_report::merge::run(std::slice::from_ref(&dir)).unwrap();
        let mut seen = Vec::new();
        for site in run.sites() {
            let line = site.location.as_ref().and_then(|l| l.line).unwrap_or(0);
            let (name, _) = want
                .iter()
                .find(|(_, (l, _))| *l == line)
                .unwrap_or_else(|| panic!("{}: a site at an unmarked line {line}: {stderr}", python.display()));
            let python_frames: Vec<&str> = site
                .frames
                .iter()
                .filter(|f| f.kind == "interpreted")
                .map(|f| f.function.as_deref().unwrap_or(""))
                .collect();
            match name.as_str() {
                "intact" => assert_eq!(python_frames, ["intact", "<module>"], "{}", python.display()),
                "cycle" => assert!(
                    !python_frames.is_empty() && python_frames.iter().all(|f| *f == "cycle"),
                    "{}: {python_frames:?}",
                    python.display()
                ),
                bent => assert_eq!(python_frames, [bent], "{}", python.display()),
            }
            seen.push(name.clone());
        }
        seen.sort();
        assert_eq!(seen, ["cycle", "garbage", "intact", "unmapped"], "{}: {stderr}", python.display());
    }
}
