//! Where each registered range was registered: the return addresses of the stack that
//! called `cudaHostRegister` / `cuMemHostRegister`, kept until the range is unregistered,
//! for the finding that releasing it while still registered makes (issue 28, item 3).
//! Kept raw, symbolised only for such a finding: a program that registers in a loop pays
//! one stack walk per registration (itself a system call that pins pages), never a
//! symbolisation.

use std::collections::BTreeMap;

use crate::base::process::Process;
use crate::base::spin::SpinLock;
use crate::stacks::stack::Stack;

/// The kept stacks by the range's start. Held across fork by the fork handlers, before
/// the allocator's lock (an insert allocates under it).
pub static KEPT: SpinLock<BTreeMap<usize, Box<[usize]>>> = SpinLock::new(BTreeMap::new());

/// A range registered at `start`: keeps the calling stack (one registered again at the
/// same address replaces it).
pub fn note(process: &Process, start: usize) {
    let mut stack = Stack::new(process.settings.stack_depth.0 as usize);
    let stack = stack.capture(process.settings.fast_unwind, None);
    let ips: Box<[usize]> = stack.ips().into();
    let replaced = KEPT.lock().insert(start, ips);
    drop(replaced); // freed after the lock is released
}

/// The range at `start` was unregistered (or released): its stack goes.
pub fn forget(start: usize) -> Option<Box<[usize]>> {
    KEPT.lock().remove(&start)
}

