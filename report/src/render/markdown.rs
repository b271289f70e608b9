//! The run as Markdown, for a pull-request comment.

use std::fmt::Write as _;

use pinguard_core::site::{human_bytes, human_ns};

use crate::merge::Run;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn render(run: &Run, top: usize) -> String {
    let t = run.totals();
    let mut out = String::from("## pinguard: pageable async copies\n\n");
    if t.findings == 0 {
        let _ = writeln!(
            out,
            "No finding: {} async copies checked in {} processes. :white_check_mark:\n",
            t.checked, t.processes
        );
        return out;
    }
    let _ = writeln!(
        out,
        "**{} findings at {} sites** ({} pageable, {} straddling a pinned edge) in {} processes; {} async copies checked; \
         the host was kept blocked for **{}** in all.\n",
        t.findings,
        t.sites,
        t.pageable,
        t.straddles,
        t.processes,
        t.checked,
        human_ns(t.blocked_ns)
    );
    out.push_str(
        "A pageable async copy blocks the calling thread until the stream drains and the copy ends, \
         and runs at about 1/8 of pinned bandwidth.\n\n",
    );
    out.push_str("| # | finding | where | copies | bytes | host blocked | fix |\n|---|---|---|---|---|---|---|\n");
    for (i, s) in run.sites().iter().filter(|s| s.is_finding()).take(top).enumerate() {
        let apis = s.apis.iter().cloned().collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "| {} | {} {} `{}` | `{}` | {} | {} | {} | {} |",
            i + 1,
            s.kind,
            s.dir,
            cell(&apis),
            cell(&s.where_text()),
            s.count,
            human_bytes(s.bytes_total),
            human_ns(s.blocked_ns_total),
            cell(&s.advice)
        );
    }
    if t.sites > top {
        let _ = writeln!(out, "\n…and {} more sites (`pinguard report --format html`).", t.sites - top);
    }
    out
}
