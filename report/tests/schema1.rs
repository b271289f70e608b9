//! A report written by an earlier version is read by this one: `tests/data/schema1-run` is
//! a run folder that pinguard wrote (schema 1, 2026-12-06: `pinguard run -- sh -c
//! "straddle; default_both_ways"` against fakecuda), checked in as it was written. Every
//! later reader must read it the same way.

use std::path::PathBuf;

use pinguard_report::gate::Verdict;
use pinguard_report::merge;

#[test]
fn a_checked_in_schema_1_run_is_read_whole() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/schema1-run");
    let run = merge::run(&[dir]).expect("read");
    assert!(run.problems.is_empty(), "{:?}", run.problems);
    assert_eq!(run.unknown_schema, None);
    let t = run.totals();
    assert_eq!((t.watched, t.processes, t.unwatched), (3, 2, 0));
    assert_eq!((t.checked, t.findings, t.pageable, t.straddles, t.sites), (6, 4, 3, 1, 4));
    assert_eq!(t.bytes, 262_144 * 2 + 8192 * 2);
    let inv = run.invocation.as_ref().expect("the run record");
    assert_eq!(inv.argv[0], "/bin/sh");
    assert_eq!(inv.result, "findings");
    assert_eq!(run.outcome().verdict, Verdict::Findings);
    let sites = run.sites();
    assert!(sites.iter().all(|s| s.location.as_ref().is_some_and(|l| l.function.is_some())));
    let straddle = sites.iter().find(|s| s.kind == pinguard_report::read::SiteKind::Straddles).expect("the straddle");
    assert_eq!((straddle.totals.count, straddle.dir.as_str(), straddle.totals.bytes_total), (1, "H2D", 8192));
    assert!(straddle.frames.iter().any(|f| f.function.as_deref() == Some("main")));
}
