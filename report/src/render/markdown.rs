//! The run as Markdown, for a pull-request comment: what was run, the gate's result,
//! the costliest sites, and what was not watched or is not whole.

use std::fmt::Write as _;

use pinguard_core::site::{human_bytes, human_ns};

use crate::gate::Verdict;
use crate::merge::Run;
use crate::read::plural;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ").replace('`', "'")
}

/// One line of what was run: `` `./app` on host, 2026-12-06 01:02:03 UTC, 1.2 s, exit code 0 ``.
pub fn about_line(run: &Run) -> String {
    let a = super::about(run);
    let mut parts = Vec::new();
    if !a.command.is_empty() {
        parts.push(format!("`{}`", cell(&a.command)));
    }
    if !a.host.is_empty() {
        parts.push(format!("on {}", cell(&a.host)));
    }
    for p in [&a.started, &a.duration, &a.exit] {
        if !p.is_empty() {
            parts.push(cell(p));
        }
    }
    let mut line = parts.join(", ");
    let _ = write!(line, "{}pinguard {}", if line.is_empty() { "" } else { " · " }, cell(&a.pinguard));
    if !a.cuda.is_empty() {
        let _ = write!(line, " · CUDA {}", cell(&a.cuda));
    }
    line
}

pub fn render(run: &Run, top: usize) -> String {
    let t = run.totals();
    let o = run.outcome();
    let mut out = String::from("## pinguard: pageable async copies\n\n");
    let _ = writeln!(out, "{}\n", about_line(run));
    let result = match o.verdict {
        Verdict::Findings => format!(
            "**{} at {}** ({}); the host was kept blocked for **{}** in all.",
            plural(t.findings, "finding"),
            plural(t.sites as u64, "site"),
            super::findings_by_kind(&t),
            human_ns(t.blocked_ns)
        ),
        Verdict::NotWatched => {
            "**Not watched**: a program ran without pinguard, so its copies were not checked. :x:".into()
        }
        Verdict::Incomplete => "**Incomplete**: a report is not whole, so a finding may be missing. :x:".into(),
        Verdict::Clean if t.checked == 0 => "No finding: no async copy was made. :white_check_mark:".into(),
        Verdict::Clean => "No finding. :white_check_mark:".into(),
    };
    let _ = writeln!(out, "{result} {} checked in {}.\n", plural(t.checked, "async copy"), super::processes_line(run));
    if t.legacy_stream > 0 {
        let _ = writeln!(out, "Note: {}\n", super::legacy_stream_note(t.legacy_stream));
    }
    for u in &o.failing_unwatched {
        let _ = writeln!(out, "- :x: not watched: pid {} `{}`: {}", u.pid, cell(&u.path), cell(&u.reason));
    }
    for u in &o.other_unwatched {
        let _ = writeln!(
            out,
            "- not watched (could not use CUDA, or allowed): pid {} `{}`: {}",
            u.pid,
            cell(&u.path),
            cell(&u.reason)
        );
    }
    for p in &o.failing_problems {
        let _ = writeln!(out, "- :x: report not whole: {}", cell(&p.text()));
    }
    for p in &o.accepted_problems {
        let _ = writeln!(out, "- partial report accepted: {}", cell(&p.text()));
    }
    if !(o.failing_unwatched.is_empty()
        && o.other_unwatched.is_empty()
        && o.failing_problems.is_empty()
        && o.accepted_problems.is_empty())
    {
        out.push('\n');
    }
    if t.findings == 0 {
        return out;
    }
    out.push_str(
        "A pageable async copy blocks the calling thread until the stream drains and the copy ends, \
         and runs at about 1/8 of pinned bandwidth.\n\n",
    );
    out.push_str("| # | finding | where | copies | bytes | host blocked | fix |\n|---|---|---|---|---|---|---|\n");
    if run.policy.baseline.is_some() {
        let _ = writeln!(
            out,
            "Read against a baseline: {} at {} known from it are not counted above.\n",
            plural(t.known, "finding"),
            plural(t.known_sites as u64, "site")
        );
    }
    for (i, s) in run.sites().iter().filter(|s| s.is_finding() && !s.known).take(top).enumerate() {
        let apis = s.apis.iter().cloned().collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "| {} | {} {} `{}` | `{}` | {} | {} | {} | {} |",
            i + 1,
            s.kind,
            s.dir_words(),
            cell(&apis),
            cell(&s.where_text()),
            s.totals.count,
            human_bytes(s.totals.bytes_total),
            human_ns(s.totals.blocked_ns_total),
            cell(&s.advice)
        );
    }
    if t.sites > top {
        let _ =
            writeln!(out, "\n…and {} more (`pinguard report --format html`).", plural((t.sites - top) as u64, "site"));
    }
    out
}
