//! Lazy initialisation and the process-wide handlers.
//!
//! Nothing runs at load time. The first hooked call initialises: reads
//! `PINGUARD_OPTIONS`, registers the exit summary and the fork handler. A program that
//! never calls CUDA is never touched.

use std::sync::OnceLock;

use pinguard_core::report::LINE_PREFIX;
use pinguard_core::settings::{OPTIONS_VAR, Settings};

use crate::counters;
use crate::output::write_line;
use crate::pinned::REGISTRY;

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// The settings, initialising pinguard on first use.
pub fn settings() -> &'static Settings {
    SETTINGS.get_or_init(initialise)
}

fn initialise() -> Settings {
    let raw = std::env::var_os(OPTIONS_VAR).map(|v| v.to_string_lossy().into_owned()).unwrap_or_default();
    let (settings, problems) = Settings::parse(&raw);
    for p in problems {
        write_line(&format!("{LINE_PREFIX}{p}"));
    }
    // SAFETY: registering handlers with the C library; the handlers are plain extern "C"
    // functions that only touch pinguard's statics.
    unsafe {
        if settings.summary {
            libc::atexit(print_summary_at_exit);
        }
        libc::pthread_atfork(None, None, Some(after_fork_in_child));
    }
    settings
}

extern "C" fn after_fork_in_child() {
    // The child has one thread; a registry writer that was mid-update in another thread
    // of the parent will never finish here.
    REGISTRY.reset_after_fork();
}

extern "C" fn print_summary_at_exit() {
    let c = counters::snapshot();
    if c.checked == 0 && c.unknown_variants == 0 {
        return; // the program made no async copy: say nothing
    }
    write_line(&c.render(&counters::unknown_variant_names()));
}
