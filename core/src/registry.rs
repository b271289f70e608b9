//! `PinnedRegistry`: the host ranges CUDA has pinned for this process, as pinguard saw
//! them being allocated and registered.
//!
//! Reads happen on every async copy and must never block or allocate; writes happen on
//! `cudaMallocHost`/`cudaHostRegister`/... and their frees. The ranges live in a
//! persistent B+tree (`pinned_tree`) whose root is published atomically (`arc-swap`):
//! a reader loads the current root without a lock and walks a tree no writer changes; a
//! writer, under a small writer lock, builds the next root by copying only the nodes on
//! its path (O(log n)) and publishes it.
//!
//! Beside the tree, the same ranges are hashed by the granules they cover
//! (`pinned_table`): a lookup reads one or two lines there instead of descending four
//! levels of the tree, and it needs no root: the table never moves. It is edited in
//! place, so a reader trusts what it read there only if the write count (below) was even
//! and unchanged around its search, a sequence lock; otherwise, or where the table cannot
//! say, the tree answers. The tree stays the registry's record: every write is made to
//! it, and the table is rebuilt in place from it whenever it must grow or shrink, or was
//! cut off by fork mid-write.
//!
//! The writer lock is a spin flag rather than `std::sync::Mutex` for one reason: fork.
//! A child forked while another thread held the lock must be able to take it again; the
//! child handler (`reset_after_fork`) releases it, which is sound because a root is
//! always complete: a writer interrupted by fork has published nothing.
//!
//! Each thread keeps its last few answers ([`LastHit`]: the range, or the gap between
//! ranges, that a lookup landed in) with the registry's write count at that time. A copy
//! loop that reuses its buffer, or cycles through a few (double buffering, a small pool of
//! pinned staging buffers), is then answered by one load of the write count and a few
//! comparisons; any write since makes every kept answer stale, and the tree answers.
//!
//! Under the `model` feature the root cell and the lock are built on `shuttle`'s
//! primitives, so that `tests/model_release.rs` can explore every interleaving of the
//! release protocol against this very code.

use std::sync::Arc;

pub use crate::pinned_range::{PinOrigin, PinnedRange};
use crate::pinned_table::{PinnedTable, Probe};
use crate::pinned_tree::{self, Entry, Node};
use crate::registered_granules::RegisteredGranules;
use sync::{AtomicU64, Ordering, RootCell, WriterLock, fence};

/// Gives each registry an identity that is never reused (a kept answer names its registry).
static NEXT_REGISTRY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// An answer a thread keeps: `[lo, hi)` is the pinned range a lookup started in
/// (`origin` set) or the gap between ranges it started in (`origin` unset), valid while
/// the registry `id` has made no write since its write count read `writes`. Whole words
/// only (`PinOrigin` is one, and `None` takes a value it never has): copies of a struct
/// with padding compile to overlapping partial moves whose loads stall, which once
/// tripled the cost of a kept answer.
#[derive(Clone, Copy)]
struct LastHit {
    id: u64,
    writes: u64,
    lo: usize,
    hi: usize,
    origin: Option<PinOrigin>,
}

impl LastHit {
    /// Whether this answer holds for `start` in registry `id` at write count `writes`.
    #[inline(always)]
    fn answers(&self, id: u64, writes: u64, start: usize) -> bool {
        self.id == id && self.writes == writes && self.lo <= start && start < self.hi
    }

    /// The answer kept: the range (`lo`, `hi` are its bounds), or `None` for a gap.
    fn entry(&self) -> Option<PinnedRange> {
        self.origin.map(|origin| PinnedRange { start: self.lo, end: self.hi, origin })
    }
}

const NO_HIT: LastHit = LastHit { id: 0, writes: 0, lo: 0, hi: 0, origin: None };

/// Answers a thread keeps: enough for double and triple buffering.
const KEPT: usize = 4;

/// A thread's kept answers: `last` is the one that answered (or was kept) last, probed
/// first; `next` is the one the next tree answer replaces (in turn).
struct Kept {
    hits: [std::cell::Cell<LastHit>; KEPT],
    last: std::cell::Cell<usize>,
    next: std::cell::Cell<usize>,
}

impl Kept {
    const fn new() -> Kept {
        Kept {
            hits: [const { std::cell::Cell::new(NO_HIT) }; KEPT],
            last: std::cell::Cell::new(0),
            next: std::cell::Cell::new(0),
        }
    }

    /// The kept answer at `slot`, if it is registry `id`'s at write count `writes` and
    /// its range or gap holds `start`.
    #[inline(always)]
    fn at(&self, slot: usize, id: u64, writes: u64, start: usize) -> Option<Option<PinnedRange>> {
        let h = self.hits[slot].get();
        h.answers(id, writes, start).then(|| h.entry())
    }
}

#[cfg(not(feature = "model"))]
std::thread_local! {
    static KEPT_ANSWERS: Kept = const { Kept::new() };
}
#[cfg(feature = "model")]
shuttle::thread_local! {
    static KEPT_ANSWERS: Kept = Kept::new();
}

/// Where a host range `[start, end)` lies relative to the pinned ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeLookup {
    /// Wholly inside this pinned range.
    Inside(PinnedRange),
    /// Its first byte is not in any pinned range. Later bytes may be: CUDA decides by the
    /// first byte and runs such a copy as pageable (measured on an H100, CUDA 13.0: a copy
    /// that starts in pageable memory and runs into or over a registered range returns
    /// success).
    Outside,
    /// Starts inside this pinned range and runs past its end: CUDA rejects such a copy
    /// with invalid value (measured, and documented as unsupported).
    Straddles(PinnedRange),
}

/// The registry. See the module documentation for the concurrency design.
pub struct PinnedRegistry {
    root: RootCell,
    next_generation: AtomicU64,
    writer: WriterLock,
    id: u64,
    /// Writes begun and ended, two per write: odd while a write is in progress.
    writes: AtomicU64,
    /// The ranges of the current tree, hashed; edited only while `writes` is odd.
    table: PinnedTable,
    /// Where registered ranges (`PinOrigin::Registered`) lie, for the release hooks'
    /// first question; kept in step by every write (none in tests that need none).
    granules: Option<&'static RegisteredGranules>,
}

/// The published state: a tree and its size.
struct Tree {
    root: Arc<Node>,
    len: usize,
}

/// A write in progress: the next tree, and the table edited to match it.
struct Write<'a> {
    tree: Tree,
    table: &'a PinnedTable,
    granules: Option<&'static RegisteredGranules>,
    /// Set by an edit the table could not take in place (no room, too empty, or cut
    /// off): the write rebuilds it from the tree before it ends.
    rebuild_table: bool,
}

impl Default for PinnedRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl PinnedRegistry {
    pub fn new() -> Self {
        PinnedRegistry {
            root: RootCell::new(Arc::new(Tree { root: Node::empty(), len: 0 })),
            next_generation: AtomicU64::new(1),
            writer: WriterLock::new(),
            id: NEXT_REGISTRY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            writes: AtomicU64::new(0),
            table: PinnedTable::new(),
            granules: None,
        }
    }

    /// A registry that keeps `granules` in step with its registered ranges.
    pub fn with_granules(granules: &'static RegisteredGranules) -> Self {
        PinnedRegistry { granules: Some(granules), ..Self::new() }
    }

    /// The first registered range (`PinOrigin::Registered`) that overlaps `[lo, hi)`,
    /// with its generation: what a release of `[lo, hi)` would take from under the
    /// driver. Lock-free and allocation-free (one root load, a descent per range passed).
    pub fn registered_overlapping(&self, lo: usize, hi: usize) -> Option<(PinnedRange, u64)> {
        let tree = self.root.load();
        let mut next = pinned_tree::floor(&tree.root, lo)
            .filter(|e| e.range().end > lo)
            .or_else(|| pinned_tree::higher(&tree.root, lo));
        while let Some(e) = next {
            let r = e.range();
            if r.start >= hi {
                return None;
            }
            if r.origin == PinOrigin::Registered {
                return Some((r, e.generation()));
            }
            next = pinned_tree::higher(&tree.root, r.start);
        }
        None
    }

    /// Adds a range CUDA just pinned. Any older range overlapping it is dropped: CUDA
    /// does not pin one byte twice, so an overlap means we missed that older range's
    /// release (freed by a path we did not see). Returns how many were dropped.
    pub fn insert(&self, range: PinnedRange) -> usize {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        self.write(|w| {
            let mut dropped = 0;
            while let Some(old) = pinned_tree::floor(&w.tree.root, range.start).filter(|e| e.end > range.start) {
                w.remove(old.start);
                dropped += 1;
            }
            while let Some(old) = pinned_tree::higher(&w.tree.root, range.start).filter(|e| e.start < range.end) {
                w.remove(old.start);
                dropped += 1;
            }
            w.add(range, generation);
            dropped
        })
    }

    /// Removes the range that starts at `start` (CUDA frees and unregisters by base
    /// pointer). Returns it, or `None` if no range starts there.
    pub fn remove(&self, start: usize) -> Option<PinnedRange> {
        self.remove_if(start, None)
    }

    /// The range that starts at `start` and its generation: a release notes it before
    /// calling CUDA and removes exactly that one ([`remove_if`](Self::remove_if)) once
    /// CUDA has accepted the release.
    pub fn at_base(&self, start: usize) -> Option<(PinnedRange, u64)> {
        let tree = self.root.load();
        pinned_tree::get(&tree.root, start).map(|e| (e.range(), e.generation()))
    }

    /// Removes the range that starts at `start` if it is still the one of `generation`
    /// (any generation for `None`). A range re-pinned at the same address in between has
    /// another generation and stays.
    pub fn remove_if(&self, start: usize, generation: Option<u64>) -> Option<PinnedRange> {
        // Read first: a free of something we never saw must not cost a write.
        let (_, seen) = self.at_base(start)?;
        if generation.is_some_and(|g| g != seen) {
            return None;
        }
        self.write(|w| {
            let e = pinned_tree::get(&w.tree.root, start)?;
            if generation.is_some_and(|g| g != e.generation()) {
                return None;
            }
            w.remove(start).map(|e| e.range())
        })
    }

    /// Classifies the host range `[start, start + len)`, `len >= 1`, by the pinned range
    /// that holds its first byte. Lock-free and allocation-free: an answer this thread
    /// kept, if no write came since and `start` lies where it did, else a search of the
    /// hashed table (one or two lines), else (a write ran through that search, or the
    /// table cannot say) one atomic root load and one descent of the tree.
    pub fn lookup(&self, start: usize, len: usize) -> RangeLookup {
        let end = start.saturating_add(len.max(1));
        let writes = self.writes.load(Ordering::Acquire);
        // The table's line is asked for before the kept answers are tested: if none
        // answers, its miss has overlapped their tests (only for a table too big for
        // the cache: a small one pays the hash for nothing). On the development
        // machine, interleaved: random lookups among 100 000 ranges 0.85 to 0.97 times
        // as long, one lookup's latency 0.92 to 0.98, misses 0.84 to 0.87; asking only
        // after the last kept answer failed kept the stream's gain and lost the
        // latency's. On the GPU host (docs/benchmarks.md, 22:39 and 22:50): 0.81x,
        // 0.78x and 0.47x in one run, but no difference the next, where the same build
        // moved by 1.5x between two processes.
        self.table.prefetch(start);
        // The last kept answer first, tested as plain comparisons of one copied
        // struct: a loop over one buffer runs only this. (Written as a nested `Option`
        // returned from a helper, it compiled to set-and-branch chains and a jump out of
        // line that cost 2.4 times as much on the development machine.)
        let last = KEPT_ANSWERS.with(|k| k.hits[k.last.get() % KEPT].get());
        let hit = if last.answers(self.id, writes, start) { last.entry() } else { self.other_answer(start, writes) };
        match hit {
            Some(range) if end <= range.end => RangeLookup::Inside(range),
            Some(range) => RangeLookup::Straddles(range),
            None => RangeLookup::Outside,
        }
    }

    /// Another of this thread's kept answers for `start` (buffers used in turn), if one is
    /// valid, else a fresh lookup.
    #[inline(always)]
    fn other_answer(&self, start: usize, writes: u64) -> Option<PinnedRange> {
        let kept = KEPT_ANSWERS.with(|k| {
            let last = k.last.get() % KEPT;
            (0..KEPT).filter(|&slot| slot != last).find_map(|slot| {
                let hit = k.at(slot, self.id, writes, start)?;
                k.last.set(slot);
                Some(hit)
            })
        });
        match kept {
            Some(hit) => hit,
            None => self.lookup_fresh(start, writes),
        }
    }

    /// The range that holds `start` (`None`: a gap), from the table if it can say and
    /// no write ran during its search, else from the tree; kept as one of this thread's
    /// answers if no write ran meanwhile (`writes`, read before the root, is even and
    /// unchanged after).
    #[inline(never)]
    fn lookup_fresh(&self, start: usize, writes: u64) -> Option<PinnedRange> {
        if writes.is_multiple_of(2) {
            #[cfg(test)]
            tests::BEFORE_SEARCH.with(|hook| hook.get().map(|f| f(self)));
            let probe = self.table.find(start);
            // The table's words were read with relaxed loads: this fence orders them
            // before the second read of the count (the writer's fence orders its odd
            // count before its edits), so an unchanged even count means no edit was read.
            fence(Ordering::Acquire);
            if self.writes.load(Ordering::Relaxed) == writes {
                let (lo, hi, entry) = match probe {
                    Probe::Found(r) => (r.start, r.end, Some(r)),
                    Probe::Gap(lo, hi) => (lo, hi, None),
                    Probe::Unknown => return self.search_tree(start, writes),
                };
                self.keep(writes, lo, hi, entry);
                return entry;
            }
        }
        self.search_tree(start, writes)
    }

    /// The tree's answer for `start`, kept as [`lookup_fresh`](Self::lookup_fresh)
    /// says.
    fn search_tree(&self, start: usize, writes: u64) -> Option<PinnedRange> {
        let tree = self.root.load();
        let (below, next) = pinned_tree::floor_and_next(&tree.root, start);
        let (lo, hi, entry) = match below {
            Some(e) if start < e.end => (e.start, e.end, Some(e.range())),
            _ => (below.map(|e| e.end).unwrap_or(0), next, None),
        };
        drop(tree);
        if writes.is_multiple_of(2) && self.writes.load(Ordering::Acquire) == writes {
            self.keep(writes, lo, hi, entry);
        }
        entry
    }

    /// Keeps `[lo, hi)` (the range `entry`, or a gap) as this thread's newest answer,
    /// valid at write count `writes`.
    fn keep(&self, writes: u64, lo: usize, hi: usize, entry: Option<PinnedRange>) {
        KEPT_ANSWERS.with(|k| {
            let slot = k.next.get();
            k.hits[slot].set(LastHit { id: self.id, writes, lo, hi, origin: entry.map(|r| r.origin) });
            k.last.set(slot);
            k.next.set((slot + 1) % KEPT);
        });
    }

    /// Number of ranges now pinned.
    pub fn len(&self) -> usize {
        self.root.load().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the current ranges, in address order (for reports and tests).
    pub fn ranges(&self) -> Vec<PinnedRange> {
        self.root.load().ranges()
    }

    /// The tree's height and node count (memory figures).
    pub fn shape(&self) -> (usize, usize) {
        pinned_tree::shape(&self.root.load().root)
    }

    /// The bytes the hashed table uses, those it reserves, and those of its reservation
    /// that came from the allocator (memory figures).
    pub fn table_bytes(&self) -> (usize, usize, usize) {
        (self.table.bytes(), self.table.bytes_reserved(), self.table.bytes_allocated())
    }

    /// The current tree's root (a reference to it: the tree stays whole while it is
    /// held), for benchmarks that search the very nodes a lookup searches.
    pub fn current_root(&self) -> Arc<Node> {
        self.root.load().root.clone()
    }

    /// Releases the writer lock in a freshly forked child. Call only from a
    /// `pthread_atfork` child handler, where no other thread exists.
    pub fn reset_after_fork(&self) {
        self.writer.reset_after_fork();
        // A write cut off by fork left the count odd: even it, past every kept answer.
        // Its edits to the table may be half done: the table answers nothing until the
        // next write rebuilds it from the tree (whole: the cut write published nothing).
        let writes = self.writes.load(Ordering::Relaxed);
        if writes % 2 == 1 {
            self.table.mark_cut_off();
            // The granules too may be half counted: count the published ranges again.
            if let Some(g) = self.granules {
                g.clear();
                for r in self.root.load().ranges().iter().filter(|r| r.origin == PinOrigin::Registered) {
                    g.add(r.start, r.end);
                }
            }
        }
        self.writes.store((writes + 2) & !1, Ordering::Release);
    }

    fn write<R>(&self, edit: impl FnOnce(&mut Write) -> R) -> R {
        let _held = self.writer.lock();
        let current = self.root.load();
        let mut next = Write {
            tree: Tree { root: current.root.clone(), len: current.len },
            table: &self.table,
            granules: self.granules,
            rebuild_table: !self.table.is_whole(),
        };
        drop(current);
        // Odd before the table is edited in place or the new root is visible: a reader
        // then reads a changed count and trusts and keeps nothing it read; even again
        // (and new) once the root is published. The fence keeps the edits after the odd
        // count.
        let writes = self.writes.load(Ordering::Relaxed);
        self.writes.store(writes + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let result = edit(&mut next);
        if next.rebuild_table {
            self.table.rebuild(&next.tree.ranges());
        }
        self.root.store(Arc::new(next.tree));
        self.writes.store(writes + 2, Ordering::Release);
        result
    }
}

impl Tree {
    /// Its ranges, in address order.
    fn ranges(&self) -> Vec<PinnedRange> {
        let mut out = Vec::with_capacity(self.len);
        pinned_tree::for_each(&self.root, &mut |e| out.push(e.range()));
        out
    }
}

impl Write<'_> {
    /// Removes the range that starts at `start` from the tree, and from the table.
    fn remove(&mut self, start: usize) -> Option<Entry> {
        let (root, e) = pinned_tree::remove(&self.tree.root, start)?;
        self.tree.root = root;
        self.tree.len -= 1;
        let r = e.range();
        if let Some(g) = self.granules.filter(|_| r.origin == PinOrigin::Registered) {
            g.remove(r.start, r.end);
        }
        if !self.rebuild_table {
            self.table.remove(e.range());
            self.rebuild_table = self.table.too_empty();
        }
        Some(e)
    }

    /// Adds `range` (which overlaps none) to the tree, and to the table in place if it
    /// has room; else the write rebuilds the table from the tree.
    fn add(&mut self, range: PinnedRange, generation: u64) {
        self.tree.root = pinned_tree::insert(&self.tree.root, Entry::new(range, generation));
        self.tree.len += 1;
        if let Some(g) = self.granules.filter(|_| range.origin == PinOrigin::Registered) {
            g.add(range.start, range.end);
        }
        if !self.rebuild_table && self.table.has_room_for(&range) {
            self.table.add(range);
        } else {
            self.rebuild_table = true;
        }
    }
}

/// The two synchronisation points of the registry, real or modelled.
#[cfg(not(feature = "model"))]
mod sync {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    pub use std::sync::atomic::{AtomicU64, Ordering, fence};

    /// The writer lock: a spin flag a fork child can release.
    pub struct WriterLock(AtomicBool);

    pub struct Held<'a>(&'a AtomicBool);

    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }

    impl WriterLock {
        pub fn new() -> Self {
            WriterLock(AtomicBool::new(false))
        }
        pub fn lock(&self) -> Held<'_> {
            while self.0.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
                std::hint::spin_loop();
                std::thread::yield_now();
            }
            Held(&self.0)
        }
        pub fn reset_after_fork(&self) {
            self.0.store(false, Ordering::Release);
        }
    }

    /// The published root: `arc-swap`, lock-free reads.
    pub struct RootCell(arc_swap::ArcSwap<super::Tree>);

    impl RootCell {
        pub fn new(t: Arc<super::Tree>) -> Self {
            RootCell(arc_swap::ArcSwap::new(t))
        }
        pub fn load(&self) -> arc_swap::Guard<Arc<super::Tree>> {
            self.0.load()
        }
        pub fn store(&self, t: Arc<super::Tree>) {
            self.0.store(t)
        }
    }
}

/// Under `model`: shuttle's primitives, so its scheduler sees every synchronisation.
#[cfg(feature = "model")]
mod sync {
    pub use shuttle::sync::atomic::{AtomicU64, Ordering, fence};
    use std::sync::Arc;

    /// The writer lock as a blocking mutex: the model explores who gets it first, not
    /// how long the loser spins (a spin loop has no end under exhaustive search).
    pub struct WriterLock(shuttle::sync::Mutex<()>);

    impl WriterLock {
        pub fn new() -> Self {
            WriterLock(shuttle::sync::Mutex::new(()))
        }
        pub fn lock(&self) -> shuttle::sync::MutexGuard<'_, ()> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
        pub fn reset_after_fork(&self) {}
    }

    /// The root as one atomic word (one scheduling point per load or store). Replaced
    /// roots are leaked: a model run is short, and no reader can then outlive its root.
    pub struct RootCell(shuttle::sync::atomic::AtomicUsize);

    impl RootCell {
        pub fn new(t: Arc<super::Tree>) -> Self {
            RootCell(shuttle::sync::atomic::AtomicUsize::new(Arc::into_raw(t) as usize))
        }
        pub fn load(&self) -> Arc<super::Tree> {
            let p = self.0.load(Ordering::Acquire) as *const super::Tree;
            // SAFETY: p came from Arc::into_raw and is never released (leaked above);
            // taking a new reference keeps the count balanced.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        }
        pub fn store(&self, t: Arc<super::Tree>) {
            self.0.store(Arc::into_raw(t) as usize, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(start: usize, len: usize) -> PinnedRange {
        PinnedRange::new(start, len, PinOrigin::MallocHost).unwrap()
    }

    fn registered(start: usize, len: usize) -> PinnedRange {
        PinnedRange::new(start, len, PinOrigin::Registered).unwrap()
    }

    /// A registry with granules of its own (leaked: the registry wants them `'static`).
    fn watching() -> (PinnedRegistry, &'static RegisteredGranules) {
        let g: &'static RegisteredGranules = Box::leak(Box::default());
        (PinnedRegistry::with_granules(g), g)
    }

    #[test]
    fn registered_overlapping_passes_over_allocations() {
        let reg = PinnedRegistry::new();
        reg.insert(range(0x1000, 0x1000));
        reg.insert(registered(0x3000, 0x1000));
        reg.insert(range(0x5000, 0x1000));
        assert_eq!(reg.registered_overlapping(0x1000, 0x2000), None, "an allocation is not registered memory");
        assert_eq!(reg.registered_overlapping(0x1800, 0x3001).map(|(r, _)| r), Some(registered(0x3000, 0x1000)));
        assert_eq!(reg.registered_overlapping(0x3fff, 0x4000).map(|(r, _)| r), Some(registered(0x3000, 0x1000)));
        assert_eq!(reg.registered_overlapping(0x2000, 0x3000), None, "ends where it begins");
        assert_eq!(reg.registered_overlapping(0x4000, 0x9000), None);
        let (_, generation) = reg.registered_overlapping(0x3000, 0x3001).unwrap();
        assert_eq!(reg.at_base(0x3000).map(|(_, g)| g), Some(generation));
    }

    #[test]
    fn granules_follow_every_write() {
        let (reg, g) = watching();
        let a = 0x7f00_0000_0000usize;
        reg.insert(range(a, 0x1000));
        assert!(!g.may_hold(a), "an allocation is not counted");
        reg.insert(registered(a + 0x10_0000, 0x1000));
        assert!(g.may_hold(a + 0x10_0000));
        // Registered again over it (its release unseen): the old range leaves, the new counts.
        reg.insert(registered(a + 0x10_0000, 0x2000));
        reg.remove(a + 0x10_0000);
        assert!(!g.may_hold(a + 0x10_0000), "each range uncounted once it leaves");
        assert!(!g.any());
    }

    #[test]
    fn a_write_cut_off_by_fork_recounts_the_granules() {
        let (reg, g) = watching();
        let a = 0x7e00_0000_0000usize;
        reg.insert(registered(a, 0x1000));
        // A write that fork cut off after counting a range it never published.
        reg.writes.fetch_add(1, Ordering::Relaxed);
        g.add(a + (64 << 21), a + (64 << 21) + 1);
        reg.reset_after_fork();
        assert!(g.may_hold(a));
        assert!(!g.may_hold(a + (64 << 21)), "the unpublished range is not counted");
    }

    /// A kept answer has no padding: its origin, set or not, is a whole word.
    #[test]
    fn a_kept_answer_is_whole_words() {
        assert_eq!(std::mem::size_of::<Option<PinOrigin>>(), 8);
        assert_eq!(std::mem::size_of::<LastHit>(), 5 * 8);
    }

    #[test]
    fn interior_pointers_and_edges() {
        let reg = PinnedRegistry::new();
        reg.insert(range(0x1000, 0x1000));
        assert_eq!(reg.lookup(0x1000, 0x1000), RangeLookup::Inside(range(0x1000, 0x1000)));
        assert_eq!(reg.lookup(0x1800, 0x10), RangeLookup::Inside(range(0x1000, 0x1000)));
        assert_eq!(reg.lookup(0x1fff, 1), RangeLookup::Inside(range(0x1000, 0x1000)));
        // one past the end is not pinned (docs/cuda-facts.md: type 0 for one-past-the-end)
        assert_eq!(reg.lookup(0x2000, 1), RangeLookup::Outside);
        assert_eq!(reg.lookup(0xfff, 1), RangeLookup::Outside);
        assert_eq!(reg.lookup(0x1ff0, 0x20), RangeLookup::Straddles(range(0x1000, 0x1000)));
        // Starting before it: CUDA runs the copy as pageable, and so does the lookup.
        assert_eq!(reg.lookup(0xff0, 0x20), RangeLookup::Outside);
        assert_eq!(reg.lookup(0x800, 0x4000), RangeLookup::Outside);
    }

    #[test]
    fn remove_needs_the_base_pointer() {
        let reg = PinnedRegistry::new();
        reg.insert(range(0x1000, 0x1000));
        assert_eq!(reg.remove(0x1800), None);
        assert_eq!(reg.remove(0x1000), Some(range(0x1000, 0x1000)));
        assert_eq!(reg.lookup(0x1000, 1), RangeLookup::Outside);
        assert!(reg.is_empty());
    }

    #[test]
    fn overlapping_insert_drops_stale_ranges() {
        let reg = PinnedRegistry::new();
        reg.insert(range(0x1000, 0x1000));
        reg.insert(range(0x3000, 0x1000));
        assert_eq!(reg.insert(range(0x1800, 0x2000)), 2);
        assert_eq!(reg.ranges(), vec![range(0x1800, 0x2000)]);
    }

    #[test]
    fn empty_and_wrapping_ranges_are_refused() {
        assert!(PinnedRange::new(0x1000, 0, PinOrigin::Registered).is_none());
        assert!(PinnedRange::new(usize::MAX - 1, 4, PinOrigin::Registered).is_none());
    }

    #[test]
    fn readers_see_whole_snapshots_while_writers_churn() {
        let reg = Arc::new(PinnedRegistry::new());
        reg.insert(range(0x10_0000, 0x1000)); // a range that always stays
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let reg = reg.clone();
                std::thread::spawn(move || {
                    for i in 0..2000usize {
                        let start = 0x100_0000 + (w * 4096 + i % 64) * 0x2000;
                        reg.insert(range(start, 0x1000));
                        reg.remove(start);
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let reg = reg.clone();
                std::thread::spawn(move || {
                    for _ in 0..20000 {
                        assert!(matches!(reg.lookup(0x10_0800, 16), RangeLookup::Inside(_)));
                    }
                })
            })
            .collect();
        for t in writers.into_iter().chain(readers) {
            t.join().unwrap();
        }
        assert_eq!(reg.ranges(), vec![range(0x10_0000, 0x1000)]);
    }

    /// Readers of ranges that always stay, while writers pin and release ranges beside
    /// them in the same buckets: the table's entries are moved back into holes, and the
    /// table is rebuilt as it grows and shrinks, under the readers' searches. A reader
    /// must never trust a search that a write ran through (it then could miss a range).
    #[test]
    fn readers_never_trust_a_table_edited_under_them() {
        let reg = Arc::new(PinnedRegistry::new());
        let stay: Vec<usize> = (0..48).map(|i| 0x4000_0000 + i * 0x3000).collect();
        for &s in &stay {
            reg.insert(range(s, 0x1000));
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (reg, stop) = (reg.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut x = 1 + w as u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        // Up to 200 ranges between the ones that stay, then all released.
                        let mut mine = Vec::new();
                        for _ in 0..200 {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                            let at = 0x4000_0000 + ((x >> 33) as usize % 48) * 0x3000 + 0x1000 + w * 0x1000;
                            reg.insert(range(at, 0x800));
                            mine.push(at);
                        }
                        for at in mine {
                            reg.remove(at);
                        }
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (reg, stay) = (reg.clone(), stay.clone());
                std::thread::spawn(move || {
                    for i in 0..300_000usize {
                        let s = stay[(i * 7 + r) % stay.len()];
                        assert_eq!(reg.lookup(s + 0x10, 0x10), RangeLookup::Inside(range(s, 0x1000)), "at {s:#x}");
                    }
                })
            })
            .collect();
        for t in readers {
            t.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in writers {
            t.join().unwrap();
        }
    }

    thread_local! {
        /// Called by a lookup between its first read of the write count and its search of
        /// the table: where a writer running beside it would make its search unsafe.
        pub(super) static BEFORE_SEARCH: std::cell::Cell<Option<fn(&PinnedRegistry)>> =
            const { std::cell::Cell::new(None) };
    }

    /// A write that begins while a reader searches the table (here: an edit half made,
    /// a range in the table that the tree does not have) is seen by the reader's second
    /// read of the write count, and the tree answers instead.
    #[test]
    fn a_search_that_a_write_ran_through_is_not_trusted() {
        let reg = PinnedRegistry::new();
        reg.insert(range(0x10_0000, 0x1000));
        fn half_a_write(reg: &PinnedRegistry) {
            reg.writes.fetch_add(1, Ordering::Relaxed);
            reg.table.add(range(0x20_0000, 0x1000));
        }
        BEFORE_SEARCH.with(|hook| hook.set(Some(half_a_write)));
        let seen = reg.lookup(0x20_0010, 16);
        BEFORE_SEARCH.with(|hook| hook.set(None));
        assert_eq!(seen, RangeLookup::Outside);
        // Nor is anything kept from it: the range is not in the tree, and never was.
        assert_eq!(reg.lookup(0x20_0010, 16), RangeLookup::Outside);
    }

    /// The table cannot hold every range (one ending at 2^60 or above, one longer than
    /// 16 TiB): the tree answers for them, hits and misses alike.
    #[test]
    fn ranges_the_table_cannot_hold_are_answered_by_the_tree() {
        // Each alone with an ordinary range: one range left out makes every miss go to
        // the tree, which would hide a wrong answer for the other.
        let top = 1usize << 60;
        for odd in [range(top - 0x1000, 0x1000), range(0x1000_0000_0000, (1 << 44) + 1)] {
            let reg = PinnedRegistry::new();
            reg.insert(odd);
            reg.insert(range(0x10_0000, 0x1000));
            assert_eq!(reg.lookup(odd.start + 0x100, 0x10), RangeLookup::Inside(odd));
            assert_eq!(reg.lookup(odd.end - 1, 1), RangeLookup::Inside(odd));
            assert_eq!(reg.lookup(0x10_0010, 0x10), RangeLookup::Inside(range(0x10_0000, 0x1000)));
            assert_eq!(reg.lookup(0x20_0000, 0x10), RangeLookup::Outside);
            assert_eq!(reg.lookup(odd.start - 1, 1), RangeLookup::Outside);
        }
    }

    /// A write cut off by fork may leave the table half-edited: the child's lookups then
    /// come from the tree until its next write rebuilds the table.
    #[test]
    fn a_table_cut_off_by_fork_answers_nothing_until_rebuilt() {
        let reg = PinnedRegistry::new();
        reg.insert(range(0x10_0000, 0x1000));
        // A write cut off by fork: the count odd, the table edited, the root not published.
        reg.writes.fetch_add(1, Ordering::Relaxed);
        reg.table.add(range(0x20_0000, 0x1000));
        reg.reset_after_fork();
        assert!(!reg.table.is_whole());
        assert_eq!(reg.lookup(0x20_0010, 16), RangeLookup::Outside);
        assert_eq!(reg.lookup(0x10_0010, 16), RangeLookup::Inside(range(0x10_0000, 0x1000)));
        reg.insert(range(0x30_0000, 0x1000));
        let table = &reg.table;
        assert!(table.is_whole());
        assert_eq!(table.find(0x20_0010), Probe::Gap(0x20_0000, 0x20_1000));
        assert_eq!(table.find(0x30_0010), Probe::Found(range(0x30_0000, 0x1000)));
        assert_eq!(reg.lookup(0x30_0010, 16), RangeLookup::Inside(range(0x30_0000, 0x1000)));
    }

    /// A thread's kept answer is used only while no write came since, by this thread or
    /// another, and only for the registry that gave it.
    #[test]
    fn a_kept_answer_never_outlives_a_write() {
        let reg = Arc::new(PinnedRegistry::new());
        reg.insert(range(0x1000, 0x1000));
        for _ in 0..2 {
            assert_eq!(reg.lookup(0x1800, 16), RangeLookup::Inside(range(0x1000, 0x1000)));
        }
        reg.remove(0x1000);
        for _ in 0..2 {
            assert_eq!(reg.lookup(0x1800, 16), RangeLookup::Outside);
        }
        reg.insert(range(0x1800, 0x100));
        assert_eq!(reg.lookup(0x1800, 0x10), RangeLookup::Inside(range(0x1800, 0x100)));
        assert_eq!(reg.lookup(0x1810, 0x200), RangeLookup::Straddles(range(0x1800, 0x100)));
        let other_thread = reg.clone();
        std::thread::spawn(move || other_thread.remove(0x1800)).join().unwrap();
        assert_eq!(reg.lookup(0x1810, 0x10), RangeLookup::Outside);
        // Two registries with the same write count: neither answers from the other's.
        let (a, b) = (PinnedRegistry::new(), PinnedRegistry::new());
        a.insert(range(0x1800, 0x100));
        b.insert(range(0x1000, 0x2000));
        assert_eq!(a.lookup(0x1810, 0x10), RangeLookup::Inside(range(0x1800, 0x100)));
        assert_eq!(b.lookup(0x1810, 0x10), RangeLookup::Inside(range(0x1000, 0x2000)));
        assert_eq!(a.lookup(0x1810, 0x10), RangeLookup::Inside(range(0x1800, 0x100)));
    }

    /// A reader on another thread sees each write once it is ordered before its lookup:
    /// told (through a channel) that a range is gone, it never calls it pinned again,
    /// though its kept answer said pinned.
    #[test]
    fn a_reader_told_of_a_write_never_answers_from_before_it() {
        let reg = Arc::new(PinnedRegistry::new());
        let (tell, told) = std::sync::mpsc::channel::<(usize, bool)>();
        let (ack, acked) = std::sync::mpsc::channel::<()>();
        let reader = {
            let reg = reg.clone();
            std::thread::spawn(move || {
                for (start, pinned) in told {
                    for _ in 0..3 {
                        let inside = matches!(reg.lookup(start + 8, 8), RangeLookup::Inside(_));
                        assert_eq!(inside, pinned, "{start:#x}");
                    }
                    ack.send(()).unwrap();
                }
            })
        };
        for i in 0..2000usize {
            let start = 0x10_0000 + (i % 7) * 0x1000;
            reg.insert(range(start, 0x100));
            tell.send((start, true)).unwrap();
            acked.recv().unwrap();
            reg.remove(start);
            tell.send((start, false)).unwrap();
            acked.recv().unwrap();
        }
        drop(tell);
        reader.join().unwrap();
    }

    /// The naive model: a list of ranges, searched linearly.
    #[derive(Default)]
    struct Model(Vec<PinnedRange>);

    impl Model {
        fn insert(&mut self, r: PinnedRange) {
            self.insert_counting(r);
        }
        fn insert_counting(&mut self, r: PinnedRange) -> usize {
            let before = self.0.len();
            self.0.retain(|x| !x.overlaps(r.start, r.end));
            let dropped = before - self.0.len();
            self.0.push(r);
            dropped
        }
        fn remove(&mut self, start: usize) -> Option<PinnedRange> {
            let i = self.0.iter().position(|x| x.start == start)?;
            Some(self.0.remove(i))
        }
        fn lookup(&self, start: usize, len: usize) -> RangeLookup {
            let end = start + len;
            // The range holding the first byte decides.
            match self.0.iter().find(|r| r.overlaps(start, start + 1)) {
                None => RangeLookup::Outside,
                Some(r) if end <= r.end => RangeLookup::Inside(*r),
                Some(r) => RangeLookup::Straddles(*r),
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(usize, usize),
        Remove(usize),
        Lookup(usize, usize),
        /// A lookup near the last one: where a kept answer is used.
        Near(usize, usize),
        /// A lookup near the one `back` lookups ago: where an older kept answer is used
        /// (buffers used in turn).
        Back(usize, usize, usize),
    }

    /// The address and length a lookup op asks about: a fresh one (kept in `history`), or
    /// one near a lookup made before.
    fn where_to_look(op: &Op, history: &mut Vec<usize>) -> (usize, usize) {
        match *op {
            Op::Lookup(s, l) => {
                history.push(s);
                (s, l)
            }
            Op::Near(d, l) => (history[history.len() - 1] + d, l),
            Op::Back(back, d, l) => (history[history.len().saturating_sub(back)] + d, l),
            Op::Insert(..) | Op::Remove(_) => unreachable!("not a lookup"),
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        // A small address space so that ranges collide often.
        prop_oneof![
            (0usize..64, 1usize..12).prop_map(|(s, l)| Op::Insert(s * 16, l * 16)),
            (0usize..64).prop_map(|s| Op::Remove(s * 16)),
            (0usize..1100, 1usize..300).prop_map(|(s, l)| Op::Lookup(s, l)),
            (0usize..40, 1usize..300).prop_map(|(d, l)| Op::Near(d, l)),
            (1usize..7, 0usize..40, 1usize..300).prop_map(|(b, d, l)| Op::Back(b, d, l)),
        ]
    }

    fn op_wide() -> impl Strategy<Value = Op> {
        // A wider space and longer runs: trees several levels deep, splits and merges.
        prop_oneof![
            3 => (0usize..2048, 1usize..6).prop_map(|(s, l)| Op::Insert(s * 16, l * 16)),
            2 => (0usize..2048).prop_map(|s| Op::Remove(s * 16)),
            3 => (0usize..33000, 1usize..200).prop_map(|(s, l)| Op::Lookup(s, l)),
            2 => (0usize..40, 1usize..200).prop_map(|(d, l)| Op::Near(d, l)),
            2 => (1usize..7, 0usize..40, 1usize..200).prop_map(|(b, d, l)| Op::Back(b, d, l)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn deep_trees_agree_with_the_naive_model(ops in proptest::collection::vec(op_wide(), 200..1500)) {
            let reg = PinnedRegistry::new();
            let mut model = Model::default();
            let mut history = vec![0];
            for op in ops {
                match op {
                    Op::Insert(s, l) => {
                        let r = range(s, l);
                        prop_assert_eq!(reg.insert(r), model.insert_counting(r));
                    }
                    Op::Remove(s) => prop_assert_eq!(reg.remove(s), model.remove(s)),
                    lookup => {
                        let (at, l) = where_to_look(&lookup, &mut history);
                        prop_assert_eq!(reg.lookup(at, l), model.lookup(at, l));
                    }
                }
            }
            let mut sorted = model.0.clone();
            sorted.sort_by_key(|r| r.start);
            prop_assert_eq!(reg.len(), sorted.len());
            prop_assert_eq!(reg.ranges(), sorted);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn registry_agrees_with_naive_model(ops in proptest::collection::vec(op(), 1..200)) {
            let reg = PinnedRegistry::new();
            let mut model = Model::default();
            let mut history = vec![0];
            for op in ops {
                match op {
                    Op::Insert(s, l) => {
                        let r = range(s, l);
                        reg.insert(r);
                        model.insert(r);
                    }
                    Op::Remove(s) => prop_assert_eq!(reg.remove(s), model.remove(s)),
                    lookup => {
                        let (at, l) = where_to_look(&lookup, &mut history);
                        prop_assert_eq!(reg.lookup(at, l), model.lookup(at, l));
                    }
                }
                let mut sorted = model.0.clone();
                sorted.sort_by_key(|r| r.start);
                prop_assert_eq!(reg.ranges(), sorted);
            }
        }
    }
}
