//! SARIF 2.1.0, as GitHub code scanning takes it: two rules with stable ids, one result
//! per call site (merged across processes), its location relative to the source root,
//! a partial fingerprint (the site's fingerprint: verdict, direction, function, file,
//! line) so that a site keeps its identity across runs, and the native stack.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use pinguard_core::site::{human_bytes, human_ns};

use crate::merge::{MergedSite, Run};
use crate::read::{Frame, SiteKind};

/// The rules: `(id, name, short, full, help, level)`.
const RULES: [(&str, &str, &str, &str, &str, &str); 2] = [
    (
        "PG001",
        "PageableAsyncCopy",
        "An asynchronous CUDA copy uses pageable host memory",
        "An asynchronous copy (cudaMemcpyAsync and its family) whose host side is pageable memory is not asynchronous: CUDA stages it through a pinned buffer, so the call keeps the host thread blocked until the stream drains and the copy ends, and the copy runs at about 1/8 of pinned bandwidth (6.7 against 52 GB/s measured on an H100). All overlap of host work with the GPU is lost.",
        "Allocate the host buffer in pinned memory once and reuse it (cudaMallocHost/cudaHostAlloc, or cudaHostRegister on memory you own; PyTorch: pin_memory=True; CuPy: cupyx.empty_pinned; JAX: memory_kind='pinned_host'). Pinning a fresh buffer at every copy costs more than it saves.",
        "warning",
    ),
    (
        "PG002",
        "CopyStraddlesPinnedEdge",
        "An asynchronous CUDA copy spans pinned and pageable memory",
        "A copy whose host range lies partly inside a pinned (or registered) range and partly outside it: CUDA does not support such a copy and rejects it with invalid value.",
        "Keep each copy inside one pinned allocation or registration.",
        "error",
    ),
];

fn rule_index(kind: SiteKind) -> usize {
    if kind == SiteKind::Straddles { 1 } else { 0 }
}

/// Percent-encodes what may not stand in a URI path.
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Where a frame is, as a SARIF physical location.
fn physical(frame: &Frame, root: &Path) -> Value {
    match (&frame.file, frame.line) {
        (Some(file), Some(line)) => {
            let p = Path::new(file);
            let artifact = match p.strip_prefix(root) {
                Ok(rel) => json!({ "uri": uri_path(&rel.to_string_lossy()), "uriBaseId": "SRCROOT" }),
                Err(_) if p.is_relative() => json!({ "uri": uri_path(file), "uriBaseId": "SRCROOT" }),
                Err(_) => json!({ "uri": format!("file://{}", uri_path(file)) }),
            };
            json!({ "artifactLocation": artifact, "region": { "startLine": line.max(1) } })
        }
        _ => {
            let module = frame.module.as_deref().unwrap_or("unknown");
            let name = module.rsplit('/').next().unwrap_or(module);
            json!({ "artifactLocation": { "uri": uri_path(name) } })
        }
    }
}

fn location(frame: &Frame, root: &Path) -> Value {
    let mut loc = json!({ "physicalLocation": physical(frame, root) });
    if let Some(f) = &frame.function {
        loc["logicalLocations"] = json!([{ "fullyQualifiedName": f, "kind": "function" }]);
    }
    loc
}

fn result(s: &MergedSite, root: &Path, baseline: bool) -> Value {
    let i = rule_index(s.kind);
    let apis = s.apis.iter().cloned().collect::<Vec<_>>().join(", ");
    let text = format!(
        "{} {} copy ({apis}) in {}: {} copies, {}, host blocked {} in all ({} at most once). {}",
        s.kind,
        s.dir,
        s.where_text(),
        s.count,
        human_bytes(s.bytes_total),
        human_ns(s.blocked_ns_total),
        human_ns(s.blocked_ns_max),
        s.advice
    );
    let mut r = json!({
        "ruleId": RULES[i].0,
        "ruleIndex": i,
        "level": RULES[i].5,
        "message": { "text": text },
        "partialFingerprints": { "pinguardSite/v1": s.fingerprint, "pinguardSite/v2": s.baseline_key },
        "properties": {
            "copies": s.count,
            "bytesTotal": s.bytes_total,
            "blockedNsTotal": s.blocked_ns_total,
            "processes": s.pids.len(),
            "direction": s.dir,
        },
    });
    if let Some(f) = &s.location {
        r["locations"] = json!([location(f, root)]);
    }
    if baseline {
        r["baselineState"] = json!(if s.known { "unchanged" } else { "new" });
    }
    if !s.frames.is_empty() {
        let frames: Vec<Value> = s
            .frames
            .iter()
            .map(|f| {
                let mut v = json!({ "location": location(f, root) });
                if let Some(m) = &f.module {
                    v["module"] = json!(m);
                }
                v
            })
            .collect();
        r["stacks"] =
            json!([{ "message": { "text": "native stack of the first copy seen at this site" }, "frames": frames }]);
    }
    r
}

/// SARIF, written as it goes: one result at a time, so that a run of 170 000 sites
/// never builds the whole document in memory (the results were a tree of values, then
/// one string: 6.8 GB).
pub fn write(run: &Run, source_root: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, name, short, full, help, level)| {
            json!({
                "id": id,
                "name": name,
                "shortDescription": { "text": short },
                "fullDescription": { "text": full },
                "help": { "text": help, "markdown": help },
                "defaultConfiguration": { "level": level },
                "properties": { "tags": ["performance", "cuda"], "precision": "very-high" },
            })
        })
        .collect();
    let mut root_uri = format!("file://{}", uri_path(&source_root.to_string_lossy()));
    if !root_uri.ends_with('/') {
        root_uri.push('/');
    }
    let head = json!({
        "tool": { "driver": {
            "name": "pinguard",
            "version": env!("CARGO_PKG_VERSION"),
            "rules": rules,
        }},
        "originalUriBaseIds": { "SRCROOT": { "uri": root_uri } },
        "invocations": [invocation(run)],
    });
    let head = serde_json::to_string(&head).map_err(std::io::Error::other)?;
    // The run object, its closing brace replaced by the results array.
    write!(
        out,
        "{{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[{},\"results\":[",
        head.strip_suffix('}').unwrap_or(&head)
    )?;
    for (i, s) in run.sites().iter().filter(|s| s.is_finding()).enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, &result(s, source_root, run.policy.baseline.is_some()))
            .map_err(std::io::Error::other)?;
    }
    out.write_all(b"\n]}]}\n")
}

pub fn render(run: &Run, source_root: &Path) -> String {
    let mut out = Vec::new();
    let _ = write(run, source_root, &mut out);
    String::from_utf8(out).unwrap_or_default()
}
/// `2026-12-06T01:02:03.456Z`.
fn utc(ms: u64) -> String {
    let (d, t) = super::civil(ms / 1000);
    format!("{d}T{t}.{:03}Z", ms % 1000)
}

/// What was run, and how it went: SARIF's `invocation`. `executionSuccessful` is false
/// where the run was not watched or a report is not whole (the tool could not do its
/// job), each said in a notification.
fn invocation(run: &Run) -> Value {
    let o = run.outcome();
    let a = super::about(run);
    let mut notes: Vec<Value> = Vec::new();
    for u in &o.failing_unwatched {
        notes.push(json!({ "level": "error", "message": { "text": format!("not watched: pid {} {}: {}", u.pid, u.path, u.reason) } }));
    }
    for u in &o.other_unwatched {
        notes.push(json!({ "level": "note", "message": { "text": format!("not watched: pid {} {}: {}", u.pid, u.path, u.reason) } }));
    }
    for p in &o.failing_problems {
        notes.push(json!({ "level": "error", "message": { "text": format!("report not whole: {}", p.text()) } }));
    }
    for p in &o.accepted_problems {
        notes.push(
            json!({ "level": "warning", "message": { "text": format!("partial report accepted: {}", p.text()) } }),
        );
    }
    let mut inv = json!({
        "executionSuccessful": !o.not_watched() && !o.incomplete(),
        "toolExecutionNotifications": notes,
        "properties": {
            "result": o.verdict.name(),
            "pinguard": a.pinguard,
            "cuda": a.cuda,
            "processesWatched": run.totals().watched,
        },
    });
    if let Some(i) = &run.invocation {
        inv["commandLine"] = json!(a.command);
        inv["arguments"] = json!(i.argv);
        inv["startTimeUtc"] = json!(utc(i.start_ms));
        inv["endTimeUtc"] = json!(utc(i.end_ms));
        inv["machine"] = json!(i.host);
        if let Some(code) = i.exit.code {
            inv["exitCode"] = json!(code);
        }
        if let Some(sig) = i.exit.signal {
            inv["exitSignalNumber"] = json!(sig);
        }
        if !i.cwd.is_empty() {
            inv["workingDirectory"] = json!({ "uri": format!("file://{}", uri_path(&i.cwd)) });
        }
    }
    inv
}
