//! The process's pinned ranges, as pinguard saw CUDA pin and release them.

use std::sync::atomic::{AtomicU64, Ordering};

use pinguard_core::registered_granules::RegisteredGranules;
use pinguard_core::registry::PinnedRegistry;

use crate::base::spin::ForkSafeLazy;

/// The pinned ranges of this process. Built on first use, fork-safely: a child forked
/// while another thread built it builds its own (the fork handler resets it).
pub static REGISTRY: ForkSafeLazy<PinnedRegistry> = ForkSafeLazy::new(build_registry);

/// Where the registry's registered ranges lie, by granule: what the program's every
/// `free` asks first (`interpose::releases`). A static, so that the question needs no
/// registry: a process that registers nothing never builds one for its frees.
pub static REGISTERED: RegisteredGranules = RegisteredGranules::new();

fn build_registry() -> PinnedRegistry {
    PinnedRegistry::with_granules(&REGISTERED)
}

/// Host bytes pinned now, through the calls pinguard saw (allocations and registrations
/// less their releases), and the most at once: the summary's `pinned_at_exit` and
/// `pinned_peak`. Atomic adds on the pinning calls only (slow system calls themselves).
static PINNED_NOW: AtomicU64 = AtomicU64::new(0);
static PINNED_PEAK: AtomicU64 = AtomicU64::new(0);

/// A range was pinned.
pub fn note_pinned(bytes: u64) {
    let now = PINNED_NOW.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
    PINNED_PEAK.fetch_max(now, Ordering::Relaxed);
}

/// A range was released.
pub fn note_released(bytes: u64) {
    let _ = PINNED_NOW.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(bytes)));
}

/// (pinned now, the most at once), in bytes.
pub fn pinned_bytes() -> (u64, u64) {
    (PINNED_NOW.load(Ordering::Relaxed), PINNED_PEAK.load(Ordering::Relaxed))
}

/// In a fork child: the parent's pinned memory is not the child's to release.
pub fn reset_in_child() {
    PINNED_NOW.store(0, Ordering::Relaxed);
    PINNED_PEAK.store(0, Ordering::Relaxed);
}
