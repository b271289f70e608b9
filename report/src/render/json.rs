//! The run as one JSON document, for tools: what was run, the gate's result, totals,
//! processes, merged sites, and what was not watched or is not whole.

use std::io::Write;

use serde_json::json;

use crate::merge::Run;

/// Everything but the sites.
fn head(run: &Run) -> serde_json::Value {
    let processes: Vec<_> = run
        .processes
        .iter()
        .map(|p| {
            json!({
                "pid": p.pid, "ppid": p.ppid, "host": p.host, "exe": p.exe, "argv": p.argv,
                "framework": p.framework, "cuda_driver": p.cuda_driver, "cuda_runtime": p.cuda_runtime,
                "settings": p.settings,
                "end": p.summary.as_ref().map(|s| s.end.clone()),
                "counts": p.summary.as_ref().map(|s| s.counts),
                "late": p.late,
                "report": p.file,
            })
        })
        .collect();
    let outcome = run.outcome();
    json!({
        "pinguard": pinguard_core::VERSION_AND_COMMIT,
        "schema": pinguard_core::records::SCHEMA,
        "about": super::about(run),
        "invocation": run.invocation,
        "result": outcome.verdict,
        "outcome": outcome,
        "totals": run.totals(),
        "processes": processes,
        "started": run.starts,
    })
}

/// The document, written as it goes: the sites one at a time (a run of many sites is
/// never one value in memory).
pub fn write(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    let head = serde_json::to_string_pretty(&head(run)).map_err(std::io::Error::other)?;
    out.write_all(head.strip_suffix("\n}").unwrap_or(&head).as_bytes())?;
    out.write_all(b",\n  \"sites\": [")?;
    for (i, s) in run.sites().iter().enumerate() {
        out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        serde_json::to_writer(&mut *out, s).map_err(std::io::Error::other)?;
    }
    out.write_all(b"\n  ]\n}\n")
}

pub fn render(run: &Run) -> String {
    let mut out = Vec::new();
    let _ = write(run, &mut out);
    String::from_utf8(out).unwrap_or_default()
}
