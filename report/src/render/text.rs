//! The run as text, for a terminal or a CI log.

use std::fmt::Write as _;

use pinguard_core::site::{human_bytes, human_ns};

use crate::merge::Run;

/// The merged summary: totals, then the sites by host time blocked.
pub fn render(run: &Run, top: usize) -> String {
    let t = run.totals();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pinguard: run summary: {} processes, {} async copies checked, {} findings ({} pageable, {} straddling a pinned edge) at {} sites, host blocked {} in all{}",
        t.processes,
        t.checked,
        t.findings,
        t.pageable,
        t.straddles,
        t.sites,
        human_ns(t.blocked_ns),
        if t.suppressed > 0 { format!(", {} suppressed", t.suppressed) } else { String::new() }
    );
    if t.unfinished > 0 {
        let _ = writeln!(
            out,
            "pinguard: {} processes ended without a summary (killed?): their counts are partial",
            t.unfinished
        );
    }
    for (i, s) in run.sites().iter().filter(|s| s.is_finding()).take(top).enumerate() {
        let _ = writeln!(
            out,
            "pinguard:   {}. {} {} {} in {}: {} copies, {}, host blocked {} (at most {} once), {} processes",
            i + 1,
            s.kind,
            s.dir,
            s.apis.iter().cloned().collect::<Vec<_>>().join("/"),
            s.where_text(),
            s.count,
            human_bytes(s.bytes_total),
            human_ns(s.blocked_ns_total),
            human_ns(s.blocked_ns_max),
            s.pids.len()
        );
    }
    out
}
