//! SARIF 2.1.0, as GitHub code scanning takes it: two rules with stable ids, one result
//! per call site (merged across processes), its location relative to the source root,
//! a partial fingerprint (the site's fingerprint: verdict, direction, function, file,
//! line) so that a site keeps its identity across runs, and the native stack.

use std::io::Write;
use std::path::Path;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, LogicalLocation, Message, MultiformatMessageString, Notification,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor, Result as SarifResult,
    ResultLevel, Run as SarifRun, Stack, StackFrame, Tool, ToolComponent,
};

use pinguard_core::site::{human_bytes, human_ns};

use crate::merge::{MergedSite, Run};
use crate::read::{Frame, SiteKind};

/// The rules: `(id, name, short, full, help, level)`.
const RULES: [(&str, &str, &str, &str, &str, &str); 5] = [
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
    (
        "PG003",
        "PageableCopyCapturedInGraph",
        "A pageable host buffer is copied in a CUDA graph",
        "An asynchronous copy with a pageable host side, made while its stream was being captured into a CUDA graph: every launch of the graph copies that pageable memory again (as it is at that launch), and the launch call keeps the host thread blocked until the copy ends, at pageable bandwidth (a 256 MiB copy kept cudaGraphLaunch 32 ms on an H100, against 4 us from pinned memory). Graphs launched from the device, and conditional-node bodies, do not allow pageable memory at all.",
        "Capture copies from memory pinned before the capture (cudaMallocHost/cudaHostAlloc or cudaHostRegister; PyTorch: a static input made with pin_memory=True and refilled between replays), allocated once and refilled between launches.",
        "warning",
    ),
    (
        "PG004",
        "RegisteredMemoryReleased",
        "Memory registered with cudaHostRegister is released while still registered",
        "free, delete, realloc, munmap or mremap released host memory that was still registered with cudaHostRegister (cuMemHostRegister). The driver keeps the old pages pinned under that address, so a later copy from or to it can move the old pages' contents instead of the memory now there: a silent corruption (measured on an H100: a copy from a registered range unmapped and mapped again delivered the old data).",
        "Call cudaHostUnregister (cuMemHostUnregister) on the range before releasing it (PyTorch: torch.cuda.cudart().cudaHostUnregister(ptr); CuPy: cupy.cuda.runtime.hostUnregister(ptr)); keep the registration for exactly the buffer's life.",
        "error",
    ),
    (
        "PG005",
        "PinnedMemoryChurn",
        "Host memory is pinned and released again and again at one call site",
        "A call site pinned host memory (cudaMallocHost, cudaHostAlloc, cudaHostRegister or a driver twin) that was released again (cudaFreeHost, cudaHostUnregister) at least churn_min times. Pinning is a slow system call that the driver serialises across threads (a serving engine measured stalls of up to 12 ms a call under concurrency), and releasing pinned memory waits for the device.",
        "Pin the buffer once, keep it and reuse it for every copy (PyTorch: one tensor made with pin_memory=True and refilled with copy_(); CuPy: cupyx.empty_pinned once); release it when the program is done with it.",
        "warning",
    ),
];

fn rule_index(kind: SiteKind) -> usize {
    match kind {
        SiteKind::Straddles => 1,
        SiteKind::Captured => 2,
        SiteKind::Released => 3,
        SiteKind::Churn => 4,
        _ => 0,
    }
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

fn text(t: impl Into<String>) -> Message {
    Message::builder().text(t.into()).build()
}

/// Free-form properties (SARIF's property bag).
fn properties(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> PropertyBag {
    PropertyBag::builder()
        .additional_properties(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>())
        .build()
}

/// Where a frame is, as a SARIF physical location.
fn physical(frame: &Frame, root: &Path) -> PhysicalLocation {
    match (&frame.file, frame.line) {
        (Some(file), Some(line)) => {
            let p = Path::new(file);
            let artifact = match p.strip_prefix(root) {
                Ok(rel) => {
                    ArtifactLocation::builder().uri(uri_path(&rel.to_string_lossy())).uri_base_id("SRCROOT").build()
                }
                Err(_) if p.is_relative() => {
                    ArtifactLocation::builder().uri(uri_path(file)).uri_base_id("SRCROOT").build()
                }
                Err(_) => ArtifactLocation::builder().uri(format!("file://{}", uri_path(file))).build(),
            };
            let region = Region::builder().start_line(i64::from(line.max(1))).build();
            PhysicalLocation::builder().artifact_location(artifact).region(region).build()
        }
        _ => {
            let module = frame.module.as_deref().unwrap_or("unknown");
            let name = module.rsplit('/').next().unwrap_or(module);
            PhysicalLocation::builder()
                .artifact_location(ArtifactLocation::builder().uri(uri_path(name)).build())
                .build()
        }
    }
}

fn location(frame: &Frame, root: &Path) -> Location {
    let logical = frame
        .function
        .as_ref()
        .map(|f| vec![LogicalLocation::builder().fully_qualified_name(f.clone()).kind("function").build()]);
    Location { logical_locations: logical, ..Location::builder().physical_location(physical(frame, root)).build() }
}

fn level(name: &str) -> ResultLevel {
    if name == "error" { ResultLevel::Error } else { ResultLevel::Warning }
}

fn result(s: &MergedSite, root: &Path, baseline: bool) -> SarifResult {
    let i = rule_index(s.kind);
    let apis = s.apis.iter().cloned().collect::<Vec<_>>().join(", ");
    let message = if s.is_churn() {
        format!(
            "{} ({apis}) in {}: {} (counted from the churn_min-th on), {}, host blocked {} in those calls. {}",
            s.kind,
            s.where_text(),
            s.calls_text(),
            human_bytes(s.totals.bytes_total),
            human_ns(s.totals.blocked_ns_total),
            s.advice
        )
    } else if s.is_release() {
        format!(
            "{} ({apis}) in {}: {}, {} released while still registered. {}",
            s.kind,
            s.where_text(),
            s.calls_text(),
            human_bytes(s.totals.bytes_total),
            s.advice
        )
    } else {
        format!(
            "{} {} copy ({apis}) in {}: {} copies, {}, host blocked {} in all ({} at most once). {}",
            s.kind,
            s.dir,
            s.where_text(),
            s.totals.count,
            human_bytes(s.totals.bytes_total),
            human_ns(s.totals.blocked_ns_total),
            human_ns(s.totals.blocked_ns_max),
            s.advice
        )
    };
    let fingerprints = BTreeMap::from([
        ("pinguardSite/v1".to_string(), s.fingerprint.clone()),
        ("pinguardSite/v2".to_string(), s.baseline_key.clone()),
    ]);
    let props = properties([
        ("copies", json!(s.totals.count)),
        ("bytesTotal", json!(s.totals.bytes_total)),
        ("blockedNsTotal", json!(s.totals.blocked_ns_total)),
        ("processes", json!(s.pids.len())),
        ("direction", json!(s.dir)),
    ]);
    let stacks = (!s.frames.is_empty()).then(|| {
        let frames = s
            .frames
            .iter()
            .map(|f| StackFrame {
                module: f.module.clone(),
                ..StackFrame::builder().location(location(f, root)).build()
            })
            .collect::<Vec<_>>();
        vec![Stack::builder().message(text("native stack of the first copy seen at this site")).frames(frames).build()]
    });
    SarifResult {
        locations: s.location.as_ref().map(|f| vec![location(f, root)]),
        baseline_state: baseline.then(|| json!(if s.known { "unchanged" } else { "new" })),
        stacks,
        ..SarifResult::builder()
            .rule_id(RULES[i].0)
            .rule_index(i as i64)
            .level(level(RULES[i].5))
            .message(text(message))
            .partial_fingerprints(fingerprints)
            .properties(props)
            .build()
    }
}

fn rule(&(id, name, short, full, help, level): &(&str, &str, &str, &str, &str, &str)) -> ReportingDescriptor {
    let plain = |t: &str| MultiformatMessageString::builder().text(t).build();
    ReportingDescriptor::builder()
        .id(id)
        .name(name)
        .short_description(plain(short))
        .full_description(plain(full))
        .help(MultiformatMessageString::builder().text(help).markdown(help).build())
        .default_configuration(ReportingConfiguration::builder().level(json!(level)).build())
        .properties(PropertyBag {
            tags: Some(vec!["performance".into(), "cuda".into()]),
            ..properties([("precision", json!("very-high"))])
        })
        .build()
}

/// SARIF, written as it goes: one result at a time, so that a run of 170 000 sites
/// never builds the whole document in memory (the results were a tree of values, then
/// one string: 6.8 GB).
pub fn write(run: &Run, source_root: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    let mut root_uri = format!("file://{}", uri_path(&source_root.to_string_lossy()));
    if !root_uri.ends_with('/') {
        root_uri.push('/');
    }
    let driver = ToolComponent::builder()
        .name("pinguard")
        .version(env!("CARGO_PKG_VERSION"))
        .rules(RULES.iter().map(rule).collect::<Vec<_>>())
        .build();
    let head = SarifRun::builder()
        .tool(Tool::builder().driver(driver).build())
        .original_uri_base_ids(BTreeMap::from([(
            "SRCROOT".to_string(),
            ArtifactLocation::builder().uri(root_uri).build(),
        )]))
        .invocations(vec![invocation(run)])
        .build();
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
fn invocation(run: &Run) -> Invocation {
    let o = run.outcome();
    let a = super::about(run);
    let note = |level: &str, t: String| Notification::builder().level(json!(level)).message(text(t)).build();
    let mut notes: Vec<Notification> = Vec::new();
    for u in &o.failing_unwatched {
        notes.push(note("error", format!("not watched: pid {} {}: {}", u.pid, u.path, u.reason)));
    }
    for u in &o.other_unwatched {
        notes.push(note("note", format!("not watched: pid {} {}: {}", u.pid, u.path, u.reason)));
    }
    for p in &o.failing_problems {
        notes.push(note("error", format!("report not whole: {}", p.text())));
    }
    for p in &o.accepted_problems {
        notes.push(note("warning", format!("partial report accepted: {}", p.text())));
    }
    let props = properties([
        ("result", json!(o.verdict.name())),
        ("pinguard", json!(a.pinguard)),
        ("cuda", json!(a.cuda)),
        ("processesWatched", json!(run.totals().watched)),
    ]);
    let base = Invocation::builder()
        .execution_successful(!o.not_watched() && !o.incomplete())
        .tool_execution_notifications(notes)
        .properties(props)
        .build();
    let Some(i) = &run.invocation else {
        return base;
    };
    Invocation {
        command_line: Some(a.command.clone()),
        arguments: Some(i.argv.clone()),
        start_time_utc: Some(utc(i.start_ms)),
        end_time_utc: Some(utc(i.end_ms)),
        machine: Some(i.host.clone()),
        exit_code: i.exit.code.map(i64::from),
        exit_signal_number: i.exit.signal.map(i64::from),
        working_directory: (!i.cwd.is_empty())
            .then(|| ArtifactLocation::builder().uri(format!("file://{}", uri_path(&i.cwd))).build()),
        ..base
    }
}
