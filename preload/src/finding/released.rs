//! Registered memory released while still registered (issue 28, item 3): `free`,
//! `realloc`, `munmap` or `mremap` (and `delete` through `free`) of memory the program
//! registered with `cudaHostRegister` / `cuMemHostRegister` and did not unregister. The
//! driver keeps the old pages pinned under the address: a copy from or to it later can
//! move the old pages' contents (measured on an H100: a copy from a registered range that
//! was unmapped and mapped again delivered the old data). A finding of its own kind,
//! `released_while_registered`, with the release's call site and the registration's; the
//! range leaves the registry.
//!
//! The exports (`interpose::releases`) ask the registry's granules first, so that a
//! release of memory no registered range could be in costs one or two loads. What comes
//! here has passed that filter. The exact question (does a registered range overlap what
//! the call releases?) is asked lock-free and allocation-free before the gate, so that
//! pinguard's own frees and unmaps, which never overlap a registered range, never enter
//! it. Found: before a `free` or `munmap` proceeds (abort mode stops the program with the
//! memory still in place); after a `realloc` or `mremap`, which alone know whether they
//! moved the memory, with the old memory already given back (abort mode stops the
//! program there, before it uses the new).

use pinguard_core::registered_granules::GRANULE_SHIFT;
use pinguard_core::registry::PinnedRange;
use pinguard_core::report::{Layer, Outcome, RecordKind, Release, render_release};
use pinguard_core::settings::Mode;

use crate::base::counters;
use crate::base::pinned::{self, REGISTRY};
use crate::base::process::Process;
use crate::finding::gate::{Gate, boundary};
use crate::finding::intercept::{
    announce_not_a_copy, begin_report, claim_stop_or_wait, count, end_stopped, room_to_report,
};
use crate::finding::pinnings;
use crate::finding::sites::{self, FirstCall, Occurrence, Site};
use crate::stacks::python::PyStack;
use crate::stacks::stack::Stack;
use crate::table::hook_table::{HookRow, Scope};

/// The rows a release's site names (no real function behind them here: the exports
/// call their own).
pub static FREE: HookRow = HookRow::new(c"free", Layer::Libc, Scope::Watch, false, std::ptr::null());
pub static REALLOC: HookRow = HookRow::new(c"realloc", Layer::Libc, Scope::Watch, false, std::ptr::null());
pub static MUNMAP: HookRow = HookRow::new(c"munmap", Layer::Libc, Scope::Watch, false, std::ptr::null());
pub static MREMAP: HookRow = HookRow::new(c"mremap", Layer::Libc, Scope::Watch, false, std::ptr::null());

/// How far into a heap block a registration is looked for: the granule filter sends a
/// block down here when a registered range begins at most one granule (2 MiB to 4 MiB)
/// after the block does; past this, a registration deep inside a larger block is not
/// seen by `free` (an `munmap` of its mapping still is).
const LEAD: usize = 2 << GRANULE_SHIFT;

/// `[lo, hi)` of the heap block at `p`, if registered memory lies in it: a registered
/// range holds `p`, or begins inside the block (`usable` gives the block's usable size,
/// asked only then).
pub fn registered_in_block(p: usize, usable: impl FnOnce() -> usize) -> Option<(usize, usize)> {
    let registry = REGISTRY.get_if_built()?;
    // The first registered range from `p` on (or holding it): if it begins past the
    // block's end, so does every other.
    let (r, _) = registry.registered_overlapping(p, p.saturating_add(LEAD))?;
    let end = p.saturating_add(usable().max(1));
    (r.start < end).then_some((p, end))
}

/// Does a registered range overlap `[lo, hi)`? (The exports' question before the gate.)
pub fn overlaps_registered(lo: usize, hi: usize) -> bool {
    lo < hi && REGISTRY.get_if_built().is_some_and(|r| r.registered_overlapping(lo, hi).is_some())
}

/// `row`'s call releases (or released) `[lo, hi)`: every registered range it overlaps is
/// a finding, and leaves the registry.
pub fn released(row: &'static HookRow, lo: usize, hi: usize) {
    if !overlaps_registered(lo, hi) {
        return;
    }
    let Some(gate) = Gate::enter(row.scope, row.name()) else {
        return;
    };
    boundary(row.name(), || {
        let Some(registry) = REGISTRY.get_if_built() else {
            return;
        };
        // Bounded: a range registered again under us at the same place is a new one.
        for _ in 0..4096 {
            let Some((range, generation)) = registry.registered_overlapping(lo, hi) else {
                return;
            };
            if registry.remove_if(range.start, Some(generation)).is_none() {
                continue; // unregistered meanwhile by another thread
            }
            pinned::note_released((range.end - range.start) as u64);
            let registered_at = pinnings::forget(range.start).map(|p| p.ips);
            report(&gate, row, range, registered_at.as_deref());
        }
    });
}

/// One released range: its site, its line, and in abort mode (or halt_on_error) the end.
fn report(gate: &Gate, row: &'static HookRow, range: PinnedRange, registered_at: Option<&[usize]>) {
    let process = gate.process;
    let mine = gate.block();
    let stopping = process.settings.mode == Mode::Abort || process.settings.halt_on_error;
    if !stopping && !begin_report(mine) {
        return;
    }
    let site = if room_to_report() {
        let python = PyStack::of_this_thread();
        let mut stack = Stack::new(process.settings.stack_depth.0 as usize);
        let stack = stack.capture(process.settings.fast_unwind, None);
        let first = FirstCall::Released(registered_at);
        sites::site_of(process, stack, python.as_ref(), RecordKind::Released, None, row, first).0
    } else {
        None
    };
    if stopping && !site.is_some_and(|s| s.suppressed) {
        stop(process, row, range, site);
    }
    count(RecordKind::Released, site, mine);
    if let Some(site) = site.filter(|s| !s.suppressed) {
        let occurrence = occurrence(range, process);
        site.add(&occurrence, mine.shard());
        if site.announce() {
            announce(row, range, site, Outcome::Completed { result: 0, blocked: Default::default() }, process);
        }
    }
    if !stopping {
        mine.leave_report();
    }
}

fn occurrence(range: PinnedRange, process: &Process) -> Occurrence {
    Occurrence {
        bytes: (range.end - range.start) as u64,
        blocked_ns: 0,
        result: None,
        stream: 0,
        time_ms: process.ms_at(process.clock.ticks()),
    }
}

/// Abort mode and halt_on_error: this release is the one report, then the end.
fn stop(process: &'static Process, row: &'static HookRow, range: PinnedRange, site: Option<&'static Site>) -> ! {
    let outcome = claim_stop_or_wait(process);
    let mine = counters::mine();
    count(RecordKind::Released, site, mine);
    if let Some(site) = site {
        site.add(&occurrence(range, process), mine.shard());
        site.announce();
        announce(row, range, site, outcome, process);
    }
    end_stopped(process)
}

/// A new site's record in the report and, within print_limit, its line on stderr.
fn announce(row: &'static HookRow, range: PinnedRange, site: &Site, outcome: Outcome, process: &Process) {
    let tid = i64::from(crate::base::spin::gettid());
    let range = (range.start, range.end);
    announce_not_a_copy(site, range, 0, (outcome, tid), process, || {
        let registered_text = site.registered.as_ref().map(|f| f.text());
        render_release(&Release {
            api: row.name(),
            range,
            registered_at: registered_text.as_deref(),
            outcome,
            tid,
            pid: std::process::id(),
            site: Some(site.id),
            advice: site.advice,
        })
    });
}
