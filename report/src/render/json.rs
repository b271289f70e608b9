//! The run as one JSON document, for tools: totals, processes, merged sites.

use serde_json::json;

use crate::merge::Run;

pub fn value(run: &Run) -> serde_json::Value {
    let processes: Vec<_> = run
        .processes
        .iter()
        .map(|p| {
            json!({
                "pid": p.pid, "ppid": p.ppid, "host": p.host, "exe": p.exe, "argv": p.argv,
                "framework": p.framework, "cuda_driver": p.cuda_driver, "settings": p.settings,
                "end": p.summary.as_ref().map(|s| s.end.clone()),
                "counts": p.summary.as_ref().map(|s| s.counts.clone()),
                "report": p.file,
            })
        })
        .collect();
    json!({
        "pinguard": env!("CARGO_PKG_VERSION"),
        "schema": pinguard_core::events::SCHEMA,
        "totals": run.totals(),
        "processes": processes,
        "sites": run.sites(),
    })
}

pub fn render(run: &Run) -> String {
    let mut s = serde_json::to_string_pretty(&value(run)).unwrap_or_default();
    s.push('\n');
    s
}
