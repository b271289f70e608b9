//! The run as text, for a terminal or a CI log: the totals, the costliest sites, every
//! program pinguard did not watch and every report that is not whole, one line each.
//! Text from the reports is escaped: a report cannot drive the terminal.

use std::fmt::Write as _;

use pinguard_core::site::{human_bytes, human_ns};

use crate::merge::Run;
use crate::read::plural;

/// `s` with control characters written as `\xNN` (a report's text may hold any).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                let _ = write!(out, "\\x{byte:02x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The merged summary: totals, then the sites by host time blocked, then what was not
/// watched and what is not whole.
pub fn render(run: &Run, top: usize) -> String {
    let t = run.totals();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pinguard: run summary: {}, {} checked, {} ({}) at {}, host blocked {} in all{}",
        super::processes_line(run),
        plural(t.checked, "async copy"),
        plural(t.findings, "finding"),
        super::findings_by_kind(&t),
        plural(t.sites as u64, "site"),
        human_ns(t.blocked_ns),
        if t.suppressed > 0 { format!(", {} suppressed", t.suppressed) } else { String::new() }
    );
    if t.legacy_stream > 0 {
        let _ = writeln!(out, "pinguard: note: {}", super::legacy_stream_note(t.legacy_stream));
    }
    if run.policy.baseline.is_some() {
        let _ = writeln!(
            out,
            "pinguard: read against a baseline: the findings above are new; {} at {} known from the baseline",
            plural(t.known, "finding"),
            plural(t.known_sites as u64, "site")
        );
    }
    for (i, s) in run.sites().iter().filter(|s| s.is_finding() && !s.known).take(top).enumerate() {
        let _ = writeln!(
            out,
            "pinguard:   {}. {} {}{} in {}: {}, {}, host blocked {} (at most {} once), {}",
            i + 1,
            s.kind,
            if s.is_copy() { format!("{} ", s.dir) } else { String::new() },
            s.apis.iter().cloned().collect::<Vec<_>>().join("/"),
            escape(&s.where_text()),
            s.calls_text(),
            human_bytes(s.totals.bytes_total),
            human_ns(s.totals.blocked_ns_total),
            human_ns(s.totals.blocked_ns_max),
            plural(s.pids.len() as u64, "process")
        );
    }
    if t.late > 0 {
        let _ = writeln!(
            out,
            "pinguard: {} after the summary (exit-time destructors of other libraries, or threads still running at exit) not checked",
            plural(t.late, "watched call")
        );
    }
    let o = run.outcome();
    for u in &o.failing_unwatched {
        let _ = writeln!(
            out,
            "pinguard: not watched: pid {} {}: {}",
            u.pid,
            escape(&u.path),
            escape(or_unknown(&u.reason))
        );
    }
    for u in &o.other_unwatched {
        let why = if u.could_use_cuda { "allowed" } else { "could not use CUDA" };
        let _ = writeln!(
            out,
            "pinguard: not watched ({why}): pid {} {}: {}",
            u.pid,
            escape(&u.path),
            escape(or_unknown(&u.reason))
        );
    }
    for p in &o.failing_problems {
        let _ = writeln!(out, "pinguard: report not whole: {}", escape(&p.text()));
    }
    for p in &o.accepted_problems {
        let _ = writeln!(out, "pinguard: partial report accepted (--accept-partial): {}", escape(&p.text()));
    }
    out
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "reason unknown" } else { s }
}
