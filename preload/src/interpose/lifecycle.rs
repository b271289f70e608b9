//! The process's life as pinguard sees it: load, fork, exit. It sits above every other
//! file of the library, because its handlers reach all of them.
//!
//! - **Load**: one constructor, which registers the `pthread_atfork` handlers, finds the
//!   real exec functions, and under `pinguard run` writes the process's start mark
//!   (`run_marks`: system calls on stack buffers, no allocation). Nothing else runs
//!   until the first hooked call (`process::process`): a program that never calls CUDA
//!   is otherwise never touched.
//! - **Fork**: the prepare handler holds pinguard's locks across `fork`; the child's
//!   handler releases them and starts the child's state, counters, sites and report from
//!   zero.
//! - **Exit**: the destructor writes the summary (`finish`), after every `atexit`
//!   handler and static destructor of the program, so it comes last and counts them.

use crate::base::pinned::REGISTRY;
use crate::finding::finish::{self, End};
use crate::{
    base::counters, base::memory, base::process, base::sink, base::symbols, finding::capture, finding::intercept,
    finding::pinnings, finding::report_file, finding::sites, interpose::releases, interpose::run_marks, stacks::stack,
};

// ---- constructor, destructor, fork ------------------------------------------------------

#[cfg_attr(test, allow(dead_code, reason = "unit-test builds have no constructor"))]
extern "C" fn at_load() {
    // SAFETY: registering plain extern "C" handlers with the C library.
    unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork_in_parent), Some(after_fork_in_child)) };
    process::set_child_reset(after_fork_in_child);
    sink::note_stderr_at_load();
    run_marks::at_load();
    releases::resolve();
}

#[cfg_attr(test, allow(dead_code, reason = "unit-test builds have no destructor"))]
extern "C" fn at_exit() {
    finish::finish(End::Exit);
}

// The only constructor: fork handlers must be in place before any thread can fork, and
// under `pinguard run` a process image marks itself watched before its program runs.
#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = at_load;

// The summary runs in the destructor, after the program's atexit handlers and static
// destructors (they are registered after this library was loaded), so it comes last.
#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".fini_array")]
static DESTRUCTOR: extern "C" fn() = at_exit;

/// Held across fork: the locks a child may need. The allocator's last: code holding the
/// others allocates, and nothing that holds an allocator lock takes another.
extern "C" fn before_fork() {
    stack::SYMBOLS.lock_for_fork();
    counters::UNKNOWN_VARIANTS.lock_for_fork();
    capture::RING.lock_for_fork();
    pinnings::KEPT.lock_for_fork();
    symbols::hold_loader_for_fork();
    memory::lock_for_fork();
}

extern "C" fn after_fork_in_parent() {
    memory::unlock_after_fork();
    symbols::release_loader_after_fork(false);
    pinnings::KEPT.unlock_after_fork();
    capture::RING.unlock_after_fork();
    counters::UNKNOWN_VARIANTS.unlock_after_fork();
    stack::SYMBOLS.unlock_after_fork();
}

/// The child has one thread and its own pid: everything counted from here on is its
/// own. Atomic stores and `close` only. Also run by the first hook in a child of a fork
/// no handler saw (`process::forked_unseen`).
extern "C" fn after_fork_in_child() {
    process::rearm_witness();
    memory::unlock_after_fork();
    symbols::release_loader_after_fork(true);
    pinnings::KEPT.unlock_after_fork();
    capture::RING.unlock_after_fork();
    counters::UNKNOWN_VARIANTS.unlock_after_fork();
    stack::SYMBOLS.unlock_after_fork();
    process::reset_in_child();
    // A registry another thread was building is built again by the child; a built one
    // gets its writer lock back. Never built here: no allocation in the fork handler.
    REGISTRY.reset_in_child();
    crate::base::pinned::reset_in_child();
    if let Some(registry) = REGISTRY.get_if_built() {
        registry.reset_after_fork();
    }
    counters::reset_in_child();
    sites::reset_in_child();
    sink::reset_in_child();
    finish::reset_in_child();
    intercept::reset_in_child();
    report_file::reset_in_child();
    crate::stacks::python::reset_in_child();
}
