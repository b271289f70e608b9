//! What every hook does, whichever layer and API it serves. A hook builds a [`Call`]
//! (the gate, its row and the real call) and asks it for one action:
//!
//! - [`Call::copy`]: classify (registry, then the oracle on a miss), call the real
//!   function, add what it cost to its call site; in abort and halt mode stop before it;
//! - (pinning and releasing host memory: `finding::pinning`, through [`Call::into_parts`]);
//! - [`Call::route_entry_point`]: hand out our wrapper for a driver entry point.
//!
//! The real function is called exactly once, with the caller's arguments untouched, and
//! its return code is returned as is (abort and halt mode stop the process before it).

use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pinguard_core::copy_shape::{CopyElement, NoVerdict};
use pinguard_core::cuda_types::ERROR_SYMBOL_NOT_FOUND;
use pinguard_core::registry::RangeLookup;
use pinguard_core::report::{CaptureFacts, Finding, LINE_PREFIX, Outcome, RecordKind, StreamKind, render};
use pinguard_core::settings::Mode;
use pinguard_core::summary::Counter;
use pinguard_core::verdict::{CopySide, CopyVerdict, VerdictKind, classify_copy, differential};

use crate::base::counters::{self, bump};
use crate::base::pinned::REGISTRY;
use crate::base::process::{self, Process};
use crate::base::sink::{self, OnceNote};
use crate::finding::capture;
use crate::finding::describe::Elements;
use crate::finding::finish::{self, End};
use crate::finding::gate::{Gate, boundary};
use crate::finding::oracle;
use crate::finding::report_file;
use crate::finding::sites::{self, FirstCall, Occurrence, Site};
use crate::stacks::python::PyStack;
use crate::stacks::stack::Stack;
use crate::table::hook_table::HookRow;
use crate::table::routing::{self, Routed};

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

    /// The row, the gate and the real call, for actions written outside this module
    /// (`finding::pinning`).
    pub fn into_parts(self) -> (&'static HookRow, Gate, F) {
        (self.row, self.gate, self.real)
    }

    /// The real function's address (for decisions that depend on which library holds it).
    pub fn real_ptr(&self) -> *const c_void {
        self.row.real_ptr()
    }

    /// A copy: `describe` reads the call's arguments into the copies it makes.
    pub fn copy(self, stream: *mut c_void, describe: impl FnOnce() -> Elements) -> i32 {
        let Call { row, gate, real } = self;
        let process = gate.process;
        let call = CopyCall { row, stream: stream as usize };
        let block = gate.block();
        // Filled in place, as a stack is: returned through the panic boundary, the
        // records were moved three times on every copy.
        let mut records = Records::default();
        let Some(true) = boundary(row.name(), || assess(&call, describe(), process, block, &mut records)) else {
            return real();
        };
        let settings = &process.settings;
        if (settings.mode == Mode::Abort || settings.halt_on_error) && records.has_finding() {
            // Returns only if every finding was suppressed (or pinguard failed).
            boundary(row.name(), || stop_before(&call, &mut records, process));
        }
        let started = process.clock.ticks();
        let rc = real();
        let ended = process.clock.ticks();
        boundary(row.name(), || {
            let blocked_ns = process.clock.ns(ended.saturating_sub(started), ended);
            report_after(&call, &mut records, rc, (blocked_ns, ended), process, block)
        });
        rc
    }

    /// A stream capture begins (`cudaStreamBeginCapture` and its kin): once CUDA has
    /// accepted it, pinguard notes where, for the copies captured into it.
    pub fn capture_begun(self, stream: *mut c_void, mode: Option<u32>) -> i32 {
        let Call { row, gate, real } = self;
        let rc = real();
        if rc == 0 && room_to_report() {
            boundary(row.name(), || capture::note_begun(gate.process, stream as usize, row.per_thread, mode));
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

/// Who is copying.
struct CopyCall {
    row: &'static HookRow,
    stream: usize,
}

/// A copy worth a site: a finding or an allowed note.
struct Record {
    kind: RecordKind,
    verdict: CopyVerdict,
    element: Option<usize>,
}

impl Record {
    fn bytes(&self) -> u64 {
        self.verdict.host.map(|h| h.len as u64).unwrap_or(0)
    }
}

/// The records of one call; `rest` stays unallocated unless a batch has several.
#[derive(Default)]
struct Records {
    first: Option<Record>,
    rest: Vec<Record>,
    /// verify_with_driver only: every host side, checked once the result is known.
    sides: Vec<CopySide>,
    /// The capture the call's stream is part of, for a finding in a captured stream.
    capture: Option<u64>,
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
        self.iter().any(|r| r.kind.is_finding())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.first.iter_mut().chain(self.rest.iter_mut())
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
    sink::line(&format!(
        "{LINE_PREFIX}differential: {api} host range [{:#x}, {:#x}): pinguard says {}, the driver says {} [disagreement=1 api={api} ours={ours:?} driver={drivers:?}]",
        span.start,
        span.end(),
        ours.name(),
        drivers.name(),
    ));
}

/// Classifies the call's copies into `found`. False: nothing to report or check (the
/// common case: pinned, device, managed), and then nothing was built.
fn assess(
    call: &CopyCall,
    elements: Elements,
    process: &Process,
    block: &counters::Block,
    found: &mut Records,
) -> bool {
    if process.test_panic {
        panic!("test_only_panic");
    }
    let verify = process.settings.verify_with_driver;
    let min_bytes = process.settings.min_bytes;
    // A note, not a finding: the legacy default stream serialises with every blocking
    // stream, whatever the memory (issue 28).
    let legacy =
        matches!(StreamKind::of(call.stream, call.row.per_thread), StreamKind::LegacyDefault | StreamKind::Legacy);
    let mut one = |element: Option<usize>, e: Result<CopyElement, NoVerdict>| {
        block.add(Counter::Checked, 1);
        if legacy {
            block.add(Counter::LegacyStream, 1);
        }
        let e = match e {
            Ok(e) => e,
            Err(why) => return note_no_verdict(call.row.name(), why),
        };
        if verify {
            found.sides.extend([e.src, e.dst]);
        }
        let verdict = classify_copy(&REGISTRY, &oracle::Driver, e.src, e.dst, e.declared);
        if verdict.pinned_unseen {
            block.add(Counter::PinnedUnseen, 1);
        }
        let kind = match verdict.kind {
            VerdictKind::Pageable if e.allowed_by_attribute => RecordKind::AllowedByAttribute,
            k if k.is_finding() => RecordKind::Finding(k),
            _ => return,
        };
        let record = Record { kind, verdict, element };
        if kind.is_finding() && record.bytes() < min_bytes {
            return block.add(Counter::Small, 1);
        }
        found.push(record);
    };
    match elements {
        Elements::One(e) => one(None, e),
        Elements::Batch(b) => (0..b.len()).for_each(|i| one(Some(i), b.get(i))),
    }
    // The first record is there whenever any is: a pinned copy pays one test.
    if found.first.is_some() && found.has_finding() {
        mark_captured(call, found);
    }
    found.first.is_some() || !found.sides.is_empty()
}

/// A finding in a stream being captured into a CUDA graph: its pageable records become
/// `captured` (a straddle stays one: CUDA rejects it either way). Asked of the driver
/// for findings only (see `capture.rs`).
#[inline(never)]
fn mark_captured(call: &CopyCall, found: &mut Records) {
    let Some(id) = capture::active(call.stream, call.row.per_thread) else {
        return;
    };
    found.capture = Some(id);
    for r in found.iter_mut().filter(|r| r.kind == RecordKind::Finding(VerdictKind::Pageable)) {
        r.kind = RecordKind::Captured;
    }
}

fn time_ms() -> u64 {
    process::now_ms()
}

/// After the real call: each record goes to its site; a new site is written to the
/// report and, within print_limit, shown on stderr with its stack.
/// `timing`: how long the real call kept the thread (ns), and when it returned (a
/// [`crate::base::clock::Clock::ticks`] reading).
fn report_after(
    call: &CopyCall,
    records: &mut Records,
    rc: i32,
    (blocked_ns, ended): (u64, u64),
    process: &'static Process,
    mine: &counters::Block,
) {
    for side in records.sides.drain(..) {
        cross_check(call, side);
    }
    if records.first.is_none() {
        return;
    }
    if !begin_report(mine) {
        return;
    }
    if !room_to_report() {
        // Too little stack left to walk it and name a site: each finding is counted,
        // without a site (said once), and the call has already gone through.
        for r in records.iter() {
            count(r.kind, None, mine);
        }
        mine.leave_report();
        return;
    }
    // A thread running Python: its frames tell the sites apart (read before the native
    // walk, which then takes no note: one native walk serves every line of a script).
    let python = PyStack::of_this_thread();
    // The first record's site is what a replayed walk's note most likely holds (the
    // only record, but for batches): then the stack's addresses are not even copied.
    let want = records
        .first
        .as_ref()
        .filter(|_| python.is_none())
        .and_then(|r| sites::note_tag(r.kind, Some(r.verdict.direction), call.row));
    let mut stack = Stack::new(process.settings.stack_depth.0 as usize);
    let stack = stack.capture(process.settings.fast_unwind, want);
    if stack.slow {
        mine.add(Counter::SlowStacks, 1);
    }
    let now = process.ms_at(ended);
    let first_call = records.capture.map_or(FirstCall::Plain, FirstCall::Captured);
    for r in records.iter() {
        let outcome = Outcome::Completed { result: rc, blocked: Duration::from_nanos(blocked_ns) };
        let occurrence =
            Occurrence { bytes: r.bytes(), blocked_ns, result: Some(rc), stream: call.stream, time_ms: now };
        let (site, slow) =
            sites::site_of(process, stack, python.as_ref(), r.kind, Some(r.verdict.direction), call.row, first_call);
        if slow {
            // The site took long (built here, or waited for): the summary may have begun
            // meanwhile and given up waiting for this report. So this report line ends,
            // the one the summary may be waiting for, and another begins as at the start;
            // if the summary has begun, nothing more of it is counted, in the totals or in
            // the summary, as for a call the summary began before.
            mine.leave_report();
            if !begin_report(mine) {
                return;
            }
        }
        count(r.kind, site, mine);
        if let Some(site) = site.filter(|s| !s.suppressed) {
            site.add(&occurrence, mine.shard());
        }
        if let Some(site) = site
            && site.announce()
        {
            announce(call, r, site, outcome, process);
        }
    }
    if sites::aggregate_due(now, process.settings.report_interval) {
        report_file::aggregates();
    }
    mine.leave_report();
}

/// The stack a finding's report needs at most: walking frames not seen before (their
/// unwind rules read from `.eh_frame`) and building a new site (symbolising it) took up
/// to 28 KiB in a release build and 90 KiB in a debug build (threads of every size from
/// 16 KiB up, measured); twice that is asked for.
pub(crate) const REPORT_STACK: usize = if cfg!(debug_assertions) { 192 << 10 } else { 64 << 10 };

/// Is there stack enough left on this thread to report a finding? A thread with a small
/// stack (a green thread, a pool's worker) must not overflow it for pinguard's sake: its
/// findings are counted without a site, and the summary says so (`unsited`, with its
/// reason). Not said here: a line takes stack too, which such a thread lacks.
pub(crate) fn room_to_report() -> bool {
    crate::stacks::unwind::stack_room().is_none_or(|room| room >= REPORT_STACK)
}

/// Begins a report line in the handshake with the summary: false, and nothing begun, if
/// the summary has begun (it must stay the last thing said).
pub(crate) fn begin_report(mine: &counters::Block) -> bool {
    mine.enter_report();
    if finish::closing() {
        mine.leave_report();
        return false;
    }
    true
}

pub(crate) fn count(kind: RecordKind, site: Option<&Site>, block: &counters::Block) {
    if site.is_none() && kind.is_finding() {
        block.add(Counter::Unsited, 1);
    }
    let counter = match (kind, site) {
        (_, Some(s)) if s.suppressed && kind.is_finding() => Counter::Suppressed,
        (RecordKind::Captured, _) => Counter::Captured,
        (RecordKind::Released, _) => Counter::ReleasedWhileRegistered,
        (RecordKind::Churn, _) => Counter::PinnedChurn,
        (RecordKind::Finding(VerdictKind::Straddles), _) => Counter::Straddles,
        (RecordKind::Finding(_), _) => Counter::Pageable,
        (RecordKind::AllowedByAttribute, _) => Counter::Allowed,
    };
    block.add(counter, 1);
}

/// Writes a new site: its record in the report, and on stderr (unless suppressed, and
/// within print_limit) its first finding, where it is, its stack and the fix.
fn announce(call: &CopyCall, r: &Record, site: &Site, outcome: Outcome, process: &Process) {
    let edge_origin = r.verdict.edge.and_then(|(start, _)| match REGISTRY.lookup(start, 1) {
        RangeLookup::Inside(range) => Some(range.origin),
        _ => None,
    });
    // One finding, two renderings: the site's first call in the report, and its line.
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
        tid: i64::from(crate::base::spin::gettid()),
        pid: std::process::id(),
        site: Some(site.id),
        advice: "",
        capture: site.capture.as_ref().map(|c| CaptureFacts {
            id: c.begun.id,
            mode: c.begun.mode,
            begun: c.begun_text.as_deref(),
        }),
    };
    let mut name = [0u8; 17];
    // SAFETY: PR_GET_NAME writes the calling thread's name, at most 16 bytes with its
    // NUL, into the buffer (one byte more, zeroed, so a NUL is always there).
    let named = unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) } == 0;
    let mut first = finding.first_call(time_ms());
    first.thread = named
        .then(|| std::ffi::CStr::from_bytes_until_nul(&name).ok()?.to_str().ok())
        .flatten()
        .filter(|n| !n.is_empty());
    report_file::site(site, first);
    let stopping = !matches!(outcome, Outcome::Completed { .. });
    if site.suppressed || !(stopping || sites::may_print(process.settings.print_limit)) {
        return;
    }
    let mut text = render(&finding);
    text.push('\n');
    text.push_str(&sites::stack_lines(site));
    finish::say_before_summary(text.as_bytes());
}

/// Set by the thread that stops the process (abort mode, halt_on_error).
static STOP_CLAIMED: AtomicBool = AtomicBool::new(false);

/// The first caller claims the stop; every later one gets `false`.
fn claim_stop() -> bool {
    !STOP_CLAIMED.swap(true, Ordering::SeqCst)
}

/// Abort mode and halt_on_error, at an unsuppressed finding: the first thread claims
/// the stop and gets the outcome its line says; any other waits here for the end, which
/// the first one brings.
pub(crate) fn claim_stop_or_wait(process: &Process) -> Outcome {
    if !claim_stop() {
        loop {
            // SAFETY: pause has no preconditions; the claiming thread ends the process.
            unsafe { libc::pause() };
        }
    }
    if process.settings.halt_on_error { Outcome::Halting(process.settings.exitcode.0 as u8) } else { Outcome::Aborting }
}

/// A new site of a finding that is not a copy (a release of registered memory, a
/// churning pinning place): its record (stream 0, stream kind `none`) and, unless
/// suppressed, within print_limit or when stopping, `line` and the site's stack on
/// stderr. `range` and `blocked_ns` are its first call's.
pub(crate) fn announce_not_a_copy(
    site: &Site,
    (start, end): (usize, usize),
    blocked_ns: u64,
    (outcome, tid): (Outcome, i64),
    process: &Process,
    line: impl FnOnce() -> String,
) {
    let result = match outcome {
        Outcome::Completed { result, .. } => Some(result),
        _ => None,
    };
    let first = pinguard_core::records::write::First {
        bytes: (end - start) as u64,
        host: start,
        stream: 0,
        stream_kind: "none",
        element: None,
        tid,
        thread: None,
        result,
        outcome: outcome.name(),
        blocked_ns,
        time_ms: process::now_ms(),
    };
    report_file::site(site, first);
    let stopping = !matches!(outcome, Outcome::Completed { .. });
    if site.suppressed || !(stopping || sites::may_print(process.settings.print_limit)) {
        return;
    }
    let mut text = line();
    text.push('\n');
    text.push_str(&sites::stack_lines(site));
    finish::say_before_summary(text.as_bytes());
}

/// The stopping finding said: the summary, then the end (`_exit` with `exitcode` for
/// halt_on_error, `abort` in abort mode).
pub(crate) fn end_stopped(process: &Process) -> ! {
    let halt = process.settings.halt_on_error;
    finish::finish(if halt { End::Halt } else { End::Abort });
    if halt {
        // SAFETY: _exit ends the process at once: no handler of the program runs, no core.
        unsafe { libc::_exit(i32::from(process.settings.exitcode.0 as u8)) };
    }
    // SAFETY: abort has no preconditions; every line was written with write(2).
    unsafe { libc::abort() }
}

/// In a freshly forked child: no stop has been claimed there.
pub fn reset_in_child() {
    STOP_CLAIMED.store(false, Ordering::Relaxed);
}

/// Abort mode and halt_on_error: one report, then the end, as sanitizers do. The first
/// thread to reach an unsuppressed finding reports it, writes the summary and stops the
/// process before the copy runs; any other thread that reaches one meanwhile waits for
/// the end. Returns only when every finding of the call is suppressed.
fn stop_before(call: &CopyCall, records: &mut Records, process: &'static Process) {
    for side in records.sides.drain(..) {
        cross_check(call, side);
    }
    let python = PyStack::of_this_thread();
    let mut stack = Stack::new(process.settings.stack_depth.0 as usize);
    let stack = stack.capture(process.settings.fast_unwind, None);
    let first_call = records.capture.map_or(FirstCall::Plain, FirstCall::Captured);
    let target = records.iter().filter(|r| r.kind.is_finding()).find_map(|r| {
        let (site, _) =
            sites::site_of(process, stack, python.as_ref(), r.kind, Some(r.verdict.direction), call.row, first_call);
        match site {
            Some(s) if s.suppressed => None,
            _ => Some((r, site)),
        }
    });
    let Some((record, site)) = target else {
        return;
    };
    let outcome = claim_stop_or_wait(process);
    let mine = counters::mine();
    count(record.kind, site, mine);
    if let Some(site) = site {
        site.add(
            &Occurrence { bytes: record.bytes(), blocked_ns: 0, result: None, stream: call.stream, time_ms: time_ms() },
            mine.shard(),
        );
        site.announce();
        announce(call, record, site, outcome, process);
    }
    end_stopped(process)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::hook_table::Scope;
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
        let said = crate::base::sink::capture::lines_containing(
            "internal error in the pinguardTestPanic hook (forced for the test",
        );
        assert_eq!(said.len(), 1, "{said:?}");
    }

    #[test]
    fn exactly_one_thread_claims_the_stop() {
        let winners: usize = (0..16)
            .map(|_| std::thread::spawn(claim_stop))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(winners, 1);
        assert!(!claim_stop());
    }
}
