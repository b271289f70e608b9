//! `pinguard report [FILES|DIRS...] --format text|markdown|json|sarif|html [-o OUT]`:
//! merges the reports of a run's processes and renders them.
//!
//! A report that is not whole is said, file and line, and `--fail-on-findings` fails on
//! it (74) as on a finding (1) or on a program the run did not watch (69); files that
//! are not pinguard reports are an error (2), never data. A folder with no report
//! renders a valid, empty report in every format.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ArgMatches;
use pinguard_report::gate::Verdict;
use pinguard_report::merge;
use pinguard_report::read::plural;
use pinguard_report::render;

use crate::exits;
use crate::say::say;

pub fn main(m: &ArgMatches) -> ExitCode {
    match report(m) {
        Ok(code) => code,
        Err(why) => {
            say(&why);
            ExitCode::from(exits::USAGE)
        }
    }
}

/// The newest `pinguard-report/run-*` folder that holds reports (a folder left empty by
/// an interrupted run is passed over).
fn newest_run() -> Result<PathBuf, String> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir("pinguard-report")
        .map_err(|_| "no report given, and no pinguard-report folder here (pinguard run makes one)".to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("run-")))
        .filter(|p| pinguard_report::read::files_in(std::slice::from_ref(p)).is_ok_and(|f| !f.is_empty()))
        .collect();
    runs.sort();
    runs.pop().ok_or_else(|| "no run with reports in pinguard-report".to_string())
}

/// At most this many problem lines are said; the rest are counted.
const PROBLEM_LINES: usize = 10;

fn report(m: &ArgMatches) -> Result<ExitCode, String> {
    let paths: Vec<PathBuf> = match m.get_many::<String>("paths") {
        Some(p) => p.map(PathBuf::from).collect(),
        None => vec![newest_run()?],
    };
    for p in &paths {
        if !p.exists() {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    let root = match m.get_one::<String>("source-root") {
        Some(r) => {
            let r = PathBuf::from(r);
            if !r.is_dir() {
                return Err(format!("--source-root {}: no such folder", r.display()));
            }
            Some(std::fs::canonicalize(&r).unwrap_or(r))
        }
        None => None,
    };
    let mut run = merge::run(&paths).map_err(|e| e.to_string())?;
    run.policy.accept_partial |= m.get_flag("accept-partial");
    run.policy.allow_unwatched |= m.get_flag("allow-unwatched");
    if let Some(b) = m.get_one::<String>("baseline") {
        run.set_baseline(pinguard_report::baseline::load(Path::new(b))?);
    }
    if let Some(root) = &root {
        run.relativize(root);
    }
    let names = || paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    if run.files.is_empty() {
        say(&format!("no report files (*.jsonl) in {}: rendering an empty report", names()));
    }
    let outcome = run.outcome();
    for p in outcome.failing_problems.iter().take(PROBLEM_LINES) {
        say(&format!("report not whole: {}", p.text()));
    }
    if outcome.failing_problems.len() > PROBLEM_LINES {
        say(&format!("... and {} more", plural((outcome.failing_problems.len() - PROBLEM_LINES) as u64, "problem")));
    }
    if let Some(v) = run.unknown_schema {
        say(&format!(
            "a report has schema version {v}, which this pinguard ({}) does not know; its records may be read incompletely",
            pinguard_core::records::SCHEMA
        ));
    }
    let top = *m.get_one::<usize>("top").unwrap_or(&20);
    let sarif_root = root.clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let format = m.get_one::<String>("format").map(String::as_str).unwrap_or("text");
    // Written as it is rendered (SARIF, JSON and HTML site by site): a run of many sites
    // is never one string in memory.
    let render_into = |out: &mut dyn std::io::Write| -> std::io::Result<()> {
        match format {
            "markdown" => out.write_all(render::markdown::render(&run, top).as_bytes()),
            "json" => render::json::write(&run, out),
            "sarif" => render::sarif::write(&run, &sarif_root, out),
            "html" => render::html::write(&run, out),
            "baseline" => out.write_all(pinguard_report::baseline::render(run.sites()).as_bytes()),
            _ => out.write_all(render::text::render(&run, top).as_bytes()),
        }
    };
    match m.get_one::<String>("output") {
        Some(out) => {
            let path = Path::new(out);
            let mut file = std::io::BufWriter::new(open_output(path)?);
            render_into(&mut file)
                .and_then(|_| file.flush())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            let _ = render_into(&mut lock).and_then(|_| lock.flush());
        }
    }
    if !m.get_flag("fail-on-findings") {
        return Ok(ExitCode::SUCCESS);
    }
    let code = match outcome.verdict {
        Verdict::Findings => exits::FINDINGS_REPORT,
        Verdict::NotWatched => exits::NOT_WATCHED,
        Verdict::Incomplete => exits::INCOMPLETE,
        Verdict::Clean if run.files.is_empty() => {
            say("--fail-on-findings: no report was read, so the run cannot be called clean");
            exits::INCOMPLETE
        }
        Verdict::Clean => 0,
    };
    Ok(ExitCode::from(code))
}

/// Opens the output, never through a symbolic link someone planted at the path.
fn open_output(out: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(out)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => {
                format!("cannot write {}: it is a symbolic link, which pinguard does not follow", out.display())
            }
            _ => format!("cannot write {}: {e}", out.display()),
        })
}
