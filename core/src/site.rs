//! Call sites: the native stack of a finding, its location (the first frame in the
//! user's code), and the per-site totals a report aggregates.

use std::borrow::Borrow;
use std::fmt::{self, Write};
use std::num::NonZeroU32;
use std::ops::Deref;

use crate::cpp_name;
use crate::glob;
use crate::jsonl;
use crate::records;

/// How a frame was found: a native return address, or a Python frame read from the
/// interpreter (its code object as the address, its instruction's offset, no module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Native,
    Interpreted,
}

impl FrameKind {
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Native => "native",
            FrameKind::Interpreted => "interpreted",
        }
    }
}

/// A frame's function, file or module name: a thin pointer to one copy, made once and
/// never freed. Sites live as long as the process, and one copy serves every frame that
/// names it (the library's symboliser keeps a set of them), so a name costs a frame 8
/// bytes: with `Arc<str>` (16 bytes) for three names a frame took 80 bytes, and frames
/// were most of a site's memory.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::borrowed_box)] // the point: a thin pointer, where `&str` is two words
pub struct Name(&'static Box<str>);

impl Name {
    /// A new copy of `s`, never freed: make one per distinct name and share it.
    pub fn leaked(s: &str) -> Name {
        Name(Box::leak(Box::new(Box::from(s))))
    }

    /// Whether `a` and `b` are one copy (not only equal text).
    pub fn same_copy(a: Name, b: Name) -> bool {
        std::ptr::eq(a.0, b.0)
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A new, unshared copy, never freed (as [`Name::leaked`]): for tests and frames made
/// one at a time. Anything that makes names for many frames shares them instead.
impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name::leaked(s)
    }
}

/// One symbolised frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    pub kind: FrameKind,
    pub address: usize,
    /// Shared with every frame that names the same function, as are the file and the
    /// module below ([`Name`]).
    pub function: Option<Name>,
    pub file: Option<Name>,
    /// The source line (DWARF's line 0, "no line", reads as none). Four bytes with its
    /// `None`: with the thin names, a frame is 48 bytes.
    pub line: Option<NonZeroU32>,
    /// The shared object (or program) the address lies in, shared likewise.
    pub module: Option<Name>,
    /// The address relative to the module's load address (stable across runs).
    pub offset: usize,
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `main at app.cpp:12 (app+0x11b9)`, or what is known of a frame; with `short`, the
/// function's name shortened (`thrust::copy<…>(…)`, for titles). The one spelling of a
/// frame, for the frames pinguard makes ([`FrameInfo`]) and those it reads back.
pub fn frame_text(
    function: Option<&str>,
    file: Option<&str>,
    line: Option<u32>,
    module: Option<&str>,
    offset: &dyn fmt::Display,
    short: bool,
) -> String {
    let name = |f: &str| if short { cpp_name::short(f) } else { f.to_string() };
    let Some(module) = module.map(base_name) else {
        // A Python frame (no module: its offset is into bytecode, not worth showing), or
        // an address no object holds.
        return match (function, file, line) {
            (Some(f), Some(file), Some(line)) => format!("{f} at {file}:{line}"),
            (Some(f), Some(file), None) => format!("{f} in {file}"),
            (Some(f), None, _) => f.to_string(),
            (None, ..) => format!("?+{offset}"),
        };
    };
    let place = format!("{module}+{offset}");
    match (function, file, line) {
        (Some(f), Some(file), Some(line)) => format!("{} at {file}:{line} ({place})", name(f)),
        (Some(f), _, _) => format!("{} ({place})", name(f)),
        _ => place,
    }
}

impl FrameInfo {
    /// `main at app.cpp:12 (app+0x11b9)`, or what is known of it.
    pub fn text(&self) -> String {
        self.text_as(false)
    }

    /// [`FrameInfo::text`] with the function's name shortened (`thrust::copy<…>(…)`): for
    /// titles, where the stack keeps the full name.
    pub fn short_text(&self) -> String {
        self.text_as(true)
    }

    fn text_as(&self, short: bool) -> String {
        let offset = format!("{:#x}", self.offset);
        let line = self.line.map(NonZeroU32::get);
        frame_text(self.function.as_deref(), self.file.as_deref(), line, self.module.as_deref(), &offset, short)
    }

    /// The frame as its report record.
    pub fn record(&self) -> records::write::Frame<'_> {
        records::write::Frame {
            kind: self.kind.name(),
            address: self.address,
            function: self.function.as_deref(),
            file: self.file.as_deref(),
            line: self.line.map(NonZeroU32::get),
            module: self.module.as_deref(),
            offset: self.offset,
        }
    }

    /// Is this frame one to pass over when looking for the user's code? A function glob
    /// matches the full name or its qualified name alone (`thrust::*` matches
    /// `void thrust::copy<...>(...)`, and not `testSort(thrust::host_vector<...>&)`).
    pub fn skipped_by(&self, skip: &[String]) -> bool {
        let function = self.function.as_deref().unwrap_or("");
        let module = self.module.as_deref().unwrap_or("");
        let path = if function.is_empty() { String::new() } else { cpp_name::path(function) };
        skip.iter().any(|g| {
            (!function.is_empty() && (glob::matches(g, function) || glob::matches(g, &path)))
                || glob::matches(g, module)
        })
    }

    pub fn write_json<W: Write>(&self, w: &mut W) -> fmt::Result {
        self.record().write(w)
    }
}

/// The index of a stack's location: its first frame not passed over by `skip`; the
/// first frame if every frame is.
pub fn location(frames: &[FrameInfo], skip: &[String]) -> Option<usize> {
    if frames.is_empty() {
        return None;
    }
    Some(frames.iter().position(|f| !f.skipped_by(skip)).unwrap_or(0))
}

/// The index of a Python program's location: its first Python frame in a file `skip`
/// does not pass over, else its innermost Python frame; without Python frames, as
/// [`location`] finds it with `native_skip`.
pub fn python_location(frames: &[FrameInfo], skip: &[String], native_skip: &[String]) -> Option<usize> {
    let python = |f: &&FrameInfo| f.kind == FrameKind::Interpreted;
    let own = |f: &FrameInfo| !skip.iter().any(|g| glob::matches(g, f.file.as_deref().unwrap_or("")));
    frames
        .iter()
        .position(|f| python(&f) && own(f))
        .or_else(|| frames.iter().position(|f| python(&f)))
        .or_else(|| location(frames, native_skip))
}

/// A JSON array of frames.
pub fn frames_json(frames: &[FrameInfo]) -> String {
    let mut out = String::from("[");
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = f.write_json(&mut out);
    }
    out.push(']');
    out
}

/// How many frames, from the location up, a fingerprint covers: the location and its
/// callers, so that two places calling one helper that copies stay two sites.
pub const FINGERPRINT_FRAMES: usize = 3;

/// A stable identity for a site across runs and builds: FNV-1a of the verdict, the
/// direction and the frames from the location up ([`FINGERPRINT_FRAMES`] of them:
/// function, source file name and line; or module name and offset without symbols). The
/// API is left out: the same line reaches the runtime or the driver hook depending on how
/// the program was linked; so are addresses, which change from run to run.
pub fn fingerprint(kind: &str, dir: &str, frames: &[FrameInfo]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    };
    eat(kind);
    eat(dir);
    for f in frames.iter().take(FINGERPRINT_FRAMES) {
        match (&f.function, &f.file, f.line) {
            (Some(func), Some(file), Some(line)) => {
                eat(func);
                eat(base_name(file));
                eat(&line.to_string());
            }
            (Some(func), _, _) => eat(func),
            _ => {
                eat(f.module.as_deref().map(base_name).unwrap_or(""));
                eat(&format!("{:#x}", f.offset));
            }
        }
    }
    format!("{h:016x}")
}

/// What the calls at a site cost, summed and bounded: one type for the preload's shards
/// of a site, a report's `aggregate` record, and the merge of a site across processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CopyTotals {
    pub count: u64,
    pub bytes_total: u64,
    pub bytes_min: u64,
    pub bytes_max: u64,
    pub blocked_ns_total: u64,
    pub blocked_ns_max: u64,
    /// Calls that CUDA rejected (a nonzero result).
    pub errors: u64,
    pub first_ms: u64,
    pub last_ms: u64,
}

impl CopyTotals {
    /// The start of a fold: no calls yet (the minimums at their top, for `absorb`).
    pub const NONE: CopyTotals = CopyTotals {
        count: 0,
        bytes_total: 0,
        bytes_min: u64::MAX,
        bytes_max: 0,
        blocked_ns_total: 0,
        blocked_ns_max: 0,
        first_ms: u64::MAX,
        last_ms: 0,
        errors: 0,
    };

    /// One call.
    pub fn one(bytes: u64, blocked_ns: u64, time_ms: u64, rejected: bool) -> CopyTotals {
        CopyTotals {
            count: 1,
            bytes_total: bytes,
            bytes_min: bytes,
            bytes_max: bytes,
            blocked_ns_total: blocked_ns,
            blocked_ns_max: blocked_ns,
            first_ms: time_ms,
            last_ms: time_ms,
            errors: u64::from(rejected),
        }
    }

    /// Adds another's calls. Sums saturate: counts near `u64::MAX` in a hostile or huge
    /// report stop at the top, never wrap to small numbers.
    pub fn absorb(&mut self, o: &CopyTotals) {
        self.count = self.count.saturating_add(o.count);
        self.bytes_total = self.bytes_total.saturating_add(o.bytes_total);
        self.bytes_min = self.bytes_min.min(o.bytes_min);
        self.bytes_max = self.bytes_max.max(o.bytes_max);
        self.blocked_ns_total = self.blocked_ns_total.saturating_add(o.blocked_ns_total);
        self.blocked_ns_max = self.blocked_ns_max.max(o.blocked_ns_max);
        self.first_ms = self.first_ms.min(o.first_ms);
        self.last_ms = self.last_ms.max(o.last_ms);
        self.errors = self.errors.saturating_add(o.errors);
    }

    /// The end of a fold: where no call was seen, the minimums read 0, not `u64::MAX`.
    pub fn settled(mut self) -> CopyTotals {
        if self.count == 0 {
            self.bytes_min = 0;
            self.first_ms = 0;
        }
        self
    }
}

/// What one site has cost so far, as the preload keeps it (in atomics, per shard);
/// `streams` holds the first few distinct streams seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SiteTotals {
    pub copies: CopyTotals,
    pub streams: [usize; 4],
    pub streams_seen: usize,
    /// More distinct streams than `streams` holds.
    pub streams_more: bool,
}

impl SiteTotals {
    /// The totals as a site's `aggregate` record (`last`: the final one, at exit).
    pub fn record<'a>(&'a self, iid: &'a str, pid: u32, site: u32, last: bool) -> records::write::Aggregate<'a> {
        records::write::Aggregate {
            iid,
            pid,
            site,
            last,
            count: self.copies.count,
            bytes_total: self.copies.bytes_total,
            bytes_min: self.copies.bytes_min,
            bytes_max: self.copies.bytes_max,
            blocked_ns_total: self.copies.blocked_ns_total,
            blocked_ns_max: self.copies.blocked_ns_max,
            first_ms: self.copies.first_ms,
            last_ms: self.copies.last_ms,
            errors: self.copies.errors,
            streams: &self.streams[..self.streams_seen.min(4)],
            streams_more: self.streams_more,
        }
    }
}

/// `12.3 ms`, `40 us`, `1.20 s` from nanoseconds.
pub fn human_ns(ns: u64) -> HumanNs {
    HumanNs(ns)
}

pub struct HumanNs(u64);

impl fmt::Display for HumanNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0 as f64 / 1e3;
        if us >= 1e6 {
            write!(f, "{:.2} s", us / 1e6)
        } else if us >= 1e3 {
            write!(f, "{:.1} ms", us / 1e3)
        } else {
            write!(f, "{us:.0} us")
        }
    }
}

/// `512 B`, `64.0 KiB`, `1.5 GiB`.
pub fn human_bytes(n: u64) -> HumanBytes {
    HumanBytes(n)
}

pub struct HumanBytes(u64);

impl fmt::Display for HumanBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0 as f64;
        match self.0 {
            0..1024 => write!(f, "{} B", self.0),
            1024..1_048_576 => write!(f, "{:.1} KiB", n / 1024.0),
            1_048_576..1_073_741_824 => write!(f, "{:.1} MiB", n / 1_048_576.0),
            _ => write!(f, "{:.2} GiB", n / 1_073_741_824.0),
        }
    }
}

/// Writes a string escaped for JSON (re-exported for renderers of frames).
pub fn json_string<W: Write>(w: &mut W, s: &str) -> fmt::Result {
    jsonl::string(w, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame is six words: a site keeps one for each of its frames for the process's
    /// life, and frames are most of a site's memory (the library's budget at its cap of
    /// 4 096 sites is 8 MiB).
    #[test]
    fn a_frame_is_six_words() {
        assert_eq!(std::mem::size_of::<Name>(), 8);
        assert_eq!(std::mem::size_of::<Option<Name>>(), 8);
        assert_eq!(std::mem::size_of::<FrameInfo>(), 48);
    }

    fn frame(function: &str, file: Option<&str>, module: &str) -> FrameInfo {
        FrameInfo {
            kind: FrameKind::Native,
            address: 0x5555_0000_1234,
            function: (!function.is_empty()).then(|| Name::from(function)),
            file: file.map(Name::from),
            line: file.and_then(|_| NonZeroU32::new(12)),
            module: Some(Name::from(module)),
            offset: 0x1234,
        }
    }

    #[test]
    fn the_location_is_the_first_frame_in_user_code() {
        let skip: Vec<String> = crate::settings::DEFAULT_SKIP_FRAMES.iter().map(|s| s.to_string()).collect();
        let frames = [
            frame("pinguard::hooks::cudaMemcpyAsync", None, "/x/libpinguard.so"),
            frame("cudart::cudaApiMemcpyAsync", None, "/w/app"),
            frame("cudaMemcpyAsync", None, "/w/app"),
            frame("upload", Some("/w/src/app.cpp"), "/w/app"),
            frame("main", Some("/w/src/app.cpp"), "/w/app"),
        ];
        assert_eq!(location(&frames, &skip), Some(3));
        assert_eq!(frames[3].text(), "upload at /w/src/app.cpp:12 (app+0x1234)");
        assert_eq!(frames[1].text(), "cudart::cudaApiMemcpyAsync (app+0x1234)");
        assert_eq!(location(&frames[..3], &skip), Some(0), "all skipped: the first frame");
        assert_eq!(location(&[], &skip), None);
    }

    #[test]
    fn fingerprints_are_stable_and_tell_sites_apart() {
        let a = frame("upload", Some("/w/src/app.cpp"), "/w/app");
        let caller = frame("main", Some("/w/src/app.cpp"), "/w/app");
        let mut moved = a.clone();
        moved.address += 0x1000; // another run, another load address
        moved.file = Some("/other/checkout/src/app.cpp".into());
        let fp = |frames: &[FrameInfo]| fingerprint("pageable", "H2D", frames);
        assert_eq!(fp(&[a.clone(), caller.clone()]), fp(&[moved, caller.clone()]));
        assert_ne!(fp(std::slice::from_ref(&a)), fingerprint("pageable", "D2H", std::slice::from_ref(&a)));
        let mut other_line = a.clone();
        other_line.line = NonZeroU32::new(13);
        assert_ne!(fp(std::slice::from_ref(&a)), fp(&[other_line]));
        // One helper called from two places: two sites.
        let mut other_caller = caller.clone();
        other_caller.line = NonZeroU32::new(40);
        assert_ne!(fp(&[a.clone(), caller]), fp(&[a, other_caller]));
    }

    #[test]
    fn frames_render_as_json() {
        let json = frames_json(&[frame("main", Some("a.cpp"), "/w/app"), frame("", None, "/lib/libc.so.6")]);
        assert!(
            json.starts_with(
                r#"[{"kind":"native","address":"0x555500001234","function":"main","file":"a.cpp","line":12"#
            ),
            "{json}"
        );
        assert!(json.contains(r#""function":null,"file":null,"line":null,"module":"/lib/libc.so.6""#), "{json}");
        assert_eq!(human_ns(40_128_000).to_string(), "40.1 ms");
        assert_eq!(human_bytes(65536).to_string(), "64.0 KiB");
    }
}
