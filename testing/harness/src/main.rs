//! `pinguard-manifest-run`: runs the built test apps under libpinguard.so and compares
//! them with the manifest. Used by `scripts/gpu/test.sh` on the GPU machine.
//!
//! ```text
//! pinguard-manifest-run --lib PATH --apps DIR [--manifest FILE] [--builds a,b]
//!                       [--modes log,abort] [--library-path DIR] [--options K=V:...]
//! pinguard-manifest-run --reliability --lib PATH --apps DIR [--builds dynamic,static]
//!                       [--quick] [--only NAME,...] [--library-path DIR]
//! ```
//! Prints a PASS/FAIL line per case and ends with `N passed, M failed`; exits 1 on any
//! failure, 2 on bad usage.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use std::process::ExitCode;

use pinguard_harness::reliability::{self, Scale};
use pinguard_harness::{ALL_BUILDS, RunMode, Setup, parse_manifest, run_manifest};

fn main() -> ExitCode {
    let m = match cli().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            // Help (exit 0) or a usage error (exit 2), as clap prints them.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match run(&m) {
        Ok(code) => code,
        Err(why) => {
            eprintln!("pinguard-manifest-run: {why}");
            ExitCode::from(2)
        }
    }
}

fn cli() -> Command {
    let list = |name: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name("A,B").value_delimiter(',').help(help)
    };
    Command::new("pinguard-manifest-run")
        .about("Runs the built test apps under libpinguard.so and compares them with the manifest")
        .arg(Arg::new("lib").long("lib").value_name("PATH").required(true).help("the libpinguard.so to preload"))
        .arg(Arg::new("apps").long("apps").value_name("DIR").required(true).help("the built test apps"))
        .arg(Arg::new("manifest").long("manifest").value_name("FILE").help("default: testing/apps/manifest.txt"))
        .arg(Arg::new("library-path").long("library-path").value_name("DIR").help("prepended to LD_LIBRARY_PATH"))
        .arg(Arg::new("options").long("options").value_name("K=V:...").help("appended to PINGUARD_OPTIONS"))
        .arg(list("builds", "the builds to run (default: all; --reliability: dynamic,static)"))
        .arg(list("modes", "log, abort (default: both)").value_parser(["log", "abort"]))
        .arg(
            Arg::new("reliability")
                .long("reliability")
                .action(ArgAction::SetTrue)
                .help("run the reliability scenarios"),
        )
        .arg(Arg::new("quick").long("quick").action(ArgAction::SetTrue).help("fewer rounds of each scenario"))
        .arg(list("only", "these scenarios only"))
}

fn run(m: &ArgMatches) -> Result<ExitCode, String> {
    let path = |name: &str| m.get_one::<String>(name).map(PathBuf::from);
    let strings = |name: &str| m.get_many::<String>(name).map(|v| v.cloned().collect::<Vec<_>>());
    let (lib, apps) = (path("lib").unwrap_or_default(), path("apps").unwrap_or_default());
    let (manifest, library_path) = (path("manifest"), path("library-path"));
    let extra_options = m.get_one::<String>("options").cloned();
    let builds = strings("builds").unwrap_or_else(|| ALL_BUILDS.iter().map(|s| s.to_string()).collect());
    let modes = strings("modes").map_or(vec![RunMode::Log, RunMode::Abort], |v| {
        v.iter().map(|m| if m == "log" { RunMode::Log } else { RunMode::Abort }).collect()
    });
    let reliability_mode = m.get_flag("reliability");
    let scale = if m.get_flag("quick") { Scale::Quick } else { Scale::Full };
    let only = strings("only").unwrap_or_default();
    let reports = std::env::temp_dir().join("pinguard-manifest-reports");
    if reliability_mode {
        let setup = Setup { lib, apps, library_path, extra_options, extra_env: Vec::new(), reports };
        let builds: Vec<&str> =
            builds.iter().map(String::as_str).filter(|b| ["dynamic", "static"].contains(b)).collect();
        let tally = reliability::run_all(&setup, &builds, scale, &only, |line| println!("{line}"));
        println!("{} passed, {} failed", tally.passed, tally.failures.len());
        return Ok(if tally.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let manifest = manifest.unwrap_or_else(|| PathBuf::from("testing/apps/manifest.txt"));
    let text = std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let cases = parse_manifest(&text)?;
    let setup = Setup {
        lib,
        apps,
        library_path,
        extra_options,
        extra_env: Vec::new(),
        reports: std::env::temp_dir().join("pinguard-manifest-reports"),
    };
    let builds: Vec<&str> = builds.iter().map(String::as_str).collect();
    let tally = run_manifest(&setup, &cases, &builds, &modes, |line| println!("{line}"));
    println!("copies checked in these runs: {}; disagreements with the driver: {}", tally.checked, tally.disagreements);
    println!("{} passed, {} failed", tally.passed, tally.failures.len());
    Ok(if tally.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
