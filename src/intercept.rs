//! What every hook does, whichever layer and API it serves. A hook builds a [`Call`]
//! (the gate, its row and the real call) and asks it for one action:
//!
//! - [`Call::copy`]: classify (registry, then the oracle on a miss), call the real
//!   function, report what it cost; in abort mode stop before it;
//! - [`Call::pin`], [`Call::pin_registered`], [`Call::unpin`]: keep the registry in step
//!   with what CUDA pinned;
//! - [`Call::route_entry_point`]: hand out our wrapper for a driver entry point.
//!
//! The real function is called exactly once, with the caller's arguments untouched, and
//! its return code is returned as is.

use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pinguard_core::copy_shape::{CopyElement, NoVerdict};
use pinguard_core::cuda_types::ERROR_SYMBOL_NOT_FOUND;
use pinguard_core::registry::{PinOrigin, PinnedRange, RangeLookup};
use pinguard_core::report::{Finding, LINE_PREFIX, Outcome, RecordKind, StreamKind, render};
use pinguard_core::settings::Mode;
use pinguard_core::summary::Counter;
use pinguard_core::verdict::{CopySide, CopyVerdict, VerdictKind, classify_copy, differential};

use crate::counters::{self, bump};
use crate::describe::Elements;
use crate::gate::{Gate, boundary};
use crate::hook_table::HookRow;
use crate::oracle;
use crate::output::{OnceNote, write_line};
use crate::pinned::REGISTRY;
use crate::routing::{self, Routed};

/// One hooked call on its way to the real function.
pub struct Call<F: FnOnce() -> i32> {
    row: &'static HookRow,
    gate: Gate,
    real: F,
}

impl<F: FnOnce() -> i32> Call<F> {
    /// The gate at the top of every hook: `Ok` when pinguard acts on this call, `Err`
    /// with the real call to make untouched otherwise.
    pub fn enter(row: &'static HookRow, real: F) -> Result<Self, F> {
        match Gate::enter(row.scope, row.name()) {
            Some(gate) => Ok(Call { row, gate, real }),
            None => Err(real),
        }
    }

    /// The real function's address (for decisions that depend on which library holds it).
    pub fn real_ptr(&self) -> *const c_void {
        self.row.real_ptr()
    }

    /// A copy: `describe` reads the call's arguments into the copies it makes.
    pub fn copy(self, stream: *mut c_void, describe: impl FnOnce() -> Elements) -> i32 {
        let Call { row, gate, real } = self;
        let copy = CopyCall { row, stream: stream as usize };
        let verify = gate.settings.verify_with_driver;
        let Some(records) = boundary(row.name(), || assess(&copy, describe(), verify)) else {
            return real();
        };
        if records.first.is_none() {
            return real();
        }
        if gate.settings.mode == Mode::Abort && records.has_finding() {
            abort_with(&copy, &records);
        }
        let started = Instant::now();
        let rc = real();
        let blocked: Duration = started.elapsed();
        boundary(row.name(), || {
            records.iter().for_each(|r| emit(&copy, r, Outcome::Completed { result: rc, blocked }))
        });
        rc
    }

    /// An allocation that pins memory: registers `[*out, *out + size)` if it succeeds.
    ///
    /// # Safety
    /// `out` is the call's out-parameter: on success CUDA has written the address there.
    pub unsafe fn pin(self, origin: PinOrigin, out: *mut *mut c_void, size: usize) -> i32 {
        let rc = (self.real)();
        if rc == 0 && !out.is_null() {
            boundary(self.row.name(), || {
                // SAFETY: CUDA reported success, so it wrote the allocation's address to `out`.
                let p = unsafe { out.read() } as usize;
                register(p, size, origin);
            });
        }
        rc
    }

    /// A registration of memory the program owns (`cudaHostRegister`).
    pub fn pin_registered(self, ptr: *mut c_void, size: usize) -> i32 {
        let rc = (self.real)();
        if rc == 0 {
            boundary(self.row.name(), || register(ptr as usize, size, PinOrigin::Registered));
        }
        rc
    }

    /// A free or unregistration. The range leaves the registry *before* the real call,
    /// so a concurrent allocation that CUDA hands the same address is never removed by
    /// mistake; if CUDA refuses the call, the range comes back.
    pub fn unpin(self, ptr: *mut c_void) -> i32 {
        let removed = boundary(self.row.name(), || REGISTRY.remove(ptr as usize)).flatten();
        let rc = (self.real)();
        if let Some(range) = removed.filter(|_| rc != 0) {
            REGISTRY.insert(range);
        }
        rc
    }

    /// An entry-point lookup (`cuGetProcAddress*`, `cudaGetDriverEntryPoint*`): after a
    /// successful real lookup, `*pfn` is replaced by our wrapper for that exact variant.
    ///
    /// # Safety
    /// `symbol` is NUL-terminated and `pfn` is the call's out-parameter, as the lookup
    /// functions' contract says.
    pub unsafe fn route_entry_point(
        self,
        table: &'static [HookRow],
        symbol: *const c_char,
        pfn: *mut *mut c_void,
        version: i64,
    ) -> i32 {
        let rc = (self.real)();
        if rc != 0 || symbol.is_null() || pfn.is_null() {
            return rc;
        }
        boundary(self.row.name(), || {
            // SAFETY: the caller's contract (see above); success: the real lookup wrote *pfn.
            let (name, p) = unsafe { (CStr::from_ptr(symbol), pfn.read()) };
            let name = name.to_str().unwrap_or("");
            match routing::by_pointer(table, name, p) {
                // SAFETY: pfn is the caller's out-parameter; we write a function of the same ABI.
                Routed::Wrapper(w) => unsafe { pfn.write(w as *mut c_void) },
                Routed::Unknown => counters::note_unknown_variant(name, version, p as usize),
                Routed::NotHooked | Routed::AlreadyWrapped => {}
            }
        });
        rc
    }
}

/// The real function cannot be found at all (no CUDA library in the process exports
/// it): say so once and return "symbol not found", the code both layers use for it.
pub fn missing_real(row: &'static HookRow) -> i32 {
    row.missing.say(|| {
        format!(
            "{LINE_PREFIX}cannot find the real {} in this process; returning error {ERROR_SYMBOL_NOT_FOUND} (symbol not found)",
            row.name()
        )
    });
    ERROR_SYMBOL_NOT_FOUND
}

/// Who is copying, for reports.
struct CopyCall {
    row: &'static HookRow,
    stream: usize,
}

/// Something worth a line.
struct Record {
    kind: RecordKind,
    verdict: CopyVerdict,
    element: Option<usize>,
}

/// The records of one call; `rest` stays unallocated unless a batch has several.
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

static NO_VERDICT_NOTES: [OnceNote; NoVerdict::ALL.len()] = [const { OnceNote::new() }; NoVerdict::ALL.len()];

fn note_no_verdict(api: &str, why: NoVerdict) {
    bump(Counter::Unclassified);
    NO_VERDICT_NOTES[why.index()].say(|| {
        format!(
            "{LINE_PREFIX}{api}: no verdict for a copy because {}; it runs untouched (later ones are counted in the summary)",
            why.reason()
        )
    });
}

/// verify_with_driver: compares our answer for each side with the driver's alone.
fn cross_check(call: &CopyCall, side: CopySide) {
    let Some((ours, drivers)) = differential(&REGISTRY, &oracle::Driver, side) else {
        return;
    };
    bump(Counter::Disagreements);
    let (CopySide::Host(span) | CopySide::Unified(span)) = side else {
        return;
    };
    let api = call.row.name();
    write_line(&format!(
        "{LINE_PREFIX}differential: {api} host range [{:#x}, {:#x}): pinguard says {}, the driver says {} [disagreement=1 api={api} ours={ours:?} driver={drivers:?}]",
        span.start,
        span.end(),
        ours.name(),
        drivers.name(),
    ));
}

fn assess(call: &CopyCall, elements: Elements, verify: bool) -> Records {
    let mut records = Records::default();
    let mut one = |element: Option<usize>, e: Result<CopyElement, NoVerdict>| {
        bump(Counter::Checked);
        let e = match e {
            Ok(e) => e,
            Err(why) => return note_no_verdict(call.row.name(), why),
        };
        if verify {
            cross_check(call, e.src);
            cross_check(call, e.dst);
        }
        let verdict = classify_copy(&REGISTRY, &oracle::Driver, e.src, e.dst, e.declared);
        if verdict.pinned_unseen {
            bump(Counter::PinnedUnseen);
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
        Elements::Batch(b) => (0..b.len()).for_each(|i| one(Some(i), b.get(i))),
    }
    records
}

fn emit(call: &CopyCall, r: &Record, outcome: Outcome) {
    bump(match r.kind {
        RecordKind::Finding(VerdictKind::Straddles) => Counter::Straddles,
        RecordKind::Finding(_) => Counter::Pageable,
        RecordKind::AllowedByAttribute => Counter::Allowed,
    });
    let edge_origin = r.verdict.edge.and_then(|(start, _)| match REGISTRY.lookup(start, 1) {
        RangeLookup::Inside(range) => Some(range.origin),
        _ => None,
    });
    let finding = Finding {
        kind: r.kind,
        api: call.row.name(),
        layer: call.row.layer,
        verdict: r.verdict,
        edge_origin,
        element: r.element,
        stream: call.stream,
        stream_kind: StreamKind::of(call.stream, call.row.per_thread),
        outcome,
        // SAFETY: gettid has no preconditions.
        tid: i64::from(unsafe { libc::gettid() }),
        pid: std::process::id(),
    };
    write_line(&render(&finding));
}

/// Set by the thread that reports the finding abort mode stops at.
static ABORT_CLAIMED: AtomicBool = AtomicBool::new(false);

/// The first caller claims the abort; every later one gets `false`.
fn claim_abort() -> bool {
    !ABORT_CLAIMED.swap(true, Ordering::SeqCst)
}

/// One report, then the end, as sanitizers do: the first thread to reach a finding
/// reports and aborts; any other that reaches one meanwhile waits for the abort.
fn abort_with(call: &CopyCall, records: &Records) -> ! {
    if !claim_abort() {
        loop {
            // SAFETY: pause has no preconditions; SIGABRT ends the process.
            unsafe { libc::pause() };
        }
    }
    boundary(call.row.name(), || {
        for r in records.iter() {
            emit(call, r, Outcome::Aborting);
            if matches!(r.kind, RecordKind::Finding(_)) {
                break;
            }
        }
    });
    // SAFETY: abort has no preconditions; every line was written with write(2).
    unsafe { libc::abort() }
}

fn register(start: usize, size: usize, origin: PinOrigin) {
    if let Some(range) = PinnedRange::new(start, size, origin) {
        REGISTRY.insert(range);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook_table::Scope;
    use pinguard_core::report::Layer;
    use std::sync::atomic::AtomicUsize;

    static PANIC_ROW: HookRow =
        HookRow::new(c"pinguardTestPanic", Layer::Runtime, Scope::Watch, false, std::ptr::null());

    /// The boundary's fallback: pinguard's own code panics inside a hook; the real
    /// function still runs exactly once and its code comes back unchanged.
    #[test]
    fn a_panic_in_pinguard_falls_back_to_the_real_call() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let real = || {
            CALLS.fetch_add(1, Ordering::SeqCst);
            42
        };
        let call = Call::enter(&PANIC_ROW, real).ok().expect("the gate is open in log mode");
        let rc = call.copy(std::ptr::null_mut(), || panic!("forced for the test"));
        assert_eq!((rc, CALLS.load(Ordering::SeqCst)), (42, 1));
        let said = crate::output::capture::lines_containing(
            "internal error in the pinguardTestPanic hook (forced for the test",
        );
        assert_eq!(said.len(), 1, "{said:?}");
    }

    #[test]
    fn exactly_one_thread_claims_the_abort() {
        let winners: usize = (0..16)
            .map(|_| std::thread::spawn(claim_abort))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(winners, 1);
        assert!(!claim_abort());
    }
}
