//! `pinguard`: runs programs under libpinguard.so for CI, and renders their reports.
//!
//! ```text
//! pinguard run [options] -- program [args...]
//! pinguard report [FILES|DIRS...] [--format text|markdown|json|sarif|html] [-o OUT]
//! ```

mod exits;
mod locate;
mod program;
mod report_cmd;
mod run;
mod say;

use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pinguard_core::settings::Settings;

const BASELINE_HELP: &str = "count only findings at sites this baseline does not hold (a run folder, reports, or a baseline, JSON or SARIF file pinguard report wrote); sites are matched by function and file, so rebuilds that move code keep them";

/// Settings `pinguard run` sets itself (not offered as flags).
const SET_BY_RUN: &[&str] = &["log_path"];

fn cli() -> Command {
    let mut run = Command::new("run")
        .about("Run a program (and every process it starts) under pinguard; print the merged summary at the end")
        .arg(Arg::new("lib").long("lib").value_name("PATH").help("libpinguard.so (default: next to this command)"))
        .arg(
            Arg::new("report-dir")
                .long("report-dir")
                .value_name("DIR")
                .help("where every process writes its report (default: a new pinguard-report/run-* folder)"),
        )
        .arg(
            Arg::new("error-exitcode")
                .long("error-exitcode")
                .value_name("N")
                .value_parser(clap::value_parser!(u8))
                .help("exit with N if any finding was made (else with the program's own code)"),
        )
        .arg(
            Arg::new("allow-unwatched")
                .long("allow-unwatched")
                .action(ArgAction::SetTrue)
                .help("do not fail (exit 69) when a program ran without pinguard (a static binary, a setuid program, a child whose environment dropped the preload)"),
        )
        .arg(
            Arg::new("accept-partial")
                .long("accept-partial")
                .action(ArgAction::SetTrue)
                .help("read a killed process's report as far as it got (no summary, a cut last line) instead of failing the run as incomplete (exit 74)"),
        )
        .arg(Arg::new("baseline").long("baseline").value_name("PATH").help(BASELINE_HELP))
        .arg(
            Arg::new("options")
                .long("options")
                .value_name("OPTIONS")
                .help("PINGUARD_OPTIONS entries (key=value:...); the flags below take precedence"),
        )
        .arg(Arg::new("program").num_args(1..).required(true).last(true).value_name("PROGRAM [ARGS]"));
    // Every setting, declared once in pinguard-core, is also a flag: --min-bytes 4096.
    for s in Settings::table().into_iter().filter(|s| !SET_BY_RUN.contains(&s.name)) {
        let flag: &'static str = Box::leak(s.name.replace('_', "-").into_boxed_str());
        let help: &'static str =
            Box::leak(format!("{} [{}; default {}]", s.help, s.values.replace('`', ""), s.default).into_boxed_str());
        run = run.arg(Arg::new(s.name).long(flag).value_name("VALUE").help(help));
    }
    let report = Command::new("report")
        .about("Merge the reports of a run's processes and render them")
        .arg(
            Arg::new("paths")
                .num_args(0..)
                .value_name("FILES|DIRS")
                .help("report files or folders (default: the newest pinguard-report/run-*)"),
        )
        .arg(
            Arg::new("format")
                .long("format")
                .short('f')
                .default_value("text")
                .value_parser(["text", "markdown", "json", "sarif", "html", "baseline"])
                .help("baseline: the finding sites' keys, a file for --baseline"),
        )
        .arg(Arg::new("baseline").long("baseline").value_name("PATH").help(BASELINE_HELP))
        .arg(Arg::new("output").long("output").short('o').value_name("OUT").help("write here instead of stdout"))
        .arg(
            Arg::new("source-root")
                .long("source-root")
                .value_name("DIR")
                .help("make source paths under DIR relative to it, in every format (SARIF's paths are relative to the current folder without it)"),
        )
        .arg(
            Arg::new("accept-partial")
                .long("accept-partial")
                .action(ArgAction::SetTrue)
                .help("with --fail-on-findings: read a killed process's report as far as it got instead of failing as incomplete"),
        )
        .arg(
            Arg::new("allow-unwatched")
                .long("allow-unwatched")
                .action(ArgAction::SetTrue)
                .help("with --fail-on-findings: do not fail when the run had programs pinguard did not watch"),
        )
        .arg(
            Arg::new("top")
                .long("top")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .default_value("20")
                .help("sites listed in text and markdown"),
        )
        .arg(
            Arg::new("fail-on-findings")
                .long("fail-on-findings")
                .action(ArgAction::SetTrue)
                .help("exit 1 if the reports hold a finding, 69 if the run had a program pinguard did not watch, 74 if a report is not whole"),
        );
    Command::new("pinguard")
        .version(pinguard_core::VERSION_AND_COMMIT)
        .about("Finds CUDA async copies from pageable host memory (they block the host and run at 1/8 of pinned bandwidth)")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(run)
        .subcommand(report)
}

fn main() -> ExitCode {
    let matches = match cli().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { exits::USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match matches.subcommand() {
        Some(("run", m)) => run::main(m),
        Some(("report", m)) => report_cmd::main(m),
        _ => ExitCode::from(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_but_log_path_is_a_run_flag() {
        let run = cli().find_subcommand("run").unwrap().clone();
        for s in Settings::table() {
            let has = run.get_arguments().any(|a| a.get_id() == s.name);
            assert_eq!(has, !SET_BY_RUN.contains(&s.name), "{}", s.name);
        }
        cli().debug_assert();
    }
}
