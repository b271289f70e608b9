//! Every test app, in every build, against fakecuda: the findings must equal the
//! manifest exactly, in log mode and in abort mode.

mod support;

use pinguard_harness::{RunMode, parse_manifest, run_manifest};

fn check(build: &str, mode: RunMode) {
    check_with(build, mode, None);
}

fn check_with(build: &str, mode: RunMode, extra_options: Option<&str>) {
    let mut setup = support::fake_setup().clone();
    setup.extra_options = extra_options.map(str::to_string);
    let setup = &setup;
    let text = std::fs::read_to_string(support::repo_root().join("test-apps/manifest.txt")).unwrap();
    let cases = parse_manifest(&text).unwrap();
    let tally = run_manifest(setup, &cases, &[build], &[mode], |_| {});
    assert!(tally.passed > 0, "no case ran for {build}");
    assert!(tally.failures.is_empty(), "{} failed:\n{}", tally.failures.len(), tally.failures.join("\n\n"));
}

#[test]
fn dynamic_runtime_log() {
    check("dynamic", RunMode::Log);
}

#[test]
fn dynamic_runtime_abort() {
    check("dynamic", RunMode::Abort);
}

#[test]
fn static_runtime_log() {
    check("static", RunMode::Log);
}

#[test]
fn static_runtime_abort() {
    check("static", RunMode::Abort);
}

#[test]
fn driver_api_log() {
    check("driver", RunMode::Log);
}

#[test]
fn driver_api_abort() {
    check("driver", RunMode::Abort);
}

#[test]
fn dlopen_dlsym_log() {
    check("dlsym", RunMode::Log);
}

#[test]
fn dlopen_dlsym_abort() {
    check("dlsym", RunMode::Abort);
}

/// The differential self-check: every verdict agrees with the (fake) driver's answer.
#[test]
fn every_verdict_agrees_with_the_driver() {
    for build in ["dynamic", "static", "driver", "dlsym"] {
        check_with(build, RunMode::Log, Some("verify_with_driver=1"));
    }
}
