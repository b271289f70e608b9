//! The JSON Lines report: one record per line, each written whole with one `write(2)`,
//! so a process killed mid-run leaves a valid file up to its last line. The schema is
//! documented in `docs/report-format.md`; [`SCHEMA`] is its version.
//!
//! Records (`"event"`): `process` (the header), `site` (a new call site, once),
//! `aggregate` (a site's totals, periodically and at exit with `"final":true`),
//! `summary` (the process's counters, last), `note` (a diagnostic line). Every record
//! carries `pid` and `iid`, the process instance (a pid can run two programs: exec).

use std::fmt::{self, Write};

use crate::jsonl::{self, Object};
use crate::site::{FrameInfo, SiteTotals};
use crate::summary::SummaryCounts;

/// The report schema's version.
pub const SCHEMA: u32 = 1;

/// The header: who this process is.
pub struct ProcessHeader<'a> {
    pub iid: &'a str,
    pub pid: u32,
    pub ppid: u32,
    pub host: &'a str,
    pub exe: &'a str,
    pub argv: &'a [String],
    pub start_ms: u64,
    pub cuda_driver: Option<i32>,
    /// `cudaRuntimeGetVersion`, where a shared CUDA runtime is loaded (a static one
    /// cannot be asked from outside).
    pub cuda_runtime: Option<i32>,
    /// The rank a launcher gave the process (`mpirun`, `srun`, `torchrun`).
    pub rank: Option<u32>,
    pub framework: &'a str,
    /// The settings in force, as an options string.
    pub settings: &'a str,
}

pub fn write_process<W: Write>(w: &mut W, h: &ProcessHeader<'_>) -> fmt::Result {
    let mut o = Object::begin(w);
    o.str("event", "process")
        .num("schema", SCHEMA)
        .str("pinguard", env!("CARGO_PKG_VERSION"))
        .str("commit", crate::COMMIT)
        .str("iid", h.iid)
        .num("pid", h.pid)
        .num("ppid", h.ppid)
        .str("host", h.host)
        .str("exe", h.exe)
        .with("argv", |w| {
            w.write_char('[')?;
            for (i, a) in h.argv.iter().enumerate() {
                if i > 0 {
                    w.write_char(',')?;
                }
                jsonl::string(w, a)?;
            }
            w.write_char(']')
        })
        .num("start_ms", h.start_ms);
    for (key, version) in [("cuda_driver", h.cuda_driver), ("cuda_runtime", h.cuda_runtime)] {
        match version {
            Some(v) => o.num(key, v),
            None => o.raw(key, "null"),
        };
    }
    match h.rank {
        Some(r) => o.num("rank", r),
        None => o.raw("rank", "null"),
    };
    o.str("framework", h.framework).str("settings", h.settings).end()
}

/// The first call seen at a site.
pub struct FirstCall<'a> {
    pub bytes: u64,
    pub host: usize,
    pub stream: usize,
    pub stream_kind: &'a str,
    pub element: Option<usize>,
    pub tid: i64,
    /// The real call's result; `None` when pinguard stopped before it.
    pub result: Option<i32>,
    /// `completed`, `aborted` (mode=abort) or `halted` (halt_on_error).
    pub outcome: &'a str,
    pub blocked_ns: u64,
    pub time_ms: u64,
}

/// A new call site.
pub struct SiteRecord<'a> {
    pub iid: &'a str,
    pub pid: u32,
    pub site: u32,
    pub fingerprint: &'a str,
    /// `pageable`, `straddles` or `allowed`.
    pub kind: &'a str,
    pub api: &'a str,
    pub layer: &'a str,
    pub dir: &'a str,
    pub first: FirstCall<'a>,
    pub location: Option<&'a FrameInfo>,
    /// The frames, already rendered as a JSON array.
    pub frames_json: &'a str,
    pub advice: &'a str,
    pub suppressed: bool,
}

pub fn write_site<W: Write>(w: &mut W, s: &SiteRecord<'_>) -> fmt::Result {
    let f = &s.first;
    let mut o = Object::begin(w);
    o.str("event", "site")
        .str("iid", s.iid)
        .num("pid", s.pid)
        .num("site", s.site)
        .str("fingerprint", s.fingerprint)
        .str("kind", s.kind)
        .str("api", s.api)
        .str("layer", s.layer)
        .str("dir", s.dir)
        .with("first", |w| {
            let mut c = Object::begin(w);
            c.num("bytes", f.bytes).hex("host", f.host).hex("stream", f.stream).str("stream_kind", f.stream_kind);
            match f.element {
                Some(e) => c.num("element", e),
                None => c.raw("element", "null"),
            };
            c.num("tid", f.tid);
            match f.result {
                Some(r) => c.num("result", r),
                None => c.raw("result", "null"),
            };
            c.str("outcome", f.outcome).num("blocked_ns", f.blocked_ns).num("time_ms", f.time_ms).end()
        })
        .with("location", |w| match s.location {
            Some(l) => l.write_json(w),
            None => w.write_str("null"),
        })
        .raw("frames", s.frames_json)
        .str("advice", s.advice)
        .bool("suppressed", s.suppressed)
        .end()
}

/// A site's totals so far (`last`: the final record, written at exit).
pub fn write_aggregate<W: Write>(w: &mut W, iid: &str, pid: u32, site: u32, t: &SiteTotals, last: bool) -> fmt::Result {
    Object::begin(w)
        .str("event", "aggregate")
        .str("iid", iid)
        .num("pid", pid)
        .num("site", site)
        .bool("final", last)
        .num("count", t.count)
        .num("bytes_total", t.bytes_total)
        .num("bytes_min", t.bytes_min)
        .num("bytes_max", t.bytes_max)
        .num("blocked_ns_total", t.blocked_ns_total)
        .num("blocked_ns_max", t.blocked_ns_max)
        .num("first_ms", t.first_ms)
        .num("last_ms", t.last_ms)
        .num("errors", t.errors)
        .with("streams", |w| t.write_streams(w))
        .bool("streams_more", t.streams_more)
        .end()
}

/// The process's summary: the last record. `end` says how the process ended:
/// `exit`, `halt` (halt_on_error) or `abort` (mode=abort).
pub fn write_summary<W: Write>(
    w: &mut W,
    iid: &str,
    pid: u32,
    counts: &SummaryCounts,
    sites: u64,
    end: &str,
    time_ms: u64,
) -> fmt::Result {
    Object::begin(w)
        .str("event", "summary")
        .str("iid", iid)
        .num("pid", pid)
        .str("end", end)
        .num("time_ms", time_ms)
        .num("sites", sites)
        .num("findings", counts.findings())
        .with("counts", |w| {
            let mut o = Object::begin(w);
            for (name, value, ..) in counts.fields() {
                o.num(name, value);
            }
            o.end()
        })
        .end()
}

/// A process image's mark, written as it loads under `pinguard run` (before any CUDA
/// call): the run folder then knows it was watched. Fields of raw bytes (paths, the
/// command line) are written as text, invalid UTF-8 replaced.
pub struct StartMark<'a> {
    pub iid: &'a str,
    pub pid: u32,
    pub ppid: u32,
    pub host: &'a str,
    /// The executable's path (`/proc/self/exe`).
    pub exe: &'a [u8],
    /// `/proc/self/cmdline`: arguments separated by NUL bytes.
    pub cmdline: &'a [u8],
    pub time_ms: u64,
    /// `CLOCK_MONOTONIC` (the same clock in every process of a host): orders this start
    /// after the exec that made it.
    pub mono_ns: u64,
}

pub fn write_start<W: Write>(w: &mut W, m: &StartMark<'_>) -> fmt::Result {
    Object::begin(w)
        .str("event", "start")
        .num("schema", SCHEMA)
        .str("pinguard", env!("CARGO_PKG_VERSION"))
        .str("iid", m.iid)
        .num("pid", m.pid)
        .num("ppid", m.ppid)
        .str("host", m.host)
        .with("exe", |w| jsonl::bytes(w, m.exe))
        .with("argv", |w| {
            w.write_char('[')?;
            for (i, a) in m.cmdline.split(|&b| b == 0).filter(|a| !a.is_empty()).enumerate() {
                if i > 0 {
                    w.write_char(',')?;
                }
                jsonl::bytes(w, a)?;
            }
            w.write_char(']')
        })
        .num("time_ms", m.time_ms)
        .num("mono_ns", m.mono_ns)
        .end()
}

/// A program about to start in process `pid`: an exec there, or a spawn of it.
pub struct ExecNote<'a> {
    /// The instance that called exec or spawn ("0000000000000000" if it had none yet).
    pub iid: &'a str,
    /// The process that will run the program.
    pub pid: u32,
    /// The process that called exec or spawn (the same for an exec).
    pub by: u32,
    pub host: &'a str,
    /// The path or file name as the caller gave it (`execvp` searches `PATH` for it).
    pub path: &'a [u8],
    /// Whether the environment the program gets still preloads pinguard, and still names
    /// the run folder.
    pub preload: bool,
    pub run: bool,
    pub mono_ns: u64,
}

pub fn write_exec<W: Write>(w: &mut W, e: &ExecNote<'_>) -> fmt::Result {
    Object::begin(w)
        .str("event", "exec")
        .str("iid", e.iid)
        .num("pid", e.pid)
        .num("by", e.by)
        .str("host", e.host)
        .with("path", |w| jsonl::bytes(w, e.path))
        .bool("preload", e.preload)
        .bool("run", e.run)
        .num("mono_ns", e.mono_ns)
        .end()
}

/// The exec noted at `mono_ns` in process `pid` failed (the call returned `errno`).
pub fn write_exec_failed<W: Write>(w: &mut W, iid: &str, pid: u32, mono_ns: u64, errno: i32) -> fmt::Result {
    Object::begin(w)
        .str("event", "exec_failed")
        .str("iid", iid)
        .num("pid", pid)
        .num("mono_ns", mono_ns)
        .num("errno", errno)
        .end()
}

/// Watched calls made after the summary (exit-time destructors of other libraries,
/// threads still running at exit), not checked: `calls` so far (the last record holds
/// the total).
pub fn write_late<W: Write>(w: &mut W, iid: &str, pid: u32, calls: u64) -> fmt::Result {
    Object::begin(w).str("event", "late").str("iid", iid).num("pid", pid).num("calls", calls).end()
}

/// A diagnostic line (a malformed setting, an internal error, ...).
pub fn write_note<W: Write>(w: &mut W, iid: &str, pid: u32, text: &str) -> fmt::Result {
    Object::begin(w).str("event", "note").str("iid", iid).num("pid", pid).str("text", text).end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::FixedBuf;

    #[test]
    fn final_records_fit_a_fixed_buffer() {
        let t = SiteTotals {
            count: u64::MAX,
            bytes_total: u64::MAX,
            streams_seen: 4,
            streams: [usize::MAX; 4],
            ..Default::default()
        };
        let mut b = FixedBuf::<1024>::new();
        write_aggregate(&mut b, "ffffffffffffffff", u32::MAX, u32::MAX, &t, true).unwrap();
        b.clear();
        let c = SummaryCounts { checked: u64::MAX, ..Default::default() };
        write_summary(&mut b, "ffffffffffffffff", u32::MAX, &c, u64::MAX, "exit", u64::MAX).unwrap();
        assert!(!b.overflowed());
    }
}
