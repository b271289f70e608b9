//! What every hook does, whichever layer and API it serves:
//!
//! - copies: [`copy`]: classify (registry, then the oracle on a miss), then call the real
//!   function and report what it cost; in abort mode stop before it;
//! - allocations and registrations: [`pin`], [`unpin`]: keep the registry in step with
//!   what CUDA pinned.
//!
//! The real function is always called with the caller's arguments untouched and its
//! return code is returned as is. Only the outermost pinguard frame on a thread does any
//! of this (see `guard`); inner frames and mode=off just call the real function.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pinguard_core::copy_shape::{CopyElement, NoVerdict};
use pinguard_core::registry::{PinOrigin, PinnedRange, RangeLookup};
use pinguard_core::report::{Finding, LINE_PREFIX, Layer, Outcome, RecordKind, StreamKind, render};
use pinguard_core::settings::Mode;
use pinguard_core::verdict::{CopySide, CopyVerdict, VerdictKind, classify_copy, differential};

use crate::guard::{Frame, boundary};
use crate::oracle;
use crate::state::{self, COUNTERS, Once, REGISTRY, bump};

/// Who is copying, for reports.
pub struct CopyCall<'a> {
    pub api: &'a str,
    pub layer: Layer,
    /// A `_ptsz` entry point: stream 0 is the per-thread default stream.
    pub per_thread: bool,
    pub stream: usize,
}

/// The copies one call makes: one, or a batch.
pub enum Elements {
    One(Result<CopyElement, NoVerdict>),
    Batch(Vec<Result<CopyElement, NoVerdict>>),
}

/// Something worth a line.
struct Record {
    kind: RecordKind,
    verdict: CopyVerdict,
    element: Option<usize>,
}

/// The records of one call; `rest` stays unallocated for single copies.
#[derive(Default)]
struct Records {
    first: Option<Record>,
    rest: Vec<Record>,
}

impl Records {
    fn push(&mut self, r: Record) {
        if self.first.is_none() {
            self.first = Some(r);
        } else {
            self.rest.push(r);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Record> {
        self.first.iter().chain(self.rest.iter())
    }

    fn has_finding(&self) -> bool {
        self.iter().any(|r| matches!(r.kind, RecordKind::Finding(_)))
    }
}

/// Set by the thread that reports the finding abort mode stops at.
static ABORT_CLAIMED: AtomicBool = AtomicBool::new(false);

static NO_VERDICT_NOTES: [Once; 4] = [Once::new(), Once::new(), Once::new(), Once::new()];

fn note_no_verdict(api: &str, why: NoVerdict) {
    bump(&COUNTERS.unclassified);
    let (i, reason) = match why {
        NoVerdict::Overflow => (0, "its host extent overflows the address space"),
        NoVerdict::NullParameters => (1, "its parameter block is a null pointer"),
        NoVerdict::ArrayElementSize => {
            (2, "it copies between a pointer and an array, whose element size pinguard does not look up")
        }
        NoVerdict::UnknownKind => (3, "it names a memory kind or type this version of pinguard does not know"),
    };
    NO_VERDICT_NOTES[i].say(|| {
        format!("{LINE_PREFIX}{api}: no verdict for a copy because {reason}; it runs untouched (later ones are counted in the summary)")
    });
}

/// verify_with_driver: compares our answer for each side with the driver's alone.
fn cross_check(call: &CopyCall<'_>, side: CopySide) {
    let Some((ours, drivers)) = differential(&REGISTRY, &oracle::Driver, side) else {
        return;
    };
    bump(&COUNTERS.disagreements);
    let (CopySide::Host(span) | CopySide::Unified(span)) = side else {
        return;
    };
    state::write_line(&format!(
        "{LINE_PREFIX}differential: {} host range [{:#x}, {:#x}): pinguard says {}, the driver says {} [disagreement=1 api={} ours={:?} driver={:?}]",
        call.api,
        span.start,
        span.end(),
        ours.name(),
        drivers.name(),
        call.api,
        ours,
        drivers
    ));
}

fn assess(call: &CopyCall<'_>, elements: Elements, verify: bool) -> Records {
    let mut records = Records::default();
    let mut one = |element: Option<usize>, e: Result<CopyElement, NoVerdict>| {
        bump(&COUNTERS.checked);
        let e = match e {
            Ok(e) => e,
            Err(why) => return note_no_verdict(call.api, why),
        };
        if verify {
            cross_check(call, e.src);
            cross_check(call, e.dst);
        }
        let verdict = classify_copy(&REGISTRY, &oracle::Driver, e.src, e.dst, e.declared);
        if verdict.pinned_unseen {
            bump(&COUNTERS.pinned_unseen);
        }
        let kind = match verdict.kind {
            VerdictKind::Pageable if e.allowed_by_attribute => RecordKind::AllowedByAttribute,
            k if k.is_finding() => RecordKind::Finding(k),
            _ => return,
        };
        records.push(Record { kind, verdict, element });
    };
    match elements {
        Elements::One(e) => one(None, e),
        Elements::Batch(v) => v.into_iter().enumerate().for_each(|(i, e)| one(Some(i), e)),
    }
    records
}

fn emit(call: &CopyCall<'_>, r: &Record, outcome: Outcome) {
    match r.kind {
        RecordKind::Finding(VerdictKind::Straddles) => bump(&COUNTERS.straddles),
        RecordKind::Finding(_) => bump(&COUNTERS.pageable),
        RecordKind::AllowedByAttribute => bump(&COUNTERS.allowed),
    }
    let edge_origin = r.verdict.edge.and_then(|(start, _)| match REGISTRY.lookup(start, 1) {
        RangeLookup::Inside(range) => Some(range.origin),
        _ => None,
    });
    let finding = Finding {
        kind: r.kind,
        api: call.api,
        layer: call.layer,
        verdict: r.verdict,
        edge_origin,
        element: r.element,
        stream: call.stream,
        stream_kind: StreamKind::of(call.stream, call.per_thread),
        outcome,
        // SAFETY: gettid has no preconditions.
        tid: i64::from(unsafe { libc::gettid() }),
        pid: std::process::id(),
    };
    state::write_line(&render(&finding));
}

/// The copy hook. `describe` reads the call's arguments; `real` makes the real call.
pub fn copy(call: CopyCall<'_>, describe: impl FnOnce() -> Elements, real: impl FnOnce() -> i32) -> i32 {
    let Some(_frame) = Frame::enter() else {
        return real();
    };
    let settings = state::settings();
    let mode = settings.mode;
    if mode == Mode::Off {
        return real();
    }
    let Some(records) = boundary(call.api, || assess(&call, describe(), settings.verify_with_driver)) else {
        return real();
    };
    if records.first.is_none() {
        return real();
    }
    if mode == Mode::Abort && records.has_finding() {
        // One report, then the end, as sanitizers do: the first thread to reach a finding
        // reports and aborts; any other that reaches one meanwhile waits for the abort.
        if ABORT_CLAIMED.swap(true, Ordering::SeqCst) {
            loop {
                // SAFETY: pause has no preconditions; SIGABRT ends the process.
                unsafe { libc::pause() };
            }
        }
        boundary(call.api, || {
            for r in records.iter() {
                emit(&call, r, Outcome::Aborting);
                if matches!(r.kind, RecordKind::Finding(_)) {
                    break;
                }
            }
        });
        // SAFETY: abort has no preconditions; every line was written with write(2).
        unsafe { libc::abort() };
    }
    let started = Instant::now();
    let rc = real();
    let blocked: Duration = started.elapsed();
    boundary(call.api, || records.iter().for_each(|r| emit(&call, r, Outcome::Completed { result: rc, blocked })));
    rc
}

/// An allocation that pins memory: registers `[*out, *out + size)` if the call succeeds.
pub fn pin(api: &str, origin: PinOrigin, out: *mut *mut c_void, size: usize, real: impl FnOnce() -> i32) -> i32 {
    let rc = real_in_frame(real);
    if rc.outermost && rc.code == 0 && !out.is_null() {
        boundary(api, || {
            // SAFETY: CUDA reported success, so it wrote the allocation's address to `out`.
            let p = unsafe { out.read() } as usize;
            register(p, size, origin);
        });
    }
    rc.code
}

/// A registration of memory the program owns (`cudaHostRegister`).
pub fn pin_registered(api: &str, ptr: *mut c_void, size: usize, real: impl FnOnce() -> i32) -> i32 {
    let rc = real_in_frame(real);
    if rc.outermost && rc.code == 0 {
        boundary(api, || register(ptr as usize, size, PinOrigin::Registered));
    }
    rc.code
}

fn register(start: usize, size: usize, origin: PinOrigin) {
    if let Some(range) = PinnedRange::new(start, size, origin) {
        REGISTRY.insert(range);
    }
}

/// A free or unregistration. The range leaves the registry *before* the real call, so a
/// concurrent allocation that CUDA hands the same address is never removed by mistake;
/// if CUDA refuses the call, the range comes back.
pub fn unpin(api: &str, ptr: *mut c_void, real: impl FnOnce() -> i32) -> i32 {
    let Some(_frame) = Frame::enter() else {
        return real();
    };
    if state::settings().mode == Mode::Off {
        return real();
    }
    let removed = boundary(api, || REGISTRY.remove(ptr as usize)).flatten();
    let rc = real();
    if let Some(range) = removed.filter(|_| rc != 0) {
        REGISTRY.insert(range);
    }
    rc
}

struct FrameResult {
    code: i32,
    outermost: bool,
}

fn real_in_frame(real: impl FnOnce() -> i32) -> FrameResult {
    match Frame::enter() {
        Some(_frame) if state::settings().mode != Mode::Off => FrameResult { code: real(), outermost: true },
        _ => FrameResult { code: real(), outermost: false },
    }
}
