//! Two guards every hook runs inside.
//!
//! - [`Frame`]: a thread-local "inside pinguard" flag. Only the outermost pinguard frame
//!   on a thread classifies and reports; a runtime hook whose real function reaches our driver
//!   wrapper on the same thread (dynamic runtime -> driver) reports once.
//! - [`boundary`]: catches a panic in pinguard's own code so it never crosses the FFI
//!   boundary; the hook then falls back to the real function and says why, once.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};

use pinguard_core::report::LINE_PREFIX;

use crate::state::Once;

thread_local! {
    static IN_FRAME: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The outermost pinguard frame on this thread; dropping it leaves pinguard.
pub struct Frame(());

impl Frame {
    /// `Some` for the outermost frame on this thread, `None` inside another one (whose
    /// hook then just calls the real function).
    pub fn enter() -> Option<Frame> {
        IN_FRAME.with(|inside| (!inside.replace(true)).then_some(Frame(())))
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        IN_FRAME.with(|inside| inside.set(false));
    }
}

static INTERNAL_ERROR: Once = Once::new();

/// Runs pinguard's own work; on a panic returns `None` after saying, once, that
/// pinguard passes calls through from here on where it failed.
pub fn boundary<R>(hook: &str, work: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(r) => Some(r),
        Err(_) => {
            let why = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "unknown panic".into());
            INTERNAL_ERROR.say(|| {
                format!(
                    "{LINE_PREFIX}internal error in the {hook} hook ({why}); this call and any other that fails so are passed to CUDA unchecked"
                )
            });
            None
        }
    }
}

/// Replaces the default panic message (a multi-line report on stderr) with a note kept
/// for `boundary`. This std is pinguard's own copy, so the host program's hook, if it is
/// a Rust program, is untouched.
pub fn install_panic_hook() {
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
