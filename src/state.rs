//! Process-wide state: settings, the registry, counters, one-time notes, and the exit
//! and fork handlers.
//!
//! Nothing runs at load time. The first hooked call initialises (reads
//! `PINGUARD_OPTIONS`, registers the exit summary and the fork handler); a program that
//! never calls CUDA is never touched.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};

use pinguard_core::registry::PinnedRegistry;
use pinguard_core::report::{LINE_PREFIX, SummaryCounts, render_summary};
use pinguard_core::settings::{OPTIONS_VAR, Settings};

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// The pinned ranges of this process.
pub static REGISTRY: LazyLock<PinnedRegistry> = LazyLock::new(PinnedRegistry::new);

/// Counters for the exit summary (relaxed: each is an independent tally).
pub struct Counters {
    pub checked: AtomicU64,
    pub pageable: AtomicU64,
    pub straddles: AtomicU64,
    pub allowed: AtomicU64,
    pub pinned_unseen: AtomicU64,
    pub unclassified: AtomicU64,
    pub unknown_variants: AtomicU64,
    pub disagreements: AtomicU64,
}

pub static COUNTERS: Counters = Counters {
    checked: AtomicU64::new(0),
    pageable: AtomicU64::new(0),
    straddles: AtomicU64::new(0),
    allowed: AtomicU64::new(0),
    pinned_unseen: AtomicU64::new(0),
    unclassified: AtomicU64::new(0),
    unknown_variants: AtomicU64::new(0),
    disagreements: AtomicU64::new(0),
};

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Driver entry points handed out that pinguard has no wrapper for, as
/// `name@version`, for the summary. Locked only on that rare path and at exit.
static UNKNOWN_VARIANTS: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());

/// Counts a distinct unknown entry point once, however often it is asked for (the
/// dynamic runtime's cudaGetDriverEntryPoint reaches it twice: through our
/// cuGetProcAddress wrapper and through our runtime hook).
/// Keyed by the function's address; shown as `name@version` of the first sighting.
pub fn note_unknown_variant(name: &str, version: i32, function: usize) {
    let Ok(mut seen) = UNKNOWN_VARIANTS.lock() else {
        return;
    };
    if !seen.iter().any(|(f, _)| *f == function) {
        bump(&COUNTERS.unknown_variants);
        let shown = if version > 0 { format!("{name}@{version}") } else { name.to_string() };
        seen.push((function, shown));
    }
}

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
    crate::guard::install_panic_hook();
    // SAFETY: registering handlers with the C library; the handlers are plain extern "C"
    // functions that only touch this module's statics.
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
    let c = SummaryCounts {
        checked: COUNTERS.checked.load(Ordering::Relaxed),
        pageable: COUNTERS.pageable.load(Ordering::Relaxed),
        straddles: COUNTERS.straddles.load(Ordering::Relaxed),
        allowed: COUNTERS.allowed.load(Ordering::Relaxed),
        pinned_unseen: COUNTERS.pinned_unseen.load(Ordering::Relaxed),
        unclassified: COUNTERS.unclassified.load(Ordering::Relaxed),
        unknown_variants: COUNTERS.unknown_variants.load(Ordering::Relaxed),
        disagreements: COUNTERS.disagreements.load(Ordering::Relaxed),
    };
    if c.checked == 0 && c.unknown_variants == 0 {
        return; // the program made no async copy: say nothing
    }
    // try_lock: never wait at exit on a lock a vanished thread may hold.
    let names = UNKNOWN_VARIANTS
        .try_lock()
        .map(|seen| seen.iter().map(|(_, name)| name.as_str()).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    write_line(&render_summary(&c, &names));
}

/// Writes one line to stderr with a single `write(2)`, so concurrent lines never
/// interleave, and nothing is buffered when abort follows.
pub fn write_line(line: &str) {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    let mut rest = &buf[..];
    while !rest.is_empty() {
        // SAFETY: writing an initialised buffer of the given length to fd 2.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return; // stderr closed or broken: a tool must not take the program down for it
        }
        rest = &rest[n as usize..];
    }
}

/// One-time notes, each said once per process.
pub struct Once(AtomicBool);

impl Once {
    pub const fn new() -> Self {
        Once(AtomicBool::new(false))
    }

    /// Writes `line` the first time only.
    pub fn say(&self, line: impl FnOnce() -> String) {
        if !self.0.swap(true, Ordering::Relaxed) {
            write_line(&line());
        }
    }
}

/// For the impossible: glibc without `dlsym`. Says why and aborts.
pub fn fatal(why: &str) -> ! {
    write_line(&format!("{LINE_PREFIX}fatal: {why}"));
    std::process::abort()
}
