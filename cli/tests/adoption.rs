//! For people who adopt pinguard (issue 25): a baseline that survives rebuilds, the
//! README's GitHub Actions workflow (parsed, and every pinguard command in it checked
//! against the command's own parser), and launchers' ranks writing reports of their own.
//! The wheel, the glibc 2.17 build, the release tarball and `cargo install` are checked
//! by CI itself (`.ci/run`), which builds and installs each and runs the demo through it.

#[path = "../../testing/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PINGUARD: &str = env!("CARGO_BIN_EXE_pinguard");

fn scratch(name: &str) -> PathBuf {
    let d = support::profile_dir().join("adoption-tests").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run(cwd: &Path, flags: &[&str], program: &[&str]) -> Output {
    let setup = support::fake_setup();
    Command::new(PINGUARD)
        .current_dir(cwd)
        .arg("run")
        .arg("--lib")
        .arg(support::lib_path())
        .args(flags)
        .arg("--")
        .args(program)
        .env("LD_LIBRARY_PATH", setup.library_path.as_ref().unwrap())
        .env_remove("PINGUARD_OPTIONS")
        .output()
        .unwrap()
}

/// A small program against fakecuda's shared runtime, from `source`, as `app.cpp` in a
/// folder of its own (a rebuild keeps the file's name).
fn build(dir: &Path, name: &str, source: &str) -> PathBuf {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("app.cpp");
    std::fs::write(&src, source).unwrap();
    let fake = support::fake_setup().library_path.clone().unwrap();
    let include = support::repo_root().join("testing/apps");
    support::compile(
        "g++",
        &[
            "-std=c++17",
            "-O1",
            "-g",
            "-Wno-deprecated-declarations",
            &format!("-I{}", include.display()),
            &format!("-I{}", support::cuda_include()),
            src.to_str().unwrap(),
            &format!("-L{}", fake.display()),
            "-lcudart",
            "-lpthread",
        ],
        &dir.join("app"),
    )
}

const APP: &str = r#"#include "testkit.h"
// HEADER
__attribute__((noinline)) void upload(std::vector<unsigned char> &h, void *dev, tk_stream s) {
    TK_CHECK(tk_memcpy_async(dev, h.data(), h.size(), TK_H2D, s));
}
// MORE
int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(4096);
    std::vector<unsigned char> h(4096, 1);
    upload(h, dev, s);
    // CALL
    tk_stream_sync(s);
    tk_done("baseline_app");
}
"#;

/// A baseline taken from one build still holds its sites after a rebuild that moved
/// every line and address; a new copy in a new function is new, and fails the gate.
#[test]
fn a_baseline_survives_rebuilds_that_move_code_and_catches_new_sites() {
    let dir = scratch("baseline");
    let v1 = build(&dir, "v1", APP);
    let moved = APP
        .replace(
            "// HEADER",
            "// a comment\n// pushing\n// every line\n// down\n\nstatic int spare(int x) { return x * 3; }\n",
        )
        .replace("// MORE", "__attribute__((noinline)) int helper(int x) { return x + 1; }\n// MORE");
    let v2 = build(&dir, "v2", &moved);
    let added = moved
        .replace(
            "// MORE",
            "__attribute__((noinline)) void download(std::vector<unsigned char> &h, void *dev, tk_stream s) {\n    TK_CHECK(tk_memcpy_async(h.data(), dev, h.size(), TK_D2H, s));\n}\n",
        )
        .replace("// CALL", "download(h, dev, s);");
    let v3 = build(&dir, "v3", &added);
    assert!(run(&dir, &["--report-dir", "b1"], &[v1.to_str().unwrap()]).status.success());
    // The baseline as a file a team commits.
    let b = Command::new(PINGUARD)
        .current_dir(&dir)
        .args(["report", "b1", "--format", "baseline", "-o", "baseline.json"])
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", stderr(&b));
    for baseline in ["b1", "baseline.json"] {
        let o = run(
            &dir,
            &["--report-dir", &format!("r2-{baseline}"), "--baseline", baseline, "--error-exitcode", "3"],
            &[v2.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(0), "{baseline}: the moved build's site is known: {}", stderr(&o));
        assert!(stderr(&o).contains("no new finding (1 finding known from the baseline)"), "{}", stderr(&o));
        let o = run(
            &dir,
            &["--report-dir", &format!("r3-{baseline}"), "--baseline", baseline, "--error-exitcode", "3"],
            &[v3.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(3), "{baseline}: the new site fails: {}", stderr(&o));
        assert!(
            stderr(&o).contains("findings: 1 new finding at 1 site not in the baseline (1 known from it)"),
            "{}",
            stderr(&o)
        );
    }
    // pinguard report reads against it too, and its SARIF says which results are new.
    let o = Command::new(PINGUARD)
        .current_dir(&dir)
        .args([
            "report",
            "r3-b1",
            "--baseline",
            "baseline.json",
            "--fail-on-findings",
            "--format",
            "sarif",
            "-o",
            "r3.sarif",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r3.sarif")).unwrap()).unwrap();
    let mut states: Vec<&str> =
        sarif["runs"][0]["results"].as_array().unwrap().iter().map(|r| r["baselineState"].as_str().unwrap()).collect();
    states.sort();
    assert_eq!(states, ["new", "unchanged"]);
    // Without the baseline, the moved build's site counts as a finding: the check can fail.
    let o = run(&dir, &["--report-dir", "r2-none", "--error-exitcode", "3"], &[v2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
}

/// The README's GitHub Actions example: it parses as YAML, its steps run pinguard with a
/// baseline and an exit code, upload SARIF and comment the Markdown summary, and every
/// pinguard command line in it is accepted by the command's own parser.
#[test]
fn the_readme_github_workflow_parses_and_its_pinguard_commands_are_valid() {
    let readme = std::fs::read_to_string(support::repo_root().join("README.md")).unwrap();
    let start = readme.find("```yaml\nname: pinguard").expect("the README's workflow block");
    let block = &readme[start + "```yaml\n".len()..];
    let block = &block[..block.find("\n```").unwrap()];
    let docs = yaml_rust2::YamlLoader::load_from_str(block).expect("the workflow is YAML");
    let job = docs[0]["jobs"].as_hash().and_then(|h| h.values().next()).expect("a job").clone();
    let steps = job["steps"].as_vec().expect("steps").clone();
    let runs: Vec<String> = steps.iter().filter_map(|s| s["run"].as_str().map(str::to_string)).collect();
    let uses: Vec<String> = steps.iter().filter_map(|s| s["uses"].as_str().map(str::to_string)).collect();
    assert!(uses.iter().any(|u| u.starts_with("github/codeql-action/upload-sarif")), "{uses:?}");
    let lines: Vec<&str> =
        runs.iter().flat_map(|r| r.lines()).map(str::trim).filter(|l| l.starts_with("pinguard ")).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("pinguard run ") && l.contains("--baseline") && l.contains("--error-exitcode")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("--format sarif")) && lines.iter().any(|l| l.contains("--format markdown")),
        "{lines:?}"
    );
    assert!(
        runs.iter().any(|r| r.contains("gh pr comment") && r.contains("pinguard.md")),
        "the Markdown summary is commented"
    );
    for line in lines {
        // The flags before the program (or the whole line), then --help: clap rejects an
        // unknown flag or a bad value before it prints the help.
        let words: Vec<String> = line.split_whitespace().skip(1).map(|w| w.trim_matches('"').to_string()).collect();
        let end = words.iter().position(|w| w == "--").unwrap_or(words.len());
        let mut args: Vec<String> = words[..end].to_vec();
        args.push("--help".into());
        let o = Command::new(PINGUARD).args(&args).output().unwrap();
        assert!(o.status.success(), "`{line}` is not a valid pinguard command: {}", stderr(&o));
    }
}

/// Launchers' ranks: under a real `mpirun` (Open MPI, from Debian), each of three ranks
/// on one machine writes its own report, named by host and rank, and the merge counts
/// them.
#[test]
fn each_rank_of_mpirun_writes_its_own_report() {
    let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].into_iter().find(|p| Path::new(p).exists());
    let mpirun = mpirun.expect("mpirun is missing: scripts/setup.sh installs Open MPI (Debian's openmpi-bin)");
    let dir = scratch("mpirun");
    let app = support::fake_setup().apps.join("dynamic/pageable_h2d");
    let o = run(
        &dir,
        &["--report-dir", "r", "--error-exitcode", "3"],
        &[mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "3", app.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let mut ranked: Vec<String> = std::fs::read_dir(dir.join("r"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.split('.')
                .any(|part| part.len() > 1 && part.starts_with('r') && part[1..].bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    ranked.sort();
    assert_eq!(ranked.len(), 3, "{ranked:?}");
    for (i, n) in ranked.iter().enumerate() {
        assert!(n.ends_with(&format!(".r{i}.jsonl")), "{n}");
    }
    let run = pinguard_report::merge::run(&[dir.join("r")]).unwrap();
    let mut ranks: Vec<Option<u32>> = run.processes.iter().map(|p| p.rank).collect();
    ranks.sort();
    assert_eq!(ranks, [Some(0), Some(1), Some(2)]);
    assert_eq!(run.totals().findings, 3);
    assert!(stderr(&o).contains("3 made CUDA calls"), "{}", stderr(&o));
}

/// `pinguard report` merges the folders of several hosts and says how many.
#[test]
fn report_merges_many_hosts_and_says_so() {
    let dir = scratch("hosts");
    let app = support::fake_setup().apps.join("dynamic/pageable_h2d");
    for host in ["node1", "node2"] {
        assert_eq!(run(&dir, &["--report-dir", host], &[app.to_str().unwrap()]).status.code(), Some(0));
        // Stand for another machine: its records carry its own host name.
        for f in std::fs::read_dir(dir.join(host)).unwrap() {
            let p = f.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            let here = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
            std::fs::write(&p, text.replace(&format!("\"host\":\"{here}\""), &format!("\"host\":\"{host}\""))).unwrap();
        }
    }
    let o = Command::new(PINGUARD).current_dir(&dir).args(["report", "node1", "node2"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("2 processes watched on 2 hosts"), "{out}");
}
