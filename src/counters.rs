//! The process's summary counters (declared once, in `pinguard_core::summary`), and the
//! list of unknown driver entry points shown beside their count.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use pinguard_core::summary::{Counter, SummaryCounts};

static COUNTS: [AtomicU64; Counter::COUNT] = [const { AtomicU64::new(0) }; Counter::COUNT];

/// Counts one event (relaxed: each counter is an independent tally).
pub fn bump(c: Counter) {
    COUNTS[c as usize].fetch_add(1, Ordering::Relaxed);
}

/// The counts so far.
pub fn snapshot() -> SummaryCounts {
    let mut s = SummaryCounts::default();
    for &c in Counter::ALL {
        s.add(c, COUNTS[c as usize].load(Ordering::Relaxed));
    }
    s
}

/// Driver entry points handed out that pinguard has no wrapper for, as `name@version`,
/// keyed by the function's address. Locked only on that rare path and at exit.
static UNKNOWN_VARIANTS: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());

/// Counts a distinct unknown entry point once, however often it is asked for (the
/// dynamic runtime's cudaGetDriverEntryPoint reaches it twice: through our
/// cuGetProcAddress wrapper and through our runtime hook).
pub fn note_unknown_variant(name: &str, version: i64, function: usize) {
    let Ok(mut seen) = UNKNOWN_VARIANTS.lock() else {
        return;
    };
    if !seen.iter().any(|(f, _)| *f == function) {
        bump(Counter::UnknownVariants);
        let shown = if version > 0 { format!("{name}@{version}") } else { name.to_string() };
        seen.push((function, shown));
    }
}

/// The unknown entry points' names, joined; empty if the list is busy (never wait at
/// exit on a lock a vanished thread may hold).
pub fn unknown_variant_names() -> String {
    UNKNOWN_VARIANTS
        .try_lock()
        .map(|seen| seen.iter().map(|(_, name)| name.as_str()).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}
