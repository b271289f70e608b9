//! Every test app, in every build, against fakecuda: the findings must equal the
//! manifest exactly, in log mode and in abort mode.

#[path = "../../testing/support/mod.rs"]
mod support;

use pinguard_harness::{RunMode, check_case, check_no_disagreement, parse_manifest, run_manifest, run_program};

fn check(build: &str, mode: RunMode) {
    check_with(build, mode, None);
}

fn check_with(build: &str, mode: RunMode, extra_options: Option<&str>) {
    let mut setup = support::fake_setup().clone();
    setup.extra_options = extra_options.map(str::to_string);
    let setup = &setup;
    let text = std::fs::read_to_string(support::repo_root().join("testing/apps/manifest.txt")).unwrap();
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

/// The differential check can fail: against a driver that lies about one pinned range
/// (fakecuda's test-only switch), a copy from that range must fail the check, in the
/// manifest runner and in the plain disagreement check alike.
#[test]
fn the_differential_check_fails_against_a_lying_driver() {
    let mut setup = support::fake_setup().clone();
    setup.extra_options = Some("verify_with_driver=1".into());
    let text = std::fs::read_to_string(support::repo_root().join("testing/apps/manifest.txt")).unwrap();
    let cases = parse_manifest(&text).unwrap();
    let case = cases.iter().find(|c| c.app == "malloc_host").expect("malloc_host is in the manifest");
    // Honest driver: passes.
    check_case(&setup, case, "dynamic", RunMode::Log).expect("an honest driver agrees");
    // Lying driver: fails, and says why.
    setup.extra_env = vec![("FAKECUDA_TEST_LIE".into(), "first-pinned".into())];
    let err = check_case(&setup, case, "dynamic", RunMode::Log).expect_err("a lying driver must fail the check");
    assert!(err.contains("the driver disagreed with"), "{err}");
    let program = setup.apps.join("static").join("malloc_host");
    let run = run_program(&setup, &program, &[("PINGUARD_OPTIONS", "verify_with_driver=1")]).unwrap();
    assert!(check_no_disagreement(&run).is_err(), "{}", run.stderr());
    let summary = run.summary.expect("a summary");
    assert!(summary.counts.disagreements > 0, "the summary counts them: {summary:?}");
}
