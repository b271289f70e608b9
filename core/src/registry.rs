//! `PinnedRegistry`: the host ranges CUDA has pinned for this process, as pinguard saw
//! them being allocated and registered.
//!
//! Reads happen on every async copy and must never block or allocate; writes happen on
//! `cudaMallocHost`/`cudaHostRegister`/... and their frees, which cost CUDA far more
//! than a copy of this table. So the table is an immutable sorted snapshot swapped
//! atomically (`arc-swap`): readers load the current snapshot without locks, and the
//! rare writers build the next snapshot under a small writer lock.
//!
//! The writer lock is a spin lock rather than `std::sync::Mutex` for one reason: fork.
//! A child forked while another thread held the lock must be able to take it again; the
//! child handler (`reset_after_fork`) releases it, which is sound because a snapshot is
//! always complete: a writer interrupted by fork has published nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;

/// How a pinned range came to be pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinOrigin {
    /// `cudaMallocHost` / `cuMemAllocHost`.
    MallocHost,
    /// `cudaHostAlloc` / `cuMemHostAlloc`.
    HostAlloc,
    /// `cudaHostRegister` / `cuMemHostRegister` on memory the program owns.
    Registered,
}

impl PinOrigin {
    /// The call a user would recognise, for messages.
    pub fn api_hint(self) -> &'static str {
        match self {
            PinOrigin::MallocHost => "cudaMallocHost",
            PinOrigin::HostAlloc => "cudaHostAlloc",
            PinOrigin::Registered => "cudaHostRegister",
        }
    }
}

/// One pinned range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedRange {
    pub start: usize,
    pub end: usize,
    pub origin: PinOrigin,
}

impl PinnedRange {
    /// A range of `len` bytes at `start`; `None` if it is empty or wraps the address space.
    pub fn new(start: usize, len: usize, origin: PinOrigin) -> Option<Self> {
        let end = start.checked_add(len)?;
        (len > 0).then_some(PinnedRange { start, end, origin })
    }

    fn overlaps(&self, start: usize, end: usize) -> bool {
        self.start < end && start < self.end
    }
}

/// Where a host range `[start, end)` lies relative to the pinned ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeLookup {
    /// Wholly inside this pinned range.
    Inside(PinnedRange),
    /// No byte of it is pinned.
    Outside,
    /// Partly inside this pinned range (the first one it meets), partly not.
    Straddles(PinnedRange),
}

/// The registry. See the module documentation for the concurrency design.
/// A pinned range and its generation: which pinning it was.
#[derive(Clone, Copy, Debug)]
struct Entry {
    range: PinnedRange,
    generation: u64,
}

pub struct PinnedRegistry {
    /// Sorted by `start`; ranges never overlap.
    snapshot: ArcSwap<Vec<Entry>>,
    next_generation: AtomicU64,
    writer: AtomicBool,
}

impl Default for PinnedRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl PinnedRegistry {
    pub fn new() -> Self {
        PinnedRegistry {
            snapshot: ArcSwap::from_pointee(Vec::new()),
            next_generation: AtomicU64::new(1),
            writer: AtomicBool::new(false),
        }
    }

    /// Adds a range CUDA just pinned. Any older range overlapping it is dropped: CUDA
    /// does not pin one byte twice, so an overlap means we missed that older range's
    /// release (freed by a path we did not see). Returns how many were dropped.
    pub fn insert(&self, range: PinnedRange) -> usize {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        self.write(|entries| {
            let before = entries.len();
            entries.retain(|e| !e.range.overlaps(range.start, range.end));
            let dropped = before - entries.len();
            let at = entries.partition_point(|e| e.range.start < range.start);
            entries.insert(at, Entry { range, generation });
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
        let current = self.snapshot.load();
        let i = current.binary_search_by_key(&start, |e| e.range.start).ok()?;
        Some((current[i].range, current[i].generation))
    }

    /// Removes the range that starts at `start` if it is still the one of `generation`
    /// (any generation for `None`). A range re-pinned at the same address in between has
    /// another generation and stays.
    pub fn remove_if(&self, start: usize, generation: Option<u64>) -> Option<PinnedRange> {
        // Read first: a free of something we never saw must not cost a rebuild.
        let (_, seen) = self.at_base(start)?;
        if generation.is_some_and(|g| g != seen) {
            return None;
        }
        self.write(|entries| {
            let i = entries.binary_search_by_key(&start, |e| e.range.start).ok()?;
            if generation.is_some_and(|g| g != entries[i].generation) {
                return None;
            }
            Some(entries.remove(i).range)
        })
    }

    /// Classifies the host range `[start, start + len)`, `len >= 1`. Lock-free and
    /// allocation-free: one atomic snapshot load and two binary searches.
    pub fn lookup(&self, start: usize, len: usize) -> RangeLookup {
        let end = start.saturating_add(len.max(1));
        let entries = self.snapshot.load();
        let idx = entries.partition_point(|e| e.range.start <= start);
        if idx > 0 {
            let r = entries[idx - 1].range;
            if start < r.end {
                return if end <= r.end { RangeLookup::Inside(r) } else { RangeLookup::Straddles(r) };
            }
        }
        match entries.get(idx) {
            Some(e) if e.range.start < end => RangeLookup::Straddles(e.range),
            _ => RangeLookup::Outside,
        }
    }

    /// Number of ranges now pinned.
    pub fn len(&self) -> usize {
        self.snapshot.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the current ranges, in address order (for reports and tests).
    pub fn ranges(&self) -> Vec<PinnedRange> {
        self.snapshot.load().iter().map(|e| e.range).collect()
    }

    /// Releases the writer lock in a freshly forked child. Call only from a
    /// `pthread_atfork` child handler, where no other thread exists.
    pub fn reset_after_fork(&self) {
        self.writer.store(false, Ordering::Release);
    }

    fn write<R>(&self, edit: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
        while self.writer.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::thread::yield_now();
        }
        let mut next = self.snapshot.load().as_ref().clone();
        let result = edit(&mut next);
        self.snapshot.store(Arc::new(next));
        self.writer.store(false, Ordering::Release);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(start: usize, len: usize) -> PinnedRange {
        PinnedRange::new(start, len, PinOrigin::MallocHost).unwrap()
    }

    #[test]
    fn interior_pointers_and_edges() {
        let reg = PinnedRegistry::new();
        reg.insert(range(0x1000, 0x1000));
        assert_eq!(reg.lookup(0x1000, 0x1000), RangeLookup::Inside(range(0x1000, 0x1000)));
        assert_eq!(reg.lookup(0x1800, 0x10), RangeLookup::Inside(range(0x1000, 0x1000)));
        assert_eq!(reg.lookup(0x1fff, 1), RangeLookup::Inside(range(0x1000, 0x1000)));
        // one past the end is not pinned (cuda-facts: type 0 for one-past-the-end)
        assert_eq!(reg.lookup(0x2000, 1), RangeLookup::Outside);
        assert_eq!(reg.lookup(0xfff, 1), RangeLookup::Outside);
        assert_eq!(reg.lookup(0x1ff0, 0x20), RangeLookup::Straddles(range(0x1000, 0x1000)));
        assert_eq!(reg.lookup(0xff0, 0x20), RangeLookup::Straddles(range(0x1000, 0x1000)));
        assert_eq!(reg.lookup(0x800, 0x4000), RangeLookup::Straddles(range(0x1000, 0x1000)));
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

    /// The naive model: a list of ranges, searched linearly.
    #[derive(Default)]
    struct Model(Vec<PinnedRange>);

    impl Model {
        fn insert(&mut self, r: PinnedRange) {
            self.0.retain(|x| !x.overlaps(r.start, r.end));
            self.0.push(r);
        }
        fn remove(&mut self, start: usize) -> Option<PinnedRange> {
            let i = self.0.iter().position(|x| x.start == start)?;
            Some(self.0.remove(i))
        }
        fn lookup(&self, start: usize, len: usize) -> RangeLookup {
            let end = start + len;
            let covering: Vec<_> = self.0.iter().filter(|r| r.overlaps(start, end)).collect();
            if covering.is_empty() {
                return RangeLookup::Outside;
            }
            if let Some(r) = covering.iter().find(|r| r.start <= start && end <= r.end) {
                return RangeLookup::Inside(**r);
            }
            // The first pinned range the copy meets: the one containing `start`, else the
            // lowest one starting inside the copy.
            let first =
                covering.iter().find(|r| r.start <= start).or_else(|| covering.iter().min_by_key(|r| r.start)).unwrap();
            RangeLookup::Straddles(**first)
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(usize, usize),
        Remove(usize),
        Lookup(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        // A small address space so that ranges collide often.
        prop_oneof![
            (0usize..64, 1usize..12).prop_map(|(s, l)| Op::Insert(s * 16, l * 16)),
            (0usize..64).prop_map(|s| Op::Remove(s * 16)),
            (0usize..1100, 1usize..300).prop_map(|(s, l)| Op::Lookup(s, l)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn registry_agrees_with_naive_model(ops in proptest::collection::vec(op(), 1..200)) {
            let reg = PinnedRegistry::new();
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Insert(s, l) => {
                        let r = range(s, l);
                        reg.insert(r);
                        model.insert(r);
                    }
                    Op::Remove(s) => prop_assert_eq!(reg.remove(s), model.remove(s)),
                    Op::Lookup(s, l) => prop_assert_eq!(reg.lookup(s, l), model.lookup(s, l)),
                }
                let mut sorted = model.0.clone();
                sorted.sort_by_key(|r| r.start);
                prop_assert_eq!(reg.ranges(), sorted);
            }
        }
    }
}
