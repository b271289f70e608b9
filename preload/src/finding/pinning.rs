//! What a call that pins or releases host memory does (`cudaMallocHost`,
//! `cudaHostAlloc`, `cudaHostRegister`, `cudaFreeHost`, `cudaHostUnregister` and their
//! driver twins): the real call, timed (the summary's `pin_calls` and `pin_blocked_us`);
//! the registry kept in step with what CUDA pinned; where each range was pinned
//! (`finding::pinnings`); and the finding `pinned_churn` (issue 28, item 4): a call site
//! whose pinned memory is released again `churn_min` times or more. Pinning is a slow
//! system call that the driver serialises across threads, and a release waits for the
//! device: such a site should keep its buffer and reuse it.
//!
//! A churn site is the pinning call's stack, built from the addresses kept when it
//! pinned (symbolised once, when the site is first reported). Its count is its cycles
//! from the `churn_min`-th on (the line says how many there were in all); the earlier
//! ones are counted per place only (`pinnings::cycle`). Found after the release
//! returned: the program's call is never held up or changed; abort mode stops it there.

use std::ffi::c_void;

use pinguard_core::registry::{PinOrigin, PinnedRange};
use pinguard_core::report::{Churn, Outcome, RecordKind, render_churn};
use pinguard_core::settings::Mode;
use pinguard_core::summary::Counter;

use crate::base::counters;
use crate::base::pinned::{self, REGISTRY};
use crate::base::process::Process;
use crate::finding::gate::{Gate, boundary};
use crate::finding::intercept::{
    Call, announce_not_a_copy, begin_report, claim_stop_or_wait, count, end_stopped, room_to_report,
};
use crate::finding::pinnings::{self, Pinning};
use crate::finding::sites::{self, FirstCall, Occurrence, Site};
use crate::stacks::stack::Stack;
use crate::table::hook_table::HookRow;

/// An allocation that pins memory: registers `[*out, *out + size)` if it succeeds.
///
/// # Safety
/// `out` is the call's out-parameter: on success CUDA has written the address there.
pub unsafe fn pin<F: FnOnce() -> i32>(call: Call<F>, origin: PinOrigin, out: *mut *mut c_void, size: usize) -> i32 {
    let (row, gate, real) = call.into_parts();
    let (rc, ns) = timed(gate.process, real);
    if rc == 0 && !out.is_null() {
        boundary(row.name(), || {
            // SAFETY: CUDA reported success, so it wrote the allocation's address to `out`.
            let p = unsafe { out.read() } as usize;
            register(&gate, row, (p, size, origin), ns);
        });
    }
    rc
}

/// A registration of memory the program owns (`cudaHostRegister`).
pub fn pin_registered<F: FnOnce() -> i32>(call: Call<F>, ptr: *mut c_void, size: usize) -> i32 {
    let (row, gate, real) = call.into_parts();
    let (rc, ns) = timed(gate.process, real);
    if rc == 0 {
        boundary(row.name(), || register(&gate, row, (ptr as usize, size, PinOrigin::Registered), ns));
    }
    rc
}

/// A free or unregistration. pinguard notes which pinning the base pointer names
/// before the call, and removes exactly that one once CUDA has accepted the release:
/// a release CUDA refuses changes nothing, and a range pinned again at the same
/// address meanwhile (another generation) stays.
pub fn unpin<F: FnOnce() -> i32>(call: Call<F>, ptr: *mut c_void) -> i32 {
    let (row, gate, real) = call.into_parts();
    let seen = boundary(row.name(), || REGISTRY.at_base(ptr as usize)).flatten();
    let (rc, ns) = timed(gate.process, real);
    if let Some((_, generation)) = seen.filter(|_| rc == 0) {
        boundary(row.name(), || {
            if let Some(range) = REGISTRY.remove_if(ptr as usize, Some(generation)) {
                pinned::note_released((range.end - range.start) as u64);
                if let Some(pinning) = pinnings::forget(range.start) {
                    released(&gate, row, range, &pinning, ns);
                }
            }
        });
    }
    rc
}

fn register(gate: &Gate, row: &'static HookRow, (start, size, origin): (usize, usize, PinOrigin), ns: u64) {
    if let Some(range) = PinnedRange::new(start, size, origin) {
        REGISTRY.insert(range);
        pinned::note_pinned(size as u64);
        pinnings::note(gate.process, row, start, ns);
    }
}

/// A call that pins or releases host memory, timed: the summary counts such calls and
/// the host time they took. The return code, and the host time in nanoseconds.
fn timed(process: &Process, real: impl FnOnce() -> i32) -> (i32, u64) {
    let started = process.clock.ticks();
    let rc = real();
    let ended = process.clock.ticks();
    let ns = process.clock.ns(ended.saturating_sub(started), ended);
    let block = counters::mine();
    block.add(Counter::PinCalls, 1);
    block.add(Counter::PinBlockedUs, ns / 1000);
    (rc, ns)
}

/// The range `pinning` pinned was released by `row`'s call: one more cycle at its
/// place, and from `churn_min` on, a finding at the pinning's site.
fn released(gate: &Gate, row: &'static HookRow, range: PinnedRange, pinning: &Pinning, release_ns: u64) {
    let process = gate.process;
    let min = process.settings.churn_min;
    if min == 0 {
        return;
    }
    let cycles = pinnings::cycle(pinning, release_ns);
    if cycles.count < min {
        return;
    }
    let mine = gate.block();
    let stopping = process.settings.mode == Mode::Abort || process.settings.halt_on_error;
    if !stopping && !begin_report(mine) {
        return;
    }
    let site = if room_to_report() {
        let stack = Stack::of_ips(&pinning.ips, process.settings.stack_depth.0 as usize);
        sites::site_of(process, &stack, None, RecordKind::Churn, None, pinning.row, FirstCall::Plain).0
    } else {
        None
    };
    let cycle_ns = pinning.pin_ns.saturating_add(release_ns);
    let churn = Churn {
        api: pinning.row.name(),
        layer: pinning.row.layer,
        released_by: row.name(),
        cycles: cycles.count,
        total_ns: cycles.total_ns,
        range: (range.start, range.end),
        cycle_ns,
        outcome: Outcome::Completed { result: 0, blocked: Default::default() },
        tid: 0, // asked only when said (system calls: not on every cycle)
        pid: 0,
        site: site.map(|s| s.id),
        advice: site.map_or("", |s| s.advice),
    };
    if stopping && !site.is_some_and(|s| s.suppressed) {
        stop(process, churn, site);
    }
    count(RecordKind::Churn, site, mine);
    if let Some(site) = site.filter(|s| !s.suppressed) {
        site.add(&occurrence(&churn, process), mine.shard());
        if site.announce() {
            announce(churn, site, process);
        }
    }
    if !stopping {
        mine.leave_report();
    }
}

fn occurrence(churn: &Churn<'_>, process: &Process) -> Occurrence {
    Occurrence {
        bytes: (churn.range.1 - churn.range.0) as u64,
        blocked_ns: churn.cycle_ns,
        result: Some(0),
        stream: 0,
        time_ms: process.ms_at(process.clock.ticks()),
    }
}

/// Abort mode and halt_on_error: this churn is the one report, then the end.
fn stop(process: &'static Process, churn: Churn<'_>, site: Option<&'static Site>) -> ! {
    let churn = Churn { outcome: claim_stop_or_wait(process), ..churn };
    let mine = counters::mine();
    count(RecordKind::Churn, site, mine);
    if let Some(site) = site {
        site.add(&occurrence(&churn, process), mine.shard());
        site.announce();
        announce(churn, site, process);
    }
    end_stopped(process)
}

/// A new churn site's record in the report and, within print_limit, its line on stderr.
fn announce(churn: Churn<'_>, site: &Site, process: &Process) {
    let churn = Churn { tid: i64::from(crate::base::spin::gettid()), pid: std::process::id(), ..churn };
    announce_not_a_copy(site, churn.range, churn.cycle_ns, (churn.outcome, churn.tid), process, || {
        render_churn(&churn)
    });
}
