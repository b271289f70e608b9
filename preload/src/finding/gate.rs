//! The gate at the top of every hook, and the boundary around pinguard's own work.
//!
//! - [`Gate::enter`]: decides whether pinguard acts on this call at all: initialised
//!   (inside the panic boundary), mode not `off`, and, for watching hooks, the outermost
//!   pinguard frame on this thread (a runtime hook whose real function reaches our
//!   driver wrapper on the same thread reports once) and the summary not yet begun.
//! - [`boundary`]: catches a panic in pinguard's own code so it never crosses the FFI
//!   boundary; the hook then falls back to the real function and says why, once.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use pinguard_core::report::LINE_PREFIX;
use pinguard_core::settings::Mode;

use pinguard_core::summary::Counter;

use crate::base::counters::{self, Here};
use crate::base::process::{self, Process};
use crate::base::sink::{OnceNote, line as write_line};
use crate::table::hook_table::Scope;
use crate::{base::memory, finding::finish, finding::report_file};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Marks this thread as inside pinguard while alive; holds the thread's state for the
/// hook (one thread-local lookup per hook).
pub struct Frame(*const Here);

impl Frame {
    /// `Some` for the outermost frame on this thread, `None` inside another one (and
    /// while the thread is being torn down).
    fn enter() -> Option<Frame> {
        counters::with_here(|h| {
            if !h.prepared.get() {
                prepare_thread();
                h.prepared.set(true);
            }
            (!h.in_frame.replace(true)).then_some(Frame(h as *const Here))
        })
        .flatten()
    }

    /// The thread's counter block.
    pub fn block(&self) -> &'static counters::Block {
        // SAFETY: the pointer is this thread's own state, alive while the thread runs,
        // and a Frame never leaves the thread (it is not Send).
        unsafe { &*self.0 }.block()
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: as in `block`.
        unsafe { &*self.0 }.in_frame.set(false);
    }
}

/// A thread's first watched call: with every signal blocked, makes the per-thread
/// registrations that pinguard's paths would otherwise make on first use. The registry's
/// root reader (arc-swap) keeps a thread-local with a destructor, registered on the
/// thread's first root load through glibc's `__cxa_thread_atexit_impl`, which takes a
/// lock and edits a list: a signal handler that calls `exit` in the middle of that
/// crashes `exit` (seen under load: `sigterm_exit`, 2 runs in about 1 000). A lookup
/// loads the root only when the hashed table cannot answer, and a release always does,
/// so the root is loaded here (`at_base`), not left to a lookup. Blocked signals wait
/// until the mask is restored; two system calls, once per thread. The thread's stack
/// bounds are read here too, for the same reason. Out of line: every hook's frame would
/// otherwise carry this path's stack.
#[cold]
#[inline(never)]
fn prepare_thread() {
    // SAFETY: sigset_t is plain C data; sigfillset and pthread_sigmask only write the
    // sets we pass, and the old mask is restored before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let _ = crate::base::pinned::REGISTRY.at_base(0);
        let _ = crate::base::pinned::REGISTRY.lookup(0, 1);
        // The thread's stack bounds, read once: for the main thread the C library reads
        // them from /proc/self/maps with malloc, which a signal handler must not re-enter.
        let _ = crate::stacks::unwind::stack_room();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// Permission to act on one call: the process's settings, and for watching hooks the
/// frame.
pub struct Gate {
    pub process: &'static Process,
    frame: Option<Frame>,
}

impl Gate {
    /// `None`: pass the call through untouched (mode off, an inner frame, or pinguard
    /// could not initialise).
    pub fn enter(scope: Scope, hook: &'static str) -> Option<Gate> {
        let frame = match scope {
            Scope::Watch => Some(Frame::enter()?),
            Scope::Route => None,
        };
        if process::forked_unseen() {
            process::reset_unseen_fork(); // a raw fork's child: its own counts from here
        }
        // The common case costs two loads: initialised, and no report to open.
        let process = match process::ready() {
            Some(p) if !report_file::needs_open() => p,
            _ => first_calls(hook)?,
        };
        if process.settings.mode == Mode::Off {
            return None;
        }
        if scope == Scope::Watch && finish::closing() {
            finish::late_call(hook); // after the summary: counted, not checked
            return None;
        }
        if memory::starved() {
            return starved(scope);
        }
        Some(Gate { process, frame })
    }

    /// This thread's counter block.
    pub fn block(&self) -> &'static counters::Block {
        match &self.frame {
            Some(f) => f.block(),
            None => routed_block(),
        }
    }
}

/// pinguard ran out of memory: the call passes through unchecked, counted, and said
/// once. Routing still answers (no memory needed: the table is static), so that a
/// program's later entry-point lookups keep getting the wrappers that count.
#[cold]
#[inline(never)]
fn starved(scope: Scope) -> Option<Gate> {
    if scope == Scope::Watch {
        counters::add_shared(Counter::Unchecked, 1);
    }
    STARVED_SAID.say(|| {
        format!("{LINE_PREFIX}out of memory for pinguard's own work: from now on calls pass through unchecked (counted as unchecked in the summary); the program runs on as without pinguard")
    });
    None
}

static STARVED_SAID: OnceNote = OnceNote::new();

/// [`Gate::enter`] until pinguard is initialised and its report open: kept out of line,
/// so that the common case does not pay for this path's registers on every call.
#[cold]
#[inline(never)]
fn first_calls(hook: &'static str) -> Option<&'static Process> {
    boundary(hook, || {
        if !PANIC_HOOK.swap(true, Ordering::AcqRel) {
            install_panic_hook();
        }
        let process = process::process()?;
        report_file::open_if_needed(process);
        Some(process)
    })?
}

/// A routing hook's block (no frame of its own): out of line, or LLVM computes the
/// thread-local's address ahead of the branch on every watched copy too (measured: one
/// call to `__tls_get_addr` a copy).
#[inline(never)]
fn routed_block() -> &'static counters::Block {
    counters::mine()
}

/// Whether the panic hook is installed. Not a `Once`: one left running by another
/// thread when the process forks would make the child wait for good; two threads that
/// both see it unset at once install the same hook twice, which is harmless.
static PANIC_HOOK: AtomicBool = AtomicBool::new(false);

/// Hooks that have said their internal-error note (once per hook).
static INTERNAL_ERRORS_SAID: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Runs pinguard's own work; on a panic returns `None` after saying, once per hook, that
/// pinguard passes such calls through unchecked.
pub fn boundary<R>(hook: &'static str, work: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(r) => Some(r),
        Err(_) => {
            let why = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "unknown panic".into());
            // try_lock: a panic is rare; never wait here.
            let first = INTERNAL_ERRORS_SAID.try_lock().is_ok_and(|mut said| {
                let first = !said.contains(&hook);
                if first {
                    said.push(hook);
                }
                first
            });
            if first {
                write_line(&format!(
                    "{LINE_PREFIX}internal error in the {hook} hook ({why}); this call and any other that fails so are passed to CUDA unchecked"
                ));
            }
            None
        }
    }
}

/// Replaces the default panic message (a multi-line report on stderr) with a note kept
/// for `boundary`. This std is pinguard's own copy, so the host program's hook, if it is
/// a Rust program, is untouched.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let _ = LAST_PANIC.try_with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::counters::tests::{registrations, unmasked_registrations};

    /// No per-thread registration that `exit` could trip over (see `prepare_thread`) is
    /// made by pinguard's paths while signals can be delivered: after a thread's first
    /// watched call, its counter block, registry lookups, stack capture and symbolisation
    /// register nothing more, and what the first call registered, it registered with
    /// signals blocked.
    #[test]
    fn per_thread_registrations_happen_with_signals_blocked() {
        let (unmasked, later) = std::thread::spawn(|| {
            let before = unmasked_registrations();
            let frame = Frame::enter().expect("outermost frame");
            drop(frame);
            let unmasked = unmasked_registrations() - before;
            let r = registrations();
            let _ = counters::mine();
            let _ = crate::base::pinned::REGISTRY.lookup(0x1000, 16);
            let _ = crate::base::pinned::REGISTRY.at_base(0x1000);
            let mut st = crate::stacks::stack::Stack::new(16);
            let st = st.capture(true, None);
            let _ = crate::stacks::stack::symbolise(st.ips(), &[]);
            (unmasked, registrations() - r)
        })
        .join()
        .unwrap();
        assert_eq!(unmasked, 0, "a first call registered a thread-local destructor with signals deliverable");
        assert_eq!(later, 0, "a later path registered a thread-local destructor");
        // The check can fail: the registry's root loaded on a fresh thread, unprepared
        // (a release, or a lookup the table cannot answer), does register.
        let unprepared = std::thread::spawn(|| {
            let before = unmasked_registrations();
            let _ = crate::base::pinned::REGISTRY.at_base(0x1000);
            unmasked_registrations() - before
        })
        .join()
        .unwrap();
        assert_eq!(unprepared, 1, "the interposer did not see arc-swap's registration");
    }

    #[test]
    fn only_the_outermost_watching_frame_acts_but_routing_always_does() {
        let outer = Gate::enter(Scope::Watch, "test").expect("outermost frame");
        assert!(Gate::enter(Scope::Watch, "test").is_none(), "an inner watching frame passes through");
        assert!(Gate::enter(Scope::Route, "test").is_some(), "routing acts inside a frame");
        drop(outer);
        assert!(Gate::enter(Scope::Watch, "test").is_some(), "the frame ends with the gate");
    }

    #[test]
    fn a_panic_inside_the_boundary_is_contained_and_said_once() {
        if !PANIC_HOOK.swap(true, Ordering::AcqRel) {
            install_panic_hook();
        }
        let r: Option<u32> = boundary("unit", || panic!("forced for the test"));
        assert_eq!(r, None);
        let said = crate::base::sink::capture::lines_containing("internal error in the unit hook (forced for the test");
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(boundary("unit", || 7), Some(7));
    }
}
