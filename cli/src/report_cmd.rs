//! `pinguard report [FILES|DIRS...] --format text|markdown|json|sarif|html [-o OUT]`:
//! merges the reports of a run's processes and renders them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ArgMatches;
use pinguard_report::{merge, render};

use crate::say::say;

pub fn main(m: &ArgMatches) -> ExitCode {
    match report(m) {
        Ok(code) => code,
        Err(why) => {
            say(&why);
            ExitCode::from(2)
        }
    }
}

/// The newest `pinguard-report/run-*` folder.
fn newest_run() -> Result<PathBuf, String> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir("pinguard-report")
        .map_err(|_| "no report given, and no pinguard-report folder here (pinguard run makes one)".to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("run-")))
        .collect();
    runs.sort();
    runs.pop().ok_or_else(|| "no run in pinguard-report".to_string())
}

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
    let run = merge::run(&paths).map_err(|e| format!("cannot read the reports: {e}"))?;
    if run.files.is_empty() {
        return Err(format!(
            "no report files (*.jsonl) in {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    if run.bad_lines > 0 {
        say(&format!(
            "{} lines were not whole records (a process killed while writing?); the rest was read",
            run.bad_lines
        ));
    }
    if let Some(v) = run.unknown_schema {
        say(&format!(
            "a report has schema version {v}, newer than this pinguard reads ({}); its records may be incomplete",
            pinguard_core::events::SCHEMA
        ));
    }
    let top = *m.get_one::<usize>("top").unwrap_or(&20);
    let root = m
        .get_one::<String>("source-root")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let text = match m.get_one::<String>("format").map(String::as_str).unwrap_or("text") {
        "markdown" => render::markdown::render(&run, top),
        "json" => render::json::render(&run),
        "sarif" => render::sarif::render(&run, &root),
        "html" => render::html::render(&run),
        _ => render::text::render(&run, top),
    };
    match m.get_one::<String>("output") {
        Some(out) => std::fs::write(out, text).map_err(|e| format!("cannot write {out}: {e}"))?,
        None => print!("{text}"),
    }
    let fail = m.get_flag("fail-on-findings") && run.totals().findings > 0;
    Ok(if fail { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
