//! Call sites and their totals: findings aggregated by where they come from.
//!
//! A site is a stack (its hash) with a verdict, a direction and a hook. The table is a
//! fixed array of slots claimed with one compare-and-swap, so a repeated finding costs
//! a stack capture, a probe and a few atomic adds; the exit path walks it without a lock
//! or an allocation. A new site is built once (symbolised, matched against the
//! suppression rules, its texts rendered) by the thread that claimed its slot.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use pinguard_core::advice::{self, Framework};
use pinguard_core::report::{LINE_PREFIX, RecordKind};
use pinguard_core::site::{self, FrameInfo, SiteTotals};
use pinguard_core::suppressions::SiteFacts;
use pinguard_core::verdict::{Direction, VerdictKind};

use crate::hook_table::HookRow;
use crate::process::Process;
use crate::stack::{self, Stack};
use crate::symbols;

/// The most distinct sites a process keeps; findings at further sites are counted in
/// the summary but get no site of their own.
pub const CAPACITY: usize = 4096;

struct Slot {
    key: AtomicU64,
    site: AtomicPtr<Site>,
}

static SLOTS: [Slot; CAPACITY] =
    [const { Slot { key: AtomicU64::new(0), site: AtomicPtr::new(std::ptr::null_mut()) } }; CAPACITY];
static NEXT_ID: AtomicU32 = AtomicU32::new(1);
/// New sites shown on stderr in this process (bounded by print_limit).
static PRINTED: AtomicU64 = AtomicU64::new(0);
/// When the next periodic aggregate is due (ms since the epoch).
static NEXT_AGGREGATE_MS: AtomicU64 = AtomicU64::new(0);

/// One call site.
pub struct Site {
    pub id: u32,
    pub kind: RecordKind,
    pub dir: Direction,
    pub hook: &'static HookRow,
    pub suppressed: bool,
    pub frames: Vec<FrameInfo>,
    pub location: Option<usize>,
    pub fingerprint: String,
    pub frames_json: String,
    pub advice: &'static str,
    /// `pageable H2D cudaMemcpyAsync at main (app.cpp:12)`, for summaries.
    pub headline: String,
    /// Written to this process's report and stderr yet?
    announced: FirstClaim,
    totals: Totals,
}

/// A flag that exactly one caller claims, ever (until [`reset`](Self::reset)).
struct FirstClaim(AtomicBool);

impl FirstClaim {
    const fn new() -> FirstClaim {
        FirstClaim(AtomicBool::new(false))
    }

    /// True for the first caller only. Loads before it swaps: a site is announced once and
    /// then asked again at every later finding, where a swap would be a locked write (about
    /// 10 ns a finding on fakecuda) of a line other threads' findings read too.
    fn claim(&self) -> bool {
        !self.0.load(Ordering::Acquire) && !self.0.swap(true, Ordering::AcqRel)
    }

    fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// `SiteTotals` as atomics, updated by every finding at the site.
struct Totals {
    count: AtomicU64,
    bytes_total: AtomicU64,
    bytes_min: AtomicU64,
    bytes_max: AtomicU64,
    blocked_ns_total: AtomicU64,
    blocked_ns_max: AtomicU64,
    first_ms: AtomicU64,
    last_ms: AtomicU64,
    errors: AtomicU64,
    /// Distinct streams seen; `usize::MAX` marks a free place.
    streams: [AtomicUsize; 4],
    streams_more: AtomicBool,
}

impl Totals {
    const fn new() -> Self {
        Totals {
            count: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            bytes_min: AtomicU64::new(u64::MAX),
            bytes_max: AtomicU64::new(0),
            blocked_ns_total: AtomicU64::new(0),
            blocked_ns_max: AtomicU64::new(0),
            first_ms: AtomicU64::new(u64::MAX),
            last_ms: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            streams: [const { AtomicUsize::new(usize::MAX) }; 4],
            streams_more: AtomicBool::new(false),
        }
    }

    /// Every finding at the site adds itself. Minima and maxima are read before they are
    /// written, and a stream already seen is only read: at a hot site most findings
    /// change neither, so they cost three atomic adds instead of nine read-modify-writes.
    fn add(&self, o: &Occurrence) {
        let r = Ordering::Relaxed;
        let lower = |a: &AtomicU64, v: u64| {
            if v < a.load(r) {
                a.fetch_min(v, r);
            }
        };
        let raise = |a: &AtomicU64, v: u64| {
            if v > a.load(r) {
                a.fetch_max(v, r);
            }
        };
        self.count.fetch_add(1, r);
        self.bytes_total.fetch_add(o.bytes, r);
        lower(&self.bytes_min, o.bytes);
        raise(&self.bytes_max, o.bytes);
        self.blocked_ns_total.fetch_add(o.blocked_ns, r);
        raise(&self.blocked_ns_max, o.blocked_ns);
        lower(&self.first_ms, o.time_ms);
        raise(&self.last_ms, o.time_ms);
        if o.result.is_some_and(|rc| rc != 0) {
            self.errors.fetch_add(1, r);
        }
        for slot in &self.streams {
            let seen = slot.load(r);
            if seen == o.stream {
                return;
            }
            if seen == usize::MAX {
                match slot.compare_exchange(usize::MAX, o.stream, r, r) {
                    Ok(_) => return,
                    Err(now) if now == o.stream => return,
                    Err(_) => {}
                }
            }
        }
        self.streams_more.store(true, r);
    }

    fn read(&self) -> SiteTotals {
        let r = Ordering::Relaxed;
        let mut t = SiteTotals {
            count: self.count.load(r),
            bytes_total: self.bytes_total.load(r),
            bytes_min: self.bytes_min.load(r),
            bytes_max: self.bytes_max.load(r),
            blocked_ns_total: self.blocked_ns_total.load(r),
            blocked_ns_max: self.blocked_ns_max.load(r),
            first_ms: self.first_ms.load(r),
            last_ms: self.last_ms.load(r),
            errors: self.errors.load(r),
            streams_more: self.streams_more.load(r),
            ..Default::default()
        };
        if t.count == 0 {
            t.bytes_min = 0;
            t.first_ms = 0;
        }
        for s in &self.streams {
            let v = s.load(r);
            if v != usize::MAX {
                t.streams[t.streams_seen] = v;
                t.streams_seen += 1;
            }
        }
        t
    }

    fn reset(&self) {
        let r = Ordering::Relaxed;
        for (a, v) in [
            (&self.count, 0),
            (&self.bytes_total, 0),
            (&self.bytes_min, u64::MAX),
            (&self.bytes_max, 0),
            (&self.blocked_ns_total, 0),
            (&self.blocked_ns_max, 0),
            (&self.first_ms, u64::MAX),
            (&self.last_ms, 0),
            (&self.errors, 0),
        ] {
            a.store(v, r);
        }
        self.streams.iter().for_each(|s| s.store(usize::MAX, r));
        self.streams_more.store(false, r);
    }
}

/// One finding at a site: what it adds to the totals.
pub struct Occurrence {
    pub bytes: u64,
    pub blocked_ns: u64,
    pub result: Option<i32>,
    pub stream: usize,
    pub time_ms: u64,
}

impl Site {
    pub fn totals(&self) -> SiteTotals {
        self.totals.read()
    }

    pub fn add(&self, o: &Occurrence) {
        self.totals.add(o);
    }

    /// True exactly once per process: the caller writes the site's record and line.
    pub fn announce(&self) -> bool {
        self.announced.claim()
    }

    pub fn location_frame(&self) -> Option<&FrameInfo> {
        self.location.and_then(|i| self.frames.get(i))
    }
}

/// The site of a finding: found, or built if new. `None` when the table is full.
pub fn site_of(
    process: &Process,
    stack: &Stack,
    kind: RecordKind,
    dir: Direction,
    hook: &'static HookRow,
) -> Option<&'static Site> {
    let key = key_of(stack, kind, dir, hook);
    let start = key as usize % CAPACITY;
    for probe in 0..CAPACITY {
        let slot = &SLOTS[(start + probe) % CAPACITY];
        let mut k = slot.key.load(Ordering::Acquire);
        if k == 0 {
            match slot.key.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    let site: &'static Site = Box::leak(Box::new(build(process, stack, kind, dir, hook)));
                    slot.site.store(site as *const Site as *mut Site, Ordering::Release);
                    return Some(site);
                }
                Err(now) => k = now,
            }
        }
        if k == key {
            // Claimed: built by its claimer, published in a moment.
            loop {
                let p = slot.site.load(Ordering::Acquire);
                // SAFETY: sites are leaked, never freed, and published with Release.
                if let Some(site) = unsafe { p.as_ref() } {
                    return Some(site);
                }
                std::thread::yield_now();
            }
        }
    }
    None
}

fn key_of(stack: &Stack, kind: RecordKind, dir: Direction, hook: &'static HookRow) -> u64 {
    let kind_bits: u64 = match kind {
        RecordKind::Finding(VerdictKind::Straddles) => 1,
        RecordKind::Finding(_) => 2,
        RecordKind::AllowedByAttribute => 3,
    };
    let mut h =
        stack.hash() ^ kind_bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (dir as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
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

fn build(process: &Process, stack: &Stack, kind: RecordKind, dir: Direction, hook: &'static HookRow) -> Site {
    let frames = stack::symbolise(stack.ips(), &process.skip);
    let location = site::location(&frames, &process.skip);
    let kind_name = kind.name();
    let facts: Vec<(&str, &str, &str)> = frames
        .iter()
        .map(|f| {
            (f.function.as_deref().unwrap_or(""), f.module.as_deref().unwrap_or(""), f.file.as_deref().unwrap_or(""))
        })
        .collect();
    let suppressed = matches!(kind, RecordKind::Finding(_))
        && process
            .suppressions
            .matching(&SiteFacts { api: hook.name(), dir: dir.short(), kind: kind_name, frames: &facts })
            .is_some();
    let loc = location.and_then(|i| frames.get(i));
    let advice = match kind {
        RecordKind::Finding(VerdictKind::Straddles) => advice::for_straddle(),
        RecordKind::AllowedByAttribute => "",
        RecordKind::Finding(_) => advice::for_pageable(framework(), dir),
    };
    let mut headline = format!("{kind_name} {} {}", dir.short(), hook.name());
    match loc {
        Some(f) => {
            let _ = write!(headline, " in {}", f.text());
        }
        None => headline.push_str(" (no stack)"),
    }
    Site {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        kind,
        dir,
        hook,
        suppressed,
        fingerprint: site::fingerprint(kind_name, dir.short(), location.map(|i| &frames[i..]).unwrap_or(&[])),
        frames_json: site::frames_json(&frames),
        location,
        frames,
        advice,
        headline,
        announced: FirstClaim::new(),
        totals: Totals::new(),
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
        crate::sink::line(&format!(
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
    SLOTS.iter().filter_map(|slot| {
        // SAFETY: sites are leaked, never freed, and published with Release.
        unsafe { slot.site.load(Ordering::Acquire).as_ref() }
    })
}

/// Sites with findings in this process (not suppressed, not notes), counted.
pub fn finding_sites() -> u64 {
    all().filter(|s| !s.suppressed && matches!(s.kind, RecordKind::Finding(_)) && s.totals().count > 0).count() as u64
}

/// The `n` sites that kept the host blocked longest, most first (no allocation).
pub fn top_by_blocked<const N: usize>() -> [Option<&'static Site>; N] {
    let mut top: [Option<(u64, &'static Site)>; N] = [None; N];
    for s in all().filter(|s| !s.suppressed && matches!(s.kind, RecordKind::Finding(_))) {
        let t = s.totals();
        if t.count == 0 {
            continue;
        }
        let key = t.blocked_ns_total;
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

#[cfg(test)]
mod tests {
    use super::FirstClaim;
    use std::sync::{Arc, Barrier};

    #[test]
    fn a_claim_is_won_once_then_never() {
        let flag = FirstClaim::new();
        assert!(flag.claim());
        assert!(!flag.claim());
        assert!(!flag.claim());
        flag.reset();
        assert!(flag.claim());
        assert!(!flag.claim());
    }

    /// Threads that claim at the same moment: exactly one wins, every round.
    #[test]
    fn racing_claims_have_one_winner() {
        const THREADS: usize = 8;
        for _ in 0..200 {
            let flag = Arc::new(FirstClaim::new());
            let start = Arc::new(Barrier::new(THREADS));
            let won: usize = (0..THREADS)
                .map(|_| {
                    let (flag, start) = (flag.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        usize::from(flag.claim())
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum();
            assert_eq!(won, 1);
        }
    }
}
