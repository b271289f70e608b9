//! Where each pinned range was pinned, and how often each pinning place's memory came
//! back: the return addresses of the stack that called `cudaMallocHost`,
//! `cudaHostAlloc`, `cudaHostRegister` (or a driver twin), kept until the range is
//! released, and per place the pin-and-release cycles so far (issue 28: a release of
//! registered memory names where it was registered; a place that pins and releases
//! again and again is churn). Kept raw, symbolised only for such a finding: a program
//! that pins in a loop pays one stack walk per pinning call (itself a slow system call),
//! never a symbolisation.

use std::collections::BTreeMap;

use crate::base::process::Process;
use crate::base::spin::SpinLock;
use crate::stacks::stack::Stack;
use crate::table::hook_table::HookRow;

/// One pinned range's pinning: the calling stack, the call, and the host time it took.
pub struct Pinning {
    pub ips: Box<[usize]>,
    pub row: &'static HookRow,
    pub pin_ns: u64,
}

impl Pinning {
    /// The pinning place: its stack and its call (the same stack through another call is
    /// another place).
    fn place(&self) -> u64 {
        let mut h = (self.row as *const HookRow as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for &ip in self.ips.iter() {
            h = (h ^ ip as u64).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(31);
        }
        h
    }
}

/// A pinning place's cycles so far, and their host time (pinning plus releasing).
#[derive(Clone, Copy, Default)]
pub struct Cycles {
    pub count: u64,
    pub total_ns: u64,
}

/// The kept pinnings by the range's start, and the cycles by place.
pub struct Kept {
    by_start: BTreeMap<usize, Pinning>,
    by_place: BTreeMap<u64, Cycles>,
}

/// Held across fork by the fork handlers, before the allocator's lock (an insert
/// allocates under it).
pub static KEPT: SpinLock<Kept> = SpinLock::new(Kept { by_start: BTreeMap::new(), by_place: BTreeMap::new() });

/// A range pinned at `start` by `row`'s call, which took `pin_ns`: keeps the calling
/// stack (a range pinned again at the same address replaces it).
pub fn note(process: &Process, row: &'static HookRow, start: usize, pin_ns: u64) {
    let mut stack = Stack::new(process.settings.stack_depth.0 as usize);
    let stack = stack.capture(process.settings.fast_unwind, None);
    let pinning = Pinning { ips: stack.ips().into(), row, pin_ns };
    let replaced = KEPT.lock().by_start.insert(start, pinning);
    drop(replaced); // freed after the lock is released
}

/// The range at `start` was released (or unregistered): its pinning, if kept.
pub fn forget(start: usize) -> Option<Pinning> {
    KEPT.lock().by_start.remove(&start)
}

/// The range `pinning` pinned was released by a call that took `release_ns`: one more
/// cycle at its place. Its place's cycles, this one counted.
pub fn cycle(pinning: &Pinning, release_ns: u64) -> Cycles {
    let place = pinning.place();
    let mut kept = KEPT.lock();
    let c = kept.by_place.entry(place).or_default();
    c.count = c.count.saturating_add(1);
    c.total_ns = c.total_ns.saturating_add(pinning.pin_ns).saturating_add(release_ns);
    *c
}
