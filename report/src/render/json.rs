//! The run as one JSON document, for tools: what was run, the gate's result, totals,
//! processes, merged sites, and what was not watched or is not whole.

use serde_json::json;

use crate::merge::Run;

pub fn value(run: &Run) -> serde_json::Value {
    let processes: Vec<_> = run
        .processes
        .iter()
        .map(|p| {
            json!({
                "pid": p.pid, "ppid": p.ppid, "host": p.host, "exe": p.exe, "argv": p.argv,
                "framework": p.framework, "cuda_driver": p.cuda_driver, "cuda_runtime": p.cuda_runtime,
                "settings": p.settings,
                "end": p.summary.as_ref().map(|s| s.end.clone()),
                "counts": p.summary.as_ref().map(|s| s.counts.clone()),
                "report": p.file,
            })
        })
        .collect();
    let outcome = run.outcome();
    json!({
        "pinguard": pinguard_core::VERSION_AND_COMMIT,
        "schema": pinguard_core::events::SCHEMA,
        "about": super::about(run),
        "invocation": run.invocation,
        "result": outcome.verdict,
        "outcome": outcome,
        "totals": run.totals(),
        "processes": processes,
        "started": run.starts,
        "sites": run.sites(),
    })
}

pub fn render(run: &Run) -> String {
    let mut s = serde_json::to_string_pretty(&value(run)).unwrap_or_default();
    s.push('\n');
    s
}
