//! Call sites and their totals: findings aggregated by where they come from.
//!
//! A site is a stack (its hash) with a verdict, a direction and a hook. The table
//! (`pinguard_core::site_table`: a fixed array of slots claimed with one
//! compare-and-swap, benchmarked there) makes a repeated finding cost a stack capture, a
//! probe and a few atomic adds; the exit path walks it without a lock or an allocation.
//! A new site is built once (symbolised, matched against the suppression rules, its texts
//! rendered) by the thread that claimed its slot.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use pinguard_core::advice::{self, Framework};
use pinguard_core::report::{LINE_PREFIX, RecordKind};
use pinguard_core::site::{self, FrameInfo, SiteTotals};
pub use pinguard_core::site_table::Occurrence;
use pinguard_core::site_table::{FirstClaim, LiveTotals, ShardWriter, SlotTable};
use pinguard_core::suppressions::SiteFacts;
use pinguard_core::verdict::{Direction, VerdictKind};

use crate::base::process::Process;
use crate::base::symbols;
use crate::finding::capture;
use crate::stacks::python::{self, PyStack};
use crate::stacks::stack::{self, Stack};
use crate::table::hook_table::HookRow;

/// The most distinct sites a process keeps; findings at further sites are counted in
/// the summary but get no site of their own.
pub const CAPACITY: usize = 4096;

static SITES: SlotTable<Site, CAPACITY> = SlotTable::new();
static NEXT_ID: AtomicU32 = AtomicU32::new(1);
/// New sites shown on stderr in this process (bounded by print_limit).
static PRINTED: AtomicU64 = AtomicU64::new(0);
/// When the next periodic aggregate is due (ms since the epoch).
static NEXT_AGGREGATE_MS: AtomicU64 = AtomicU64::new(0);

/// One call site.
pub struct Site {
    pub id: u32,
    pub kind: RecordKind,
    /// The copy's direction; `None` for a release or a pinning place (not copies).
    pub dir: Option<Direction>,
    pub hook: &'static HookRow,
    pub suppressed: bool,
    pub frames: Vec<FrameInfo>,
    pub location: Option<usize>,
    /// For a captured site: the capture of its first call.
    pub capture: Option<SiteCapture>,
    /// For a release of registered memory: where its first call's range was registered
    /// (the first frame in the program's code).
    pub registered: Option<Box<FrameInfo>>, // boxed: rare, and a site is kept 4 096 times
    pub fingerprint: String,
    pub advice: &'static str,
    /// `pageable H2D cudaMemcpyAsync in main at app.cpp:12 (app+0x11b9)`, for summaries
    /// (the function's name shortened: `thrust::copy<…>(…)`).
    pub headline: String,
    /// Written to this process's report and stderr yet?
    announced: FirstClaim,
    totals: LiveTotals,
}

impl Site {
    pub fn totals(&self) -> SiteTotals {
        self.totals.read()
    }

    /// Adds a finding, as `writer` (the caller's thread's counter block's: threads
    /// finding at one site write different lines).
    pub fn add(&self, o: &Occurrence, writer: ShardWriter) {
        self.totals.add(o, writer);
    }

    /// True exactly once per process: the caller writes the site's record and line.
    pub fn announce(&self) -> bool {
        self.announced.claim()
    }

    pub fn location_frame(&self) -> Option<&FrameInfo> {
        self.location.and_then(|i| self.frames.get(i))
    }
}

/// What a site's first call adds to its stack, besides kind, direction and hook.
#[derive(Clone, Copy, Default)]
pub enum FirstCall<'a> {
    #[default]
    Plain,
    /// A copy in a stream being captured: the capture's id.
    Captured(u64),
    /// A release of registered memory: the return addresses of the registration's
    /// stack, if kept.
    Released(Option<&'a [usize]>),
}

/// The text of a direction, `-` for none (a release).
pub fn dir_text(dir: Option<Direction>) -> &'static str {
    dir.map_or("-", Direction::short)
}

/// The capture a captured site's first call went into, with its place as text.
pub struct SiteCapture {
    pub begun: capture::Begun,
    /// The place's text (`main at app.cpp:40 (app+0x11b9)`).
    pub begun_text: Option<String>,
}

/// The site of a finding: found, or built if new (`None` when the table is full); and
/// whether finding it took long: this call built it (symbolised it), or waited for
/// another thread's build. A stack that replays the walk of one whose site was found
/// before is that site, without a look in the table ([`Stack::noted`]).
#[inline]
pub fn site_of(
    process: &Process,
    stack: &Stack,
    python: Option<&PyStack>,
    kind: RecordKind,
    dir: Option<Direction>,
    hook: &'static HookRow,
    first: FirstCall<'_>,
) -> (Option<&'static Site>, bool) {
    // With Python frames, one native walk serves many sites (every line of a script
    // reaches the copy through the same interpreter frames): no note then.
    let tag = if python.is_some() { None } else { note_tag(kind, dir, hook) };
    if let Some(noted) = tag.and_then(|t| stack.noted(t)) {
        // SAFETY: only this module notes values for stacks (site_in_table, below), and
        // each is a site from SITES for the same tag and addresses; sites are never
        // freed or moved.
        return (Some(unsafe { &*(noted as *const Site) }), false);
    }
    site_in_table(process, stack, python, (kind, dir, hook), first, tag)
}

/// [`site_of`] for a stack without a note: found in the table or built, then noted. A
/// stack captured for another note only (a batch's later record, of another kind) is
/// walked again for its addresses: a walk skips pinguard's own frames, so from here it
/// finds the same ones.
#[inline(never)]
fn site_in_table(
    process: &Process,
    stack: &Stack,
    python: Option<&PyStack>,
    (kind, dir, hook): (RecordKind, Option<Direction>, &'static HookRow),
    first: FirstCall<'_>,
    tag: Option<u64>,
) -> (Option<&'static Site>, bool) {
    let mut walked = Stack::new(stack.depth());
    let stack = if stack.has_addresses() { stack } else { walked.capture(process.settings.fast_unwind, None) };
    let key = key_of(stack, python, kind, dir, hook);
    match SITES.find_or_build_noting_delay(key, || build(process, stack, python, (kind, dir, hook), first)) {
        Some((site, slow)) => {
            if let Some(tag) = tag {
                stack.note(tag, site as *const Site as usize);
            }
            (Some(site), slow)
        }
        None => (None, false),
    }
}

/// What a site is besides its stack, exactly (not hashed: a note found by it is taken
/// as the site without another look): the hook's row, whose address x86-64 user space
/// keeps below bit 56, and the kind (3 bits) and direction above it (`None`, never noted, for an
/// address that does not fit).
pub fn note_tag(kind: RecordKind, dir: Option<Direction>, hook: &'static HookRow) -> Option<u64> {
    let address = hook as *const HookRow as u64;
    (address >> 56 == 0).then(|| address | kind_bits(kind) << 56 | dir_bits(dir) << 59)
}

fn dir_bits(dir: Option<Direction>) -> u64 {
    dir.map_or(4, |d| d as u64)
}

fn kind_bits(kind: RecordKind) -> u64 {
    match kind {
        RecordKind::Finding(VerdictKind::Straddles) => 1,
        RecordKind::Finding(_) => 2,
        RecordKind::AllowedByAttribute => 3,
        RecordKind::Captured => 4,
        RecordKind::Released => 5,
        RecordKind::Churn => 6,
    }
}

fn key_of(
    stack: &Stack,
    python: Option<&PyStack>,
    kind: RecordKind,
    dir: Option<Direction>,
    hook: &'static HookRow,
) -> u64 {
    let mut h = stack.hash()
        ^ python.map_or(0, |p| p.hash().wrapping_mul(0xff51_afd7_ed55_8ccd))
        ^ kind_bits(kind).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ dir_bits(dir).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    h ^= (hook as *const HookRow as u64).wrapping_mul(0x1656_67b1_9e37_79f9);
    h.max(1)
}

static FRAMEWORK: AtomicU8 = AtomicU8::new(0);

/// What the process runs, for advice (decided at its first site).
fn framework() -> Framework {
    const NAMES: [Framework; 4] = [Framework::Cuda, Framework::PyTorch, Framework::CuPy, Framework::Jax];
    match FRAMEWORK.load(Ordering::Relaxed) {
        0 => {
            let paths = symbols::loaded_objects_matching("");
            let f = Framework::from_loaded(paths.iter().map(|p| p.to_str().unwrap_or("")));
            FRAMEWORK.store(1 + NAMES.iter().position(|n| *n == f).unwrap_or(0) as u8, Ordering::Relaxed);
            f
        }
        n => NAMES[(n - 1) as usize % 4],
    }
}

pub fn framework_name() -> &'static str {
    framework().name()
}

fn build(
    process: &Process,
    stack: &Stack,
    python: Option<&PyStack>,
    (kind, dir, hook): (RecordKind, Option<Direction>, &'static HookRow),
    first: FirstCall<'_>,
) -> Site {
    if process.test_slow_exit {
        std::thread::sleep(std::time::Duration::from_millis(50)); // see Process::test_slow_exit
    }
    let (frames, location) = python::frames_and_location(process, stack, python);
    let kind_name = kind.name();
    let facts: Vec<(&str, &str, &str)> = frames
        .iter()
        .map(|f| {
            (f.function.as_deref().unwrap_or(""), f.module.as_deref().unwrap_or(""), f.file.as_deref().unwrap_or(""))
        })
        .collect();
    let suppressed = kind.is_finding()
        && process
            .suppressions
            .matching(&SiteFacts { api: hook.name(), dir: dir_text(dir), kind: kind_name, frames: &facts })
            .is_some();
    let loc = location.and_then(|i| frames.get(i));
    let advice = match kind {
        RecordKind::Finding(VerdictKind::Straddles) => advice::for_straddle(),
        RecordKind::AllowedByAttribute => "",
        RecordKind::Finding(_) | RecordKind::Captured | RecordKind::Released | RecordKind::Churn => {
            // The framework whose code made the copy (its library or its Python files,
            // innermost first), else what the process loaded.
            let paths = frames.iter().flat_map(|f| [f.module.as_deref(), f.file.as_deref()]).flatten();
            let framework = Framework::of_stack(paths).unwrap_or_else(framework);
            match (kind, dir) {
                (RecordKind::Captured, _) => advice::for_captured(framework),
                (RecordKind::Churn, _) => advice::for_churn(framework),
                (RecordKind::Released, _) | (_, None) => advice::for_released(framework),
                (_, Some(dir)) => advice::for_pageable(framework, dir),
            }
        }
    };
    let capture = match first {
        FirstCall::Captured(id) if kind == RecordKind::Captured => {
            let begun = capture::begun(id);
            let begun_text = begun.location.as_ref().map(FrameInfo::text);
            Some(SiteCapture { begun, begun_text })
        }
        _ => None,
    };
    let registered = match first {
        FirstCall::Released(Some(ips)) => {
            let frames = stack::symbolise(ips, &process.skip);
            site::location(&frames, &process.skip).map(|i| Box::new(frames[i].clone()))
        }
        _ => None,
    };
    let mut headline = match dir {
        Some(d) => format!("{kind_name} {} {}", d.short(), hook.name()),
        None => format!("{kind_name} {}", hook.name()),
    };
    match loc {
        Some(f) => {
            let _ = write!(headline, " in {}", f.short_text());
        }
        None => headline.push_str(" (no stack)"),
    }
    Site {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        kind,
        dir,
        hook,
        suppressed,
        fingerprint: site::fingerprint(kind_name, dir_text(dir), location.map(|i| &frames[i..]).unwrap_or(&[])),
        location,
        capture,
        registered,
        frames,
        advice,
        headline,
        announced: FirstClaim::new(),
        totals: LiveTotals::new(),
    }
}

/// The stack lines shown under a new site's first line on stderr.
pub fn stack_lines(site: &Site) -> String {
    let mut out = String::new();
    if let Some(f) = site.location_frame() {
        let _ = writeln!(out, "{LINE_PREFIX}  in {}", f.text());
    }
    for (i, f) in site.frames.iter().enumerate() {
        let _ = writeln!(out, "{LINE_PREFIX}    #{i} {}", f.text());
    }
    if !site.advice.is_empty() {
        let _ = writeln!(out, "{LINE_PREFIX}  fix: {}", site.advice);
    }
    out
}

/// May one more new site be shown on stderr? Says once when the limit is reached.
pub fn may_print(limit: u64) -> bool {
    let n = PRINTED.fetch_add(1, Ordering::Relaxed);
    if n == limit {
        crate::base::sink::line(&format!(
            "{LINE_PREFIX}print_limit ({limit}) reached: further new sites go to the report and the summary only"
        ));
    }
    n < limit
}

/// Is a periodic aggregate due (`interval_s` > 0)? Claims it if so.
pub fn aggregate_due(now_ms: u64, interval_s: u64) -> bool {
    if interval_s == 0 {
        return false;
    }
    let next = NEXT_AGGREGATE_MS.load(Ordering::Relaxed);
    if next == 0 {
        let _ = NEXT_AGGREGATE_MS.compare_exchange(0, now_ms + interval_s * 1000, Ordering::Relaxed, Ordering::Relaxed);
        return false;
    }
    now_ms >= next
        && NEXT_AGGREGATE_MS
            .compare_exchange(next, now_ms + interval_s * 1000, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Every site built so far (no lock, no allocation).
pub fn all() -> impl Iterator<Item = &'static Site> {
    SITES.iter()
}

/// Sites with findings in this process (not suppressed, not notes), counted.
pub fn finding_sites() -> u64 {
    all().filter(|s| !s.suppressed && s.kind.is_finding() && s.totals().copies.count > 0).count() as u64
}

/// The `n` sites that kept the host blocked longest, most first (no allocation).
pub fn top_by_blocked<const N: usize>() -> [Option<&'static Site>; N] {
    let mut top: [Option<(u64, &'static Site)>; N] = [None; N];
    for s in all().filter(|s| !s.suppressed && s.kind.is_finding()) {
        let t = s.totals();
        if t.copies.count == 0 {
            continue;
        }
        let key = t.copies.blocked_ns_total;
        let mut carry = Some((key, s));
        for place in top.iter_mut() {
            match (*place, carry) {
                (None, c) => {
                    *place = c;
                    break;
                }
                (Some((k, _)), Some((ck, _))) if ck > k => std::mem::swap(place, &mut carry),
                _ => {}
            }
        }
    }
    top.map(|p| p.map(|(_, s)| s))
}

/// In a freshly forked child: its sites start empty and unannounced (the parent's stacks
/// and symbols stay valid: same address space). Atomic stores only.
pub fn reset_in_child() {
    for s in all() {
        s.totals.reset();
        s.announced.reset();
    }
    PRINTED.store(0, Ordering::Relaxed);
    NEXT_AGGREGATE_MS.store(0, Ordering::Relaxed);
}
