//! Every record of the JSON Lines report, declared once.
//!
//! [`declare_records!`] makes, from one declaration of a record's fields (name, wire
//! kind, meaning):
//! - the **writer** (`write::Site<'a>`: borrowed fields, [`write::Site::write`] into any
//!   `fmt::Write` without allocating: the preload writes its exit records from a
//!   destructor that may run after a signal interrupted `malloc`);
//! - the **reader** (`read::Site`: owned fields, `serde::Deserialize`, behind this
//!   crate's `serde` feature, which `pinguard report` turns on and the preload does not);
//! - the **table** of its fields in `docs/report-format.md` ([`doc_tables`]; a test keeps
//!   the page equal to it).
//!
//! Adding a field: one line here (an `opt_` kind if older reports lack it: a reader of
//! version N+1 reads version N's records). Changing a field's meaning or removing one:
//! a new [`SCHEMA`].

use std::fmt::{self, Write};

use crate::jsonl::{self, Object};
use crate::summary::SummaryCounts;

/// The report schema's version (`"schema"` in `process` and `start` records).
pub const SCHEMA: u32 = 1;

/// What a site's copies are: a finding (`pageable`, `straddles`, `captured`) or a note
/// (`allowed`).
/// The one spelling of these names, written and read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum SiteKind {
    #[default]
    Pageable,
    Straddles,
    /// Pageable host memory in a copy captured into a CUDA graph.
    Captured,
    /// Memory released (`free`, `realloc`, `munmap`, `mremap`) while still registered
    /// with `cudaHostRegister`: not a copy, a release.
    #[cfg_attr(feature = "serde", serde(rename = "released_while_registered"))]
    Released,
    /// A call site that pins host memory which is released again, over and over
    /// (`churn_min` times or more): not a copy, a pinning place.
    #[cfg_attr(feature = "serde", serde(rename = "pinned_churn"))]
    Churn,
    Allowed,
}

impl SiteKind {
    pub fn name(self) -> &'static str {
        match self {
            SiteKind::Pageable => "pageable",
            SiteKind::Straddles => "straddles",
            SiteKind::Captured => "captured",
            SiteKind::Released => "released_while_registered",
            SiteKind::Churn => "pinned_churn",
            SiteKind::Allowed => "allowed",
        }
    }

    /// A finding (reported, counted against the gate), not a note.
    pub fn is_finding(self) -> bool {
        self != SiteKind::Allowed
    }
}

impl fmt::Display for SiteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Writes a NUL-separated command line (`/proc/self/cmdline`) as a JSON array.
fn cmdline<W: Write>(w: &mut W, bytes: &[u8]) -> fmt::Result {
    w.write_char('[')?;
    for (i, a) in bytes.split(|&b| b == 0).filter(|a| !a.is_empty()).enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        jsonl::bytes(w, a)?;
    }
    w.write_char(']')
}

fn strs<W: Write>(w: &mut W, items: &[String]) -> fmt::Result {
    w.write_char('[')?;
    for (i, a) in items.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        jsonl::string(w, a)?;
    }
    w.write_char(']')
}

fn hexes<W: Write>(w: &mut W, items: &[usize]) -> fmt::Result {
    w.write_char('[')?;
    for (i, a) in items.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        write!(w, "\"{a:#x}\"")?;
    }
    w.write_char(']')
}

macro_rules! declare_records {
    ($(
        $(#[doc = $doc:literal])*
        $form:ident $Name:ident $event:literal {
            $( $field:ident $([$json:literal])? : $kind:ident $(($inner:ident))? = $meaning:literal; )*
        }
    )*) => {
        /// The writers: borrowed fields, written without allocating.
        pub mod write {
            #[allow(unused_imports, reason = "each record uses some of them")]
            use super::*;
            $(
                $(#[doc = $doc])*
                #[derive(Clone, Copy, Debug)]
                pub struct $Name<'a> {
                    $( #[doc = $meaning] pub $field: declare_records!(@wty $kind $($inner)?), )*
                }

                impl $Name<'_> {
                    /// The record as one JSON object (no newline).
                    pub fn write<W: Write>(&self, w: &mut W) -> fmt::Result {
                        let mut o = Object::begin(w);
                        declare_records!(@begin $form o $event);
                        $( declare_records!(@put o, declare_records!(@name $field $($json)?), $kind $($inner)?, self.$field); )*
                        o.end()
                    }
                }
            )*
        }

        /// The readers: owned fields, read with serde (`pinguard report`).
        #[cfg(feature = "serde")]
        pub mod read {
            #[allow(unused_imports, reason = "each record uses some of them")]
            use super::*;
            $(
                $(#[doc = $doc])*
                #[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
                pub struct $Name {
                    $(
                        #[doc = $meaning]
                        $( #[serde(rename = $json)] )?
                        pub $field: declare_records!(@rty $kind $($inner)?),
                    )*
                }
            )*
        }

        /// Every record's fields: (record, field, kind, meaning), in declaration order.
        pub fn fields() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
            vec![$( $( (
                $event,
                declare_records!(@name $field $($json)?),
                declare_records!(@doc $kind $($inner)?),
                $meaning,
            ), )* )*]
        }
    };

    (@name $field:ident $json:literal) => { $json };
    (@name $field:ident) => { stringify!($field) };
    (@begin record $o:ident $event:literal) => { $o.str("event", $event) };
    (@begin object $o:ident $event:literal) => { () };

    // The writer's type of each kind.
    (@wty str) => { &'a str };
    (@wty opt_str) => { Option<&'a str> };
    (@wty u32) => { u32 };
    (@wty u64) => { u64 };
    (@wty i32) => { i32 };
    (@wty i64) => { i64 };
    (@wty opt_i32) => { Option<i32> };
    (@wty opt_u32) => { Option<u32> };
    (@wty opt_u64) => { Option<u64> };
    (@wty bool) => { bool };
    (@wty hex) => { usize };
    (@wty bytes) => { &'a [u8] };
    (@wty strs) => { &'a [String] };
    (@wty cmdline) => { &'a [u8] };
    (@wty hexes) => { &'a [usize] };
    (@wty kind) => { SiteKind };
    (@wty counts) => { &'a SummaryCounts };
    (@wty frames) => { &'a str };
    (@wty obj $T:ident) => { write::$T<'a> };
    (@wty opt_obj $T:ident) => { Option<write::$T<'a>> };

    // The reader's type of each kind.
    (@rty str) => { String };
    (@rty opt_str) => { Option<String> };
    (@rty u32) => { u32 };
    (@rty u64) => { u64 };
    (@rty i32) => { i32 };
    (@rty i64) => { i64 };
    (@rty opt_i32) => { Option<i32> };
    (@rty opt_u32) => { Option<u32> };
    (@rty opt_u64) => { Option<u64> };
    (@rty bool) => { bool };
    (@rty hex) => { String };
    (@rty bytes) => { String };
    (@rty strs) => { Vec<String> };
    (@rty cmdline) => { Vec<String> };
    (@rty hexes) => { Vec<String> };
    (@rty kind) => { SiteKind };
    (@rty counts) => { SummaryCounts };
    (@rty frames) => { Vec<read::Frame> };
    (@rty obj $T:ident) => { read::$T };
    (@rty opt_obj $T:ident) => { Option<read::$T> };

    // How each kind is written.
    (@put $o:ident, $n:expr, str, $v:expr) => { $o.str($n, $v) };
    (@put $o:ident, $n:expr, opt_str, $v:expr) => { $o.opt_str($n, $v) };
    (@put $o:ident, $n:expr, u32, $v:expr) => { $o.num($n, $v) };
    (@put $o:ident, $n:expr, u64, $v:expr) => { $o.num($n, $v) };
    (@put $o:ident, $n:expr, i32, $v:expr) => { $o.num($n, $v) };
    (@put $o:ident, $n:expr, i64, $v:expr) => { $o.num($n, $v) };
    (@put $o:ident, $n:expr, opt_i32, $v:expr) => { $o.opt_num($n, $v) };
    (@put $o:ident, $n:expr, opt_u32, $v:expr) => { $o.opt_num($n, $v) };
    (@put $o:ident, $n:expr, opt_u64, $v:expr) => { $o.opt_num($n, $v) };
    (@put $o:ident, $n:expr, bool, $v:expr) => { $o.bool($n, $v) };
    (@put $o:ident, $n:expr, hex, $v:expr) => { $o.hex($n, $v) };
    (@put $o:ident, $n:expr, bytes, $v:expr) => { $o.with($n, |w| jsonl::bytes(w, $v)) };
    (@put $o:ident, $n:expr, strs, $v:expr) => { $o.with($n, |w| strs(w, $v)) };
    (@put $o:ident, $n:expr, cmdline, $v:expr) => { $o.with($n, |w| cmdline(w, $v)) };
    (@put $o:ident, $n:expr, hexes, $v:expr) => { $o.with($n, |w| hexes(w, $v)) };
    (@put $o:ident, $n:expr, kind, $v:expr) => { $o.str($n, $v.name()) };
    (@put $o:ident, $n:expr, counts, $v:expr) => { $o.with($n, |w| $v.write_json(w)) };
    (@put $o:ident, $n:expr, frames, $v:expr) => { $o.raw($n, $v) };
    (@put $o:ident, $n:expr, obj $T:ident, $v:expr) => { $o.with($n, |w| $v.write(w)) };
    (@put $o:ident, $n:expr, opt_obj $T:ident, $v:expr) => {
        match &$v {
            Some(v) => $o.with($n, |w| v.write(w)),
            None => $o.raw($n, "null"),
        }
    };

    // The type each kind has in the documentation.
    (@doc str) => { "string" };
    (@doc opt_str) => { "string or null" };
    (@doc u32) => { "number" };
    (@doc u64) => { "number" };
    (@doc i32) => { "number" };
    (@doc i64) => { "number" };
    (@doc opt_i32) => { "number or null" };
    (@doc opt_u32) => { "number or null" };
    (@doc opt_u64) => { "number or null" };
    (@doc bool) => { "bool" };
    (@doc hex) => { "hex string" };
    (@doc bytes) => { "string" };
    (@doc strs) => { "array of strings" };
    (@doc cmdline) => { "array of strings" };
    (@doc hexes) => { "array of hex strings" };
    (@doc kind) => { "`pageable`, `straddles`, `captured`, `released_while_registered`, `pinned_churn` or `allowed`" };
    (@doc counts) => { "object: counter -> number" };
    (@doc frames) => { "array of frames" };
    (@doc obj $T:ident) => { concat!("object: ", stringify!($T)) };
    (@doc opt_obj $T:ident) => { concat!(stringify!($T), " or null") };
}

declare_records! {
    /// The header: who this process is. First in each process instance's records.
    record Process "process" {
        schema: u32 = "this format's version (`SCHEMA`)";
        pinguard: str = "pinguard's version";
        commit: opt_str = "the commit pinguard was built from (`-modified` if it had uncommitted changes)";
        iid: str = "the process instance: 16 hex digits, new in every process image";
        pid: u32 = "the process";
        ppid: u32 = "its parent";
        host: str = "the host name";
        exe: str = "the executable";
        argv: strs = "the command line";
        start_ms: u64 = "when the report was opened (ms since the epoch)";
        cuda_driver: opt_i32 = "`cuDriverGetVersion` (13000 is CUDA 13.0), null where unknown";
        cuda_runtime: opt_i32 = "the shared CUDA runtime's version, from the file it was loaded from; null for a static runtime";
        rank: opt_u32 = "the rank a launcher gave the process (`mpirun`, `srun`, `torchrun`), null without one";
        framework: str = "`pytorch`, `cupy`, `jax` or `cuda`: what the process loaded; picks the advice for a copy whose own stack is in no framework's code";
        settings: str = "every setting in force, as a `PINGUARD_OPTIONS` string";
    }

    /// A site's first call, in full.
    object First "first" {
        bytes: u64 = "the host extent the copy touches; for a release, the registered range's length; for a `pinned_churn` site, the range its cycle pinned";
        host: hex = "the host address; for a release, where the registered range begins; for a `pinned_churn` site, where its cycle's range began";
        stream: hex = "the stream (0 for a release or a `pinned_churn` site)";
        stream_kind: str = "`explicit`, `legacy-default`, `per-thread-default` or `legacy`; `none` for a release or a `pinned_churn` site";
        element: opt_u64 = "the index in a batch call, else null";
        tid: i64 = "the thread";
        thread: opt_str = "the thread's name (`prctl(PR_GET_NAME)`: frameworks name their threads, e.g. `pt_autograd_0`), null where it has none; says which thread made a copy that has no Python frames";
        result: opt_i32 = "the real call's return code; null when pinguard stopped before it";
        outcome: str = "`completed`, `aborted` (abort mode) or `halted` (`halt_on_error`)";
        blocked_ns: u64 = "host time the call held the thread; for a `pinned_churn` site, its cycle's pinning and release together";
        time_ms: u64 = "when (ms since the epoch)";
    }

    /// One frame of a stack.
    object Frame "frame" {
        kind: str = "`native`, or `interpreted` (a Python frame: its code object as the address, its bytecode offset, no module)";
        address: hex = "the return address";
        function: opt_str = "the function, demangled; null without symbols";
        file: opt_str = "the source file; null without debug information";
        line: opt_u32 = "the source line; null without it (or DWARF's line 0)";
        module: opt_str = "the shared object or program the address lies in";
        offset: hex = "the address within the module (`addr2line -e MODULE OFFSET`)";
    }

    /// The stream capture a captured copy went into.
    object Capture "capture" {
        id: u64 = "the capture sequence's id, unique in the process (`cuStreamGetCaptureInfo`)";
        mode: opt_str = "`global`, `thread_local` or `relaxed`; null where pinguard did not see the capture begin";
        begun: opt_obj(Frame) = "where the capture began (`cudaStreamBeginCapture`, `cuStreamBeginCapture`, ...): its first frame in your code, as a site's `location`; null where not seen";
    }

    /// A new call site, once: one place in the code (the hash of its stack's return
    /// addresses) with one verdict and direction.
    record Site "site" {
        iid: str = "the process instance";
        pid: u32 = "the process";
        site: u32 = "the site's number in this process, from 1";
        fingerprint: str = "16 hex digits, stable across runs and builds";
        kind: kind = "the verdict";
        api: str = "the CUDA function (`cudaMemcpyAsync`, `cuMemcpyHtoDAsync_v2`, ...); for a release, the C library's (`free`, `realloc`, `munmap`, `mremap`); for a `pinned_churn` site, the pinning call (`cudaHostAlloc`, `cuMemHostRegister_v2`, ...)";
        layer: str = "`runtime`, `driver`, or `libc` for a release";
        dir: str = "`H2D`, `D2H`, `H2H` or `D2D`; `-` for a release or a `pinned_churn` site";
        first: obj(First) = "the first call";
        location: opt_obj(Frame) = "the first frame not passed over by `skip_frames`: the site's place in your code";
        capture: opt_obj(Capture) = "for a `captured` site: the stream capture of its first call; null otherwise";
        registered: opt_obj(Frame) = "for a `released_while_registered` site: where the range its first call released was registered (`cudaHostRegister`, `cuMemHostRegister`): its first frame in your code, as `location`; null otherwise or where not known";
        frames: frames = "the stack, innermost first, up to `stack_depth`";
        advice: str = "the fix, for the framework whose code made the copy (its library or Python files in the stack, innermost first), else the process's";
        suppressed: bool = "a suppression rule matched: counted, not reported";
    }

    /// A site's totals so far: periodically, and once at the end (`final`). Cumulative: a
    /// later record replaces an earlier one.
    record Aggregate "aggregate" {
        iid: str = "the process instance";
        pid: u32 = "the process";
        site: u32 = "the site";
        last ["final"]: bool = "written at exit";
        count: u64 = "calls at this site";
        bytes_total: u64 = "host bytes, in all";
        bytes_min: u64 = "host bytes, least in one call";
        bytes_max: u64 = "host bytes, most in one call";
        blocked_ns_total: u64 = "host time the calls held the thread, in all";
        blocked_ns_max: u64 = "host time one call held the thread, at most";
        first_ms: u64 = "the first call (ms since the epoch)";
        last_ms: u64 = "the last call (ms since the epoch)";
        errors: u64 = "calls for which CUDA returned an error (a straddle is rejected)";
        streams: hexes = "the first streams seen (up to 4)";
        streams_more: bool = "more streams than those";
    }

    /// The process's counts, last.
    record Summary "summary" {
        iid: str = "the process instance";
        pid: u32 = "the process";
        end: str = "`exit`, `halt` (`halt_on_error`) or `abort` (abort mode)";
        time_ms: u64 = "when it was written";
        sites: u64 = "finding sites";
        findings: u64 = "findings (`pageable + straddles + captured`)";
        counts: counts = "every counter of the stderr summary line, by name";
    }

    /// A diagnostic line: a malformed setting, a file that could not be read, a privileged
    /// process. The same text went to stderr.
    record Note "note" {
        iid: str = "the process instance";
        pid: u32 = "the process";
        text: str = "what was said";
    }

    /// Watched calls made after the summary (other libraries' exit-time destructors,
    /// threads still running at exit): not checked, counted.
    record Late "late" {
        iid: str = "the process instance";
        pid: u32 = "the process";
        calls: u64 = "such calls so far (the last record holds the total)";
    }

    /// A process image that loaded pinguard under `pinguard run`, written by the library's
    /// constructor before the program runs.
    record Start "start" {
        schema: u32 = "this format's version";
        pinguard: str = "pinguard's version";
        iid: str = "the image's instance (its `process` record will carry the same)";
        pid: u32 = "the process";
        ppid: u32 = "its parent";
        host: str = "the host name";
        exe: bytes = "`/proc/self/exe`";
        argv: cmdline = "the command line (cut at 2 KiB)";
        time_ms: u64 = "when it started (ms since the epoch)";
        mono_ns: u64 = "`CLOCK_MONOTONIC`, one clock for every process of a host: orders it after the `exec` that started it";
    }

    /// A program about to start in process `pid`: an exec there, or a spawn of it.
    record Exec "exec" {
        iid: str = "the instance that called exec or spawn (`0000000000000000` if it had none yet)";
        pid: u32 = "the process that will run the program";
        by: u32 = "the process that called exec or spawn";
        host: str = "the host name";
        path: bytes = "the program as the caller named it (`execvp` searches `PATH`)";
        preload: bool = "the environment it gets still preloads pinguard";
        run: bool = "the environment it gets still names the run folder";
        mono_ns: u64 = "`CLOCK_MONOTONIC` before the call";
    }

    /// The exec noted at `mono_ns` returned: it failed.
    record ExecFailed "exec_failed" {
        iid: str = "the instance";
        pid: u32 = "the process";
        mono_ns: u64 = "the `mono_ns` of its `exec`";
        errno: i32 = "why";
    }
}

#[cfg(feature = "serde")]
impl read::Aggregate {
    /// The numbers of the record, as the merge adds them up.
    pub fn copies(&self) -> crate::site::CopyTotals {
        crate::site::CopyTotals {
            count: self.count,
            bytes_total: self.bytes_total,
            bytes_min: self.bytes_min,
            bytes_max: self.bytes_max,
            blocked_ns_total: self.blocked_ns_total,
            blocked_ns_max: self.blocked_ns_max,
            first_ms: self.first_ms,
            last_ms: self.last_ms,
            errors: self.errors,
        }
    }
}

#[cfg(feature = "serde")]
impl read::Site {
    /// A finding (not suppressed, not a note).
    pub fn is_finding(&self) -> bool {
        !self.suppressed && self.kind.is_finding()
    }
}

#[cfg(feature = "serde")]
impl read::Frame {
    /// `main at app.cpp:12 (app+0x11b9)`, or what is known of it.
    pub fn text(&self) -> String {
        self.text_as(false)
    }

    /// [`read::Frame::text`] with the function's name shortened (`thrust::copy<…>(…)`):
    /// for titles; stacks keep the full name.
    pub fn short_text(&self) -> String {
        self.text_as(true)
    }

    /// The function's name shortened, if it has one.
    pub fn short_function(&self) -> Option<String> {
        if self.kind == "interpreted" {
            return self.function.clone(); // a Python name (`<module>`, `Model.forward`): no C++ to shorten
        }
        self.function.as_deref().map(crate::cpp_name::short)
    }

    fn text_as(&self, short: bool) -> String {
        crate::site::frame_text(
            self.function.as_deref(),
            self.file.as_deref(),
            self.line,
            self.module.as_deref(),
            &self.offset,
            short,
        )
    }
}

/// The tables of every record's fields, as `docs/report-format.md` shows them.
pub fn doc_tables() -> String {
    let mut out = String::new();
    let mut last = "";
    for (record, field, kind, meaning) in fields() {
        if record != last {
            if !last.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "`{record}`:\n\n| field | type | meaning |\n|---|---|---|");
            last = record;
        }
        let _ = writeln!(out, "| `{field}` | {kind} | {} |", meaning.replace('|', "\\|"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::FixedBuf;

    /// `docs/report-format.md` shows the tables the declaration makes: paste what this
    /// prints when it fails.
    #[test]
    fn the_report_format_page_shows_the_declared_fields() {
        let page = include_str!("../../docs/report-format.md");
        let tables = doc_tables();
        assert!(
            page.contains(&tables),
            "docs/report-format.md's record tables differ from the declaration; they should read:\n\n{tables}"
        );
    }

    #[test]
    fn final_records_fit_a_fixed_buffer() {
        let streams = [usize::MAX; 4];
        let a = write::Aggregate {
            iid: "ffffffffffffffff",
            pid: u32::MAX,
            site: u32::MAX,
            last: true,
            count: u64::MAX,
            bytes_total: u64::MAX,
            bytes_min: u64::MAX,
            bytes_max: u64::MAX,
            blocked_ns_total: u64::MAX,
            blocked_ns_max: u64::MAX,
            first_ms: u64::MAX,
            last_ms: u64::MAX,
            errors: u64::MAX,
            streams: &streams,
            streams_more: true,
        };
        let mut b = FixedBuf::<1024>::new();
        a.write(&mut b).unwrap();
        b.clear();
        let c = SummaryCounts { checked: u64::MAX, ..Default::default() };
        let s = write::Summary {
            iid: "ffffffffffffffff",
            pid: u32::MAX,
            end: "exit",
            time_ms: u64::MAX,
            sites: u64::MAX,
            findings: u64::MAX,
            counts: &c,
        };
        s.write(&mut b).unwrap();
        assert!(!b.overflowed());
    }
}
