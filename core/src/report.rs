//! Findings and their one-line form.
//!
//! A line has two parts: a sentence for people that says what happened in CUDA's terms,
//! and a bracketed `key=value` tail for machines (CI greps, the test harness).
//! `parse_record` reads the tail back; it is the only parser of it (`pinguard report`
//! reads the JSON Lines report instead, `records.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::registry::PinOrigin;
use crate::verdict::{CopyVerdict, Direction, VerdictKind};

/// Every line pinguard prints starts with this.
pub const LINE_PREFIX: &str = "pinguard: ";

/// `s` with every control character written as `\xNN` (a tab stays a tab): text from
/// outside (a path, a setting) in a message can neither break its line in two, nor forge
/// a `pinguard:` line, nor drive a terminal.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The largest settings file pinguard reads (a suppressions file is a few KiB): a
/// device such as `/dev/zero` given as one must not be read until memory runs out.
pub const SETTINGS_FILE_MAX: u64 = 1 << 20;

/// A CUDA runtime's version from its file name: `libcudart.so.13.0.96` -> 13000,
/// `libcudart.so.12.9.79` -> 12090 (as `cudaRuntimeGetVersion` gives it).
pub fn cudart_version_of(file_name: &str) -> Option<i32> {
    let rest = file_name.strip_prefix("libcudart.so.")?;
    let mut parts = rest.split('.');
    let major: i32 = parts.next()?.parse().ok()?;
    let minor: i32 = parts.next()?.parse().ok()?;
    Some(major * 1000 + minor * 10)
}

/// Which interception layer saw the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Runtime,
    Driver,
    /// The C library's release functions (`free`, `munmap`, ...), watched for memory
    /// released while still registered.
    Libc,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Runtime => "runtime",
            Layer::Driver => "driver",
            Layer::Libc => "libc",
        }
    }
}

/// How the stream argument is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Handle 0 in a legacy-stream API: the legacy default (NULL) stream.
    LegacyDefault,
    /// Handle 0 in a `_ptsz` API, or `cudaStreamPerThread` (2).
    PerThreadDefault,
    /// `cudaStreamLegacy` (1).
    Legacy,
    /// A stream the program created.
    Explicit,
}

impl StreamKind {
    /// Reads a stream handle; `per_thread_api` for `_ptsz`/`_ptds` entry points.
    pub fn of(handle: usize, per_thread_api: bool) -> StreamKind {
        match handle {
            0 if per_thread_api => StreamKind::PerThreadDefault,
            0 => StreamKind::LegacyDefault,
            1 => StreamKind::Legacy,
            2 => StreamKind::PerThreadDefault,
            _ => StreamKind::Explicit,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StreamKind::LegacyDefault => "legacy-default",
            StreamKind::PerThreadDefault => "per-thread-default",
            StreamKind::Legacy => "legacy",
            StreamKind::Explicit => "explicit",
        }
    }

    fn words(self, handle: usize) -> String {
        match self {
            StreamKind::LegacyDefault => "the legacy default stream".into(),
            StreamKind::PerThreadDefault => "this thread's default stream".into(),
            StreamKind::Legacy => "the legacy stream (cudaStreamLegacy)".into(),
            StreamKind::Explicit => format!("stream {handle:#x}"),
        }
    }
}

/// What a captured pageable copy costs, as measured on an H100 with CUDA 13
/// (`testing/probes/capture_facts.cu`): a graph of one 256 MiB copy from pageable memory
/// kept `cudaGraphLaunch` for the whole copy, 32.0 ms at 8.4 GB/s; from pinned memory
/// the call took 4 us and the copy 4.9 ms at 55 GB/s. The launch read the buffer as it
/// was then, not at capture.
pub const CAPTURED_COST: &str = "every launch of the graph copies this pageable memory again (as it is at that launch), and the launch call keeps the host thread blocked until that copy ends, at pageable bandwidth.";

/// What happened to the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The real call ran and returned `result`, taking `blocked` of the host thread.
    Completed { result: i32, blocked: Duration },
    /// mode=abort: the process stops before the real call.
    Aborting,
    /// halt_on_error: the process exits with this code before the real call.
    Halting(u8),
}

impl Outcome {
    /// The name in reports: `completed`, `aborted` or `halted`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed { .. } => "completed",
            Outcome::Aborting => "aborted",
            Outcome::Halting(_) => "halted",
        }
    }
}

/// What kind of record a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A finding: `Pageable` or `Straddles`.
    Finding(VerdictKind),
    /// A pageable host side in a copy made while its stream was being captured into a
    /// CUDA graph: the graph keeps a memcpy node that reads or writes that pageable
    /// memory again at every launch (a finding).
    Captured,
    /// A pageable source the call's own attributes allow (batch access order "any"):
    /// noted, not a finding.
    AllowedByAttribute,
    /// Memory released while still registered with `cudaHostRegister` (a finding; a
    /// release, not a copy: see [`render_release`]).
    Released,
    /// Host memory pinned at one call site and released again, `churn_min` times or
    /// more (a finding; a pinning place, not a copy: see [`render_churn`]).
    Churn,
}

impl RecordKind {
    pub fn name(self) -> &'static str {
        self.site_kind().name()
    }

    /// A finding (counted against the gate), not a note: as its site's kind says.
    pub fn is_finding(self) -> bool {
        self.site_kind().is_finding()
    }

    /// The kind a site of these records has in the report.
    pub fn site_kind(self) -> crate::records::SiteKind {
        use crate::records::SiteKind;
        match self {
            RecordKind::Finding(VerdictKind::Straddles) => SiteKind::Straddles,
            RecordKind::Finding(_) => SiteKind::Pageable,
            RecordKind::Captured => SiteKind::Captured,
            RecordKind::AllowedByAttribute => SiteKind::Allowed,
            RecordKind::Released => SiteKind::Released,
            RecordKind::Churn => SiteKind::Churn,
        }
    }
}

/// Everything one line says.
#[derive(Clone, Debug)]
pub struct Finding<'a> {
    pub kind: RecordKind,
    pub api: &'a str,
    pub layer: Layer,
    pub verdict: CopyVerdict,
    /// The pinned range's origin, for a straddle the registry explains.
    pub edge_origin: Option<PinOrigin>,
    /// Index within a batch call.
    pub element: Option<usize>,
    pub stream: usize,
    pub stream_kind: StreamKind,
    pub outcome: Outcome,
    pub tid: i64,
    pub pid: u32,
    /// The call site, once sites are known.
    pub site: Option<u32>,
    /// The fix to suggest (empty: none).
    pub advice: &'a str,
    /// For a captured copy: the capture it went into.
    pub capture: Option<CaptureFacts<'a>>,
}

/// The stream capture a captured copy went into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureFacts<'a> {
    /// The capture sequence's id (`cuStreamGetCaptureInfo`: unique in the process).
    pub id: u64,
    /// `global`, `thread_local` or `relaxed`, where pinguard saw the capture begin.
    pub mode: Option<&'static str>,
    /// Where the capture began (its first frame in the program's code), where seen.
    pub begun: Option<&'a str>,
}

fn human_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} us")
    }
}

impl Finding<'_> {
    /// The finding as its site's first call in the report (`time_ms`: when it was seen).
    pub fn first_call(&self, time_ms: u64) -> crate::records::write::First<'static> {
        let (result, blocked) = match self.outcome {
            Outcome::Completed { result, blocked } => (Some(result), blocked),
            _ => (None, Duration::ZERO),
        };
        crate::records::write::First {
            bytes: self.verdict.host.map(|h| h.len as u64).unwrap_or(0),
            host: self.verdict.host.map(|h| h.start).unwrap_or(0),
            stream: self.stream,
            stream_kind: self.stream_kind.name(),
            element: self.element.map(|e| e as u64),
            tid: self.tid,
            thread: None,
            result,
            outcome: self.outcome.name(),
            blocked_ns: blocked.as_nanos() as u64,
            time_ms,
        }
    }
}

/// Renders a finding as one line (without the newline).
pub fn render(f: &Finding<'_>) -> String {
    let v = &f.verdict;
    let (host, bytes) = v.host.map(|s| (s.start, s.len)).unwrap_or((0, 0));
    let stream = f.stream_kind.words(f.stream);
    let element = f.element.map(|i| format!(" (batch element {i})")).unwrap_or_default();
    let mut line = String::with_capacity(480);
    line.push_str(LINE_PREFIX);
    let _ = write!(line, "{} ({}){element}: {} copy of {bytes} bytes ", f.api, f.layer.name(), v.direction.words());
    match f.kind {
        RecordKind::Finding(VerdictKind::Straddles) => {
            let edge = match (v.edge, f.edge_origin) {
                (Some((a, b)), Some(o)) => {
                    format!("the pinned range [{a:#x}, {b:#x}) from {}", o.api_hint())
                }
                (Some((a, b)), None) => format!("the pinned range [{a:#x}, {b:#x})"),
                _ => "a pinned range (the driver says so)".into(),
            };
            let _ = write!(
                line,
                "at {host:#x} straddles the edge of {edge}: part pinned, part pageable. CUDA rejects such a copy with invalid value"
            );
            if let Outcome::Completed { result, .. } = f.outcome {
                let _ = write!(line, " (it returned {result})");
            }
            line.push('.');
        }
        RecordKind::Captured => {
            let _ = write!(
                line,
                "uses pageable host memory at {host:#x} while {stream} is being captured into a CUDA graph"
            );
            if let Some(c) = f.capture {
                let _ = write!(line, " (capture {}", c.id);
                if let Some(mode) = c.mode {
                    let _ = write!(line, ", {mode} mode");
                }
                if let Some(at) = c.begun {
                    let _ = write!(line, ", begun in {at}");
                }
                line.push(')');
            }
            let _ = write!(line, ": {CAPTURED_COST}");
        }
        RecordKind::Released => {
            // A release is not a copy: its line is `render_release`'s. Said plainly if
            // ever reached.
            let _ = write!(line, "released registered memory at {host:#x} while it was still registered.");
        }
        RecordKind::Churn => {
            // Nor is a pinning place: its line is `render_churn`'s.
            let _ = write!(line, "pinned memory at {host:#x} that is released again and again.");
        }
        RecordKind::AllowedByAttribute => {
            let _ = write!(
                line,
                "from pageable host memory at {host:#x} is allowed by its attributes (source access order \"any\"): the driver need not access it in stream order. Noted, not a finding."
            );
        }
        RecordKind::Finding(_) => {
            let _ = write!(line, "uses pageable host memory at {host:#x}: ");
            match (f.outcome, v.direction) {
                (Outcome::Completed { blocked, .. }, Direction::HostToHost) => {
                    let _ = write!(
                        line,
                        "the call kept the host thread blocked for {}; CUDA runs host-to-host async copies synchronously.",
                        human_duration(blocked)
                    );
                }
                (Outcome::Completed { blocked, .. }, _) => {
                    let _ = write!(
                        line,
                        "the call kept the host thread blocked for {} until {stream} drained and the copy ended, and pageable copies run at about 1/8 of pinned bandwidth.",
                        human_duration(blocked)
                    );
                }
                (Outcome::Aborting | Outcome::Halting(_), _) => {
                    let _ = write!(
                        line,
                        "the call would block the host thread until {stream} drained and the copy ended, at about 1/8 of pinned bandwidth."
                    );
                }
            }
        }
    }
    push_advice_and_stop(&mut line, f.advice, f.outcome);
    let _ = write!(
        line,
        " [verdict={} api={} layer={} dir={} bytes={bytes} host={host:#x} stream={:#x} stream_kind={}",
        f.kind.name(),
        f.api,
        f.layer.name(),
        v.direction.short(),
        f.stream,
        f.stream_kind.name()
    );
    if let Some(i) = f.element {
        let _ = write!(line, " element={i}");
    }
    if let Some((a, b)) = v.edge {
        let _ = write!(line, " edge={a:#x}-{b:#x}");
    }
    if let Some(c) = f.capture {
        let _ = write!(line, " capture={}", c.id);
    }
    let blocked_us = match f.outcome {
        Outcome::Completed { blocked, .. } => Some(blocked.as_micros() as u64),
        _ => None,
    };
    push_tail_end(&mut line, f.outcome, blocked_us, f.site, (f.tid, f.pid));
    line
}

/// The advice, then what pinguard does next in abort or halt mode.
fn push_advice_and_stop(line: &mut String, advice: &str, outcome: Outcome) {
    if !advice.is_empty() {
        line.push(' ');
        line.push_str(advice);
    }
    match outcome {
        Outcome::Aborting => line.push_str(" Aborting (PINGUARD_OPTIONS mode=abort)."),
        Outcome::Halting(code) => {
            let _ = write!(line, " Stopping the program with exit code {code} (halt_on_error).");
        }
        Outcome::Completed { .. } => {}
    }
}

/// The tail's end, after its first fields: ` result=... [blocked_us=...] [site=...]
/// tid=... pid=...]` (`blocked_us` only for a call that completed).
fn push_tail_end(
    line: &mut String,
    outcome: Outcome,
    blocked_us: Option<u64>,
    site: Option<u32>,
    (tid, pid): (i64, u32),
) {
    match outcome {
        Outcome::Completed { result, .. } => {
            let _ = write!(line, " result={result}");
            if let Some(us) = blocked_us {
                let _ = write!(line, " blocked_us={us}");
            }
        }
        Outcome::Aborting | Outcome::Halting(_) => {
            let _ = write!(line, " result={}", outcome.name());
        }
    }
    if let Some(site) = site {
        let _ = write!(line, " site={site}");
    }
    let _ = write!(line, " tid={tid} pid={pid}]");
}

/// What the line of a release of registered memory says (issue 28).
#[derive(Clone, Copy, Debug)]
pub struct Release<'a> {
    /// `free`, `realloc`, `munmap` or `mremap`.
    pub api: &'a str,
    /// The registered range `[start, end)` it released.
    pub range: (usize, usize),
    /// Where the range was registered (`main at app.cpp:20 (app+0x11b9)`), if known.
    pub registered_at: Option<&'a str>,
    /// `Completed` (result 0): the release went on; `Aborting` / `Halting`: pinguard
    /// stops the program (before a `free` or `munmap`, just after a `realloc` or
    /// `mremap` moved the memory).
    pub outcome: Outcome,
    pub tid: i64,
    pub pid: u32,
    pub site: Option<u32>,
    pub advice: &'a str,
}

/// What releasing registered memory does, as measured (the sentence of the line and of
/// the SARIF rule).
pub const RELEASED_COST: &str = "the driver keeps the old pages pinned under that address, so a later copy from or to it can move the old pages' contents instead of the memory now there (measured on an H100: a copy from a registered range unmapped and mapped again delivered the old data)";

/// Renders a release of registered memory as one line (without the newline).
pub fn render_release(r: &Release<'_>) -> String {
    let (start, end) = r.range;
    let bytes = end - start;
    let mut line = String::with_capacity(480);
    line.push_str(LINE_PREFIX);
    let verb = if matches!(r.outcome, Outcome::Completed { .. }) || matches!(r.api, "realloc" | "mremap") {
        "released"
    } else {
        "is about to release"
    };
    let _ = write!(
        line,
        "{} (libc) {verb} [{start:#x}, {end:#x}) ({bytes} bytes) while it is still registered with cudaHostRegister",
        r.api
    );
    if let Some(at) = r.registered_at {
        let _ = write!(line, " (registered in {at})");
    }
    let _ = write!(line, ": {RELEASED_COST}.");
    push_advice_and_stop(&mut line, r.advice, r.outcome);
    let _ = write!(
        line,
        " [verdict={} api={} layer=libc dir=- bytes={bytes} host={start:#x}",
        RecordKind::Released.name(),
        r.api
    );
    push_tail_end(&mut line, r.outcome, None, r.site, (r.tid, r.pid));
    line
}

/// What the line of a churning pinning site says (issue 28, item 4).
#[derive(Clone, Copy, Debug)]
pub struct Churn<'a> {
    /// The pinning call (`cudaHostAlloc`, `cudaHostRegister`, ...) and its layer.
    pub api: &'a str,
    pub layer: Layer,
    /// The release that ended this cycle (`cudaFreeHost`, `cudaHostUnregister`, ...).
    pub released_by: &'a str,
    /// Pin-and-release cycles at this site so far (`churn_min` when first said).
    pub cycles: u64,
    /// Host time in all those pinning and releasing calls.
    pub total_ns: u64,
    /// This cycle's range and host time (pin plus release).
    pub range: (usize, usize),
    pub cycle_ns: u64,
    /// `Completed`: the program goes on; `Aborting` / `Halting`: pinguard stops it,
    /// the release done.
    pub outcome: Outcome,
    pub tid: i64,
    pub pid: u32,
    pub site: Option<u32>,
    pub advice: &'a str,
}

/// What pinning and releasing again and again costs (the sentence of the line and of
/// the SARIF rule).
pub const CHURN_COST: &str = "pinning is a slow system call that the driver serialises across threads (a serving engine measured stalls of up to 12 ms a call under concurrency), and releasing pinned memory waits for the device";

/// Renders a churning pinning site as one line (without the newline).
pub fn render_churn(c: &Churn<'_>) -> String {
    let (start, end) = c.range;
    let bytes = end - start;
    let mut line = String::with_capacity(480);
    line.push_str(LINE_PREFIX);
    let _ = write!(
        line,
        "{} ({}): host memory pinned at this call site was released again ({}) {} times so far, {} of host time in those calls: {CHURN_COST}.",
        c.api,
        c.layer.name(),
        c.released_by,
        c.cycles,
        human_duration(std::time::Duration::from_nanos(c.total_ns))
    );
    push_advice_and_stop(&mut line, c.advice, c.outcome);
    let _ = write!(
        line,
        " [verdict={} api={} layer={} dir=- bytes={bytes} host={start:#x}",
        RecordKind::Churn.name(),
        c.api,
        c.layer.name()
    );
    push_tail_end(&mut line, c.outcome, Some(c.cycle_ns / 1000), c.site, (c.tid, c.pid));
    line
}

/// The machine-readable tail of a pinguard line, as key/value pairs; `None` for lines
/// that are not pinguard records (other output, or pinguard lines without a tail).
pub fn parse_record(line: &str) -> Option<BTreeMap<String, String>> {
    let fields = tail_fields(line.trim_end().strip_prefix(LINE_PREFIX)?)?;
    fields.contains_key("verdict").then_some(fields)
}

/// The `key=value` pairs of a line's final `[...]` tail.
pub(crate) fn tail_fields(text: &str) -> Option<BTreeMap<String, String>> {
    let open = text.rfind(" [")?;
    let tail = text[open + 2..].strip_suffix(']')?;
    Some(tail.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("a\nb\u{1b}[31m\tc"), "a\\x0ab\\x1b[31m\tc");
        assert!(!escape_controls("x\npinguard: forged").contains('\n'));
    }

    #[test]
    fn runtime_versions_from_file_names() {
        assert_eq!(cudart_version_of("libcudart.so.13.0.96"), Some(13000));
        assert_eq!(cudart_version_of("libcudart.so.12.9.79"), Some(12090));
        assert_eq!(cudart_version_of("libcudart.so.13"), None, "the major alone is not a version");
        assert_eq!(cudart_version_of("libcuda.so.1"), None);
    }
    use crate::extent::HostSpan;

    fn finding(kind: RecordKind, outcome: Outcome) -> Finding<'static> {
        Finding {
            kind,
            api: "cudaMemcpyAsync",
            layer: Layer::Runtime,
            verdict: CopyVerdict {
                kind: VerdictKind::Pageable,
                direction: Direction::HostToDevice,
                host: HostSpan::linear(0x7f00_0000_1000, 1 << 20).unwrap(),
                edge: None,
                pinned_unseen: false,
            },
            edge_origin: None,
            element: None,
            stream: 0,
            stream_kind: StreamKind::LegacyDefault,
            outcome,
            tid: 42,
            pid: 7,
            site: Some(3),
            advice: "Pin it once.",
            capture: None,
        }
    }

    #[test]
    fn a_release_line_names_the_range_its_registration_and_the_hazard() {
        let r = Release {
            api: "munmap",
            range: (0x10000, 0x30000),
            registered_at: Some("main at app.cpp:20"),
            outcome: Outcome::Completed { result: 0, blocked: Duration::ZERO },
            tid: 7,
            pid: 9,
            site: Some(2),
            advice: "Unregister first.",
        };
        let line = render_release(&r);
        assert!(
            line.starts_with("pinguard: munmap (libc) released [0x10000, 0x30000) (131072 bytes) while it is still registered with cudaHostRegister (registered in main at app.cpp:20): the driver keeps the old pages pinned"),
            "{line}"
        );
        assert!(line.contains("delivered the old data). Unregister first. ["), "{line}");
        let rec = parse_record(&line).expect("a record");
        assert_eq!(
            (rec["verdict"].as_str(), rec["dir"].as_str(), rec["bytes"].as_str(), rec["result"].as_str()),
            ("released_while_registered", "-", "131072", "0")
        );
        let stopping = render_release(&Release { outcome: Outcome::Aborting, api: "free", ..r });
        assert!(stopping.contains("free (libc) is about to release [0x10000"), "{stopping}");
        assert!(stopping.contains("Aborting (PINGUARD_OPTIONS mode=abort)."), "{stopping}");
        assert_eq!(parse_record(&stopping).unwrap()["result"], "aborted");
        let moved = render_release(&Release { outcome: Outcome::Aborting, api: "realloc", ..r });
        assert!(moved.contains("realloc (libc) released [0x10000"), "a realloc is seen once it moved: {moved}");
    }

    #[test]
    fn a_churn_line_names_the_pinning_the_release_and_the_cycles() {
        let c = Churn {
            api: "cudaHostAlloc",
            layer: Layer::Runtime,
            released_by: "cudaFreeHost",
            cycles: 100,
            total_ns: 12_300_000,
            range: (0x10000, 0x11000),
            cycle_ns: 123_000,
            outcome: Outcome::Completed { result: 0, blocked: Duration::ZERO },
            tid: 7,
            pid: 9,
            site: Some(4),
            advice: "Keep the buffer.",
        };
        let line = render_churn(&c);
        assert!(
            line.starts_with("pinguard: cudaHostAlloc (runtime): host memory pinned at this call site was released again (cudaFreeHost) 100 times so far, 12.3 ms of host time in those calls: pinning is a slow system call"),
            "{line}"
        );
        assert!(line.contains("waits for the device. Keep the buffer. ["), "{line}");
        let rec = parse_record(&line).expect("a record");
        assert_eq!(
            (rec["verdict"].as_str(), rec["api"].as_str(), rec["dir"].as_str(), rec["bytes"].as_str()),
            ("pinned_churn", "cudaHostAlloc", "-", "4096")
        );
        assert_eq!((rec["result"].as_str(), rec["blocked_us"].as_str(), rec["site"].as_str()), ("0", "123", "4"));
        let stopping = render_churn(&Churn { outcome: Outcome::Halting(3), ..c });
        assert!(stopping.contains("Stopping the program with exit code 3 (halt_on_error)."), "{stopping}");
        assert_eq!(parse_record(&stopping).unwrap()["result"], "halted");
    }

    #[test]
    fn captured_line_names_the_capture_and_what_a_launch_does() {
        let mut f = finding(RecordKind::Captured, Outcome::Completed { result: 0, blocked: Duration::from_micros(3) });
        f.stream = 0x5000;
        f.stream_kind = StreamKind::Explicit;
        f.capture = Some(CaptureFacts { id: 4, mode: Some("global"), begun: Some("main at app.cpp:40") });
        let line = render(&f);
        assert!(
            line.contains("while stream 0x5000 is being captured into a CUDA graph (capture 4, global mode, begun in main at app.cpp:40): every launch of the graph copies this pageable memory again"),
            "{line}"
        );
        assert!(!line.contains("blocked for"), "a captured copy does not run at the call: {line}");
        let rec = parse_record(&line).unwrap();
        assert_eq!((rec["verdict"].as_str(), rec["capture"].as_str()), ("captured", "4"));
        f.capture = None;
        assert!(render(&f).contains("captured into a CUDA graph: every launch of the graph copies"));
    }

    #[test]
    fn pageable_line_says_what_happened_and_round_trips() {
        let f = finding(
            RecordKind::Finding(VerdictKind::Pageable),
            Outcome::Completed { result: 0, blocked: Duration::from_micros(40_128) },
        );
        let line = render(&f);
        assert!(line.starts_with("pinguard: cudaMemcpyAsync (runtime): host-to-device copy of 1048576 bytes"));
        assert!(line.contains("blocked for 40.1 ms until the legacy default stream drained and the copy ended"));
        assert!(line.contains("1/8 of pinned bandwidth"));
        assert!(line.contains("Pin it once."));
        assert!(!line.contains('\n'));
        let rec = parse_record(&line).unwrap();
        assert_eq!(rec["verdict"], "pageable");
        assert_eq!(rec["dir"], "H2D");
        assert_eq!(rec["bytes"], "1048576");
        assert_eq!(rec["host"], "0x7f0000001000");
        assert_eq!(rec["blocked_us"], "40128");
        assert_eq!(rec["stream_kind"], "legacy-default");
        assert_eq!(rec["site"], "3");
    }

    #[test]
    fn abort_and_straddle_and_allowed_lines() {
        let f = finding(RecordKind::Finding(VerdictKind::Pageable), Outcome::Aborting);
        let line = render(&f);
        assert!(line.contains("would block the host thread") && line.contains("Aborting"));
        assert_eq!(parse_record(&line).unwrap()["result"], "aborted");
        let h = finding(RecordKind::Finding(VerdictKind::Pageable), Outcome::Halting(23));
        let line = render(&h);
        assert!(line.contains("exit code 23 (halt_on_error)"), "{line}");
        assert_eq!(parse_record(&line).unwrap()["result"], "halted");

        let mut s = finding(
            RecordKind::Finding(VerdictKind::Straddles),
            Outcome::Completed { result: 1, blocked: Duration::ZERO },
        );
        s.verdict.kind = VerdictKind::Straddles;
        s.verdict.edge = Some((0x7f00_0000_0000, 0x7f00_0000_2000));
        s.edge_origin = Some(PinOrigin::Registered);
        let line = render(&s);
        assert!(
            line.contains(
                "straddles the edge of the pinned range [0x7f0000000000, 0x7f0000002000) from cudaHostRegister"
            )
        );
        assert!(line.contains("invalid value (it returned 1)"));
        assert_eq!(parse_record(&line).unwrap()["edge"], "0x7f0000000000-0x7f0000002000");

        let mut a = finding(RecordKind::AllowedByAttribute, Outcome::Completed { result: 0, blocked: Duration::ZERO });
        a.element = Some(2);
        let line = render(&a);
        assert!(line.contains("(batch element 2)") && line.contains("not a finding"));
        let rec = parse_record(&line).unwrap();
        assert_eq!((rec["verdict"].as_str(), rec["element"].as_str()), ("allowed", "2"));
    }

    #[test]
    fn other_lines_are_not_records() {
        assert_eq!(parse_record("hello [verdict=pageable]"), None);
        assert_eq!(parse_record("pinguard: ignoring PINGUARD_OPTIONS entry 'x'"), None);
        let summary = crate::summary::SummaryCounts { checked: 3, pageable: 1, ..Default::default() }.render(1, 1, "");
        assert_eq!(parse_record(&summary), None, "the summary is not a finding");
    }

    #[test]
    fn stream_kinds() {
        assert_eq!(StreamKind::of(0, false), StreamKind::LegacyDefault);
        assert_eq!(StreamKind::of(0, true), StreamKind::PerThreadDefault);
        assert_eq!(StreamKind::of(1, true), StreamKind::Legacy);
        assert_eq!(StreamKind::of(2, false), StreamKind::PerThreadDefault);
        assert_eq!(StreamKind::of(0x5555_0000, false), StreamKind::Explicit);
    }
}
