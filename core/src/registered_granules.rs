//! `RegisteredGranules`: which 2 MiB granules of the address space hold memory the
//! program registered with `cudaHostRegister` / `cuMemHostRegister`, or lie just before
//! such memory. The question every `free` and `realloc` of the program asks first
//! (issue 28: memory released while still registered), so it must cost one or two loads
//! and nothing when nothing is registered.
//!
//! A count per granule, in a fixed table of [`SLOTS`] slots indexed by the granule's
//! number modulo the table (128 GiB of address space before two granules share a slot:
//! a shared slot only sends a release down the exact path for nothing). A range counts
//! in every granule it covers and in the one before its first: a `free(p)` releases the
//! block that begins at `p`, and a registration may begin a little way into that block
//! (aligned up to a page, say), so a block that begins up to one granule (at least 2 MiB)
//! before a registered range is sent down the exact path too. A slot that ever reaches
//! `u16::MAX` stays there (a range counted in it can no longer be uncounted exactly);
//! again only the fast answer is lost, never a release.
//!
//! Updated by the registry's writes ([`crate::registry::PinnedRegistry`]), under its
//! writer lock; read without any lock. A read racing a write may see the count just
//! before or just after the write: the program's own free racing its own registration.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

/// log2 of the granule: 2 MiB, the size of a huge page.
pub const GRANULE_SHIFT: u32 = 21;
/// Slots in the table (a power of two): 128 KiB of counts, untouched (zero pages of the
/// library's bss) in a process that registers nothing.
pub const SLOTS: usize = 1 << 16;

/// See the module documentation.
pub struct RegisteredGranules {
    /// Ranges counted now: zero makes every question one load.
    ranges: AtomicUsize,
    counts: [AtomicU16; SLOTS],
}

impl Default for RegisteredGranules {
    fn default() -> Self {
        Self::new()
    }
}

impl RegisteredGranules {
    pub const fn new() -> Self {
        RegisteredGranules { ranges: AtomicUsize::new(0), counts: [const { AtomicU16::new(0) }; SLOTS] }
    }

    /// Could a block that begins at `addr` hold registered memory? False is certain;
    /// true sends the caller to the registry for the exact answer.
    #[inline(always)]
    pub fn may_hold(&self, addr: usize) -> bool {
        self.ranges.load(Ordering::Relaxed) != 0
            && self.counts[(addr >> GRANULE_SHIFT) & (SLOTS - 1)].load(Ordering::Relaxed) != 0
    }

    /// Is any range counted now?
    pub fn any(&self) -> bool {
        self.ranges.load(Ordering::Relaxed) != 0
    }

    /// Counts the registered range `[start, end)`.
    pub fn add(&self, start: usize, end: usize) {
        for slot in slots(start, end) {
            let _ = self.counts[slot].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_add(1));
        }
        self.ranges.fetch_add(1, Ordering::Release);
    }

    /// Uncounts `[start, end)`, counted before with [`add`](Self::add).
    pub fn remove(&self, start: usize, end: usize) {
        let _ = self.ranges.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        for slot in slots(start, end) {
            let _ = self.counts[slot]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| (c != 0 && c != u16::MAX).then(|| c - 1));
        }
    }

    /// Forgets every range (before counting the registry's ranges again).
    pub fn clear(&self) {
        self.ranges.store(0, Ordering::Relaxed);
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// The slots `[start, end)` counts in: its granules and the one before, at most one
/// round of the table (each slot once).
fn slots(start: usize, end: usize) -> impl Iterator<Item = usize> {
    let first = (start >> GRANULE_SHIFT).saturating_sub(1);
    let last = (end.max(start + 1) - 1) >> GRANULE_SHIFT;
    let n = (last - first + 1).min(SLOTS);
    (0..n).map(move |i| (first + i) & (SLOTS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: usize = 1 << GRANULE_SHIFT;

    fn boxed() -> Box<RegisteredGranules> {
        // 128 KiB: too much for a test thread's stack to build in place.
        let b: Box<RegisteredGranules> = Box::default();
        b
    }

    #[test]
    fn nothing_registered_holds_nothing() {
        let g = boxed();
        assert!(!g.may_hold(0x7f00_0000_0000));
        assert!(!g.any());
    }

    #[test]
    fn a_range_holds_its_granules_and_the_one_before() {
        let g = boxed();
        let start = 0x7f00_0000_0000 + 3 * G + 4096;
        g.add(start, start + 3 * G);
        assert!(g.may_hold(start));
        assert!(g.may_hold(start + 3 * G - 1));
        assert!(g.may_hold(start - 4096 - 1), "the granule before: a block that begins before the registration");
        assert!(!g.may_hold(start - 4096 - G - 1), "two granules before");
        assert!(!g.may_hold(start + 4 * G), "past its last granule");
        g.remove(start, start + 3 * G);
        assert!(!g.may_hold(start));
        assert!(!g.any());
    }

    #[test]
    fn two_ranges_in_one_granule_need_both_removed() {
        let g = boxed();
        let a = 0x5555_0000_0000;
        g.add(a, a + 4096);
        g.add(a + 8192, a + 12288);
        g.remove(a, a + 4096);
        assert!(g.may_hold(a + 8192));
        g.remove(a + 8192, a + 12288);
        assert!(!g.may_hold(a + 8192));
    }

    #[test]
    fn a_range_larger_than_the_table_counts_each_slot_once() {
        let g = boxed();
        let a = 0x1000_0000_0000;
        let end = a + (SLOTS + 5) * G;
        g.add(a, end);
        assert!(g.counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        g.remove(a, end);
        assert!(g.counts.iter().all(|c| c.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn a_saturated_slot_stays_set() {
        let g = boxed();
        let a = 0x2000_0000_0000;
        for _ in 0..u16::MAX as usize + 3 {
            g.add(a, a + 64);
        }
        for _ in 0..u16::MAX as usize + 3 {
            g.remove(a, a + 64);
        }
        assert!(!g.any());
        g.add(a + 4096, a + 4160);
        assert!(g.may_hold(a), "saturated: kept as possibly holding");
    }
}
