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
use std::process::ExitCode;

use pinguard_harness::reliability::{self, Scale};
use pinguard_harness::{ALL_BUILDS, RunMode, Setup, parse_manifest, run_manifest};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(why) => {
            eprintln!("pinguard-manifest-run: {why}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut args = std::env::args().skip(1);
    let (mut lib, mut apps, mut manifest, mut library_path, mut extra_options) = (None, None, None, None, None);
    let mut builds: Vec<String> = ALL_BUILDS.iter().map(|s| s.to_string()).collect();
    let mut modes = vec![RunMode::Log, RunMode::Abort];
    let (mut reliability_mode, mut scale, mut only) = (false, Scale::Full, Vec::new());
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--lib" => lib = Some(PathBuf::from(value()?)),
            "--apps" => apps = Some(PathBuf::from(value()?)),
            "--manifest" => manifest = Some(PathBuf::from(value()?)),
            "--library-path" => library_path = Some(PathBuf::from(value()?)),
            "--options" => extra_options = Some(value()?),
            "--builds" => builds = value()?.split(',').map(str::to_string).collect(),
            "--reliability" => reliability_mode = true,
            "--quick" => scale = Scale::Quick,
            "--only" => only = value()?.split(',').map(str::to_string).collect(),
            "--modes" => {
                modes = value()?
                    .split(',')
                    .map(|m| match m {
                        "log" => Ok(RunMode::Log),
                        "abort" => Ok(RunMode::Abort),
                        _ => Err(format!("unknown mode '{m}' (log, abort)")),
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => return Err(format!("unknown argument '{flag}'")),
        }
    }
    let lib = lib.ok_or("--lib is required")?;
    let apps = apps.ok_or("--apps is required")?;
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
