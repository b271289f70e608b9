//! `PinnedTable`: the pinned ranges hashed by the granules they cover, so that a lookup
//! is one or two memory accesses instead of a search down a tree (a random lookup among
//! 100 000 ranges took 89 ns by the tree on the GPU host, where no comparison search of
//! that size was measured under 73 ns; a hashed bound took 5.8 ns, or 45 ns when each
//! lookup waits for the one before).
//!
//! **Granules.** Level `L` cuts the address space into granules of `2^(12 + 4L)` bytes
//! (4 KiB, 64 KiB, 1 MiB, ... 16 TiB). A range goes to the smallest level whose granule
//! is at least as long as it is, so it covers one or two granules there, and it has one
//! entry for each. A lookup of address `k` probes, at each level that holds any range,
//! the granule holding `k`. Every range that touches `k`'s 4 KiB page is then seen: it
//! touches the granule holding that page at its own level, so it has an entry there.
//!
//! **Entries and buckets.** An entry is 16 bytes: the range's start, and its end with
//! the origin and "this is its second granule" in the top bits. Four entries make a
//! bucket, one cache line. A granule's home bucket is a hash of it; an entry lies in the
//! first bucket from its home with room, so a search reads buckets from the home until
//! it has read one that is not full. A removal keeps that true by moving a later entry
//! back into the hole (every entry's home can be computed from the entry).
//!
//! **An entry answers by containment**, not by key: whatever entry a search reads, if its
//! range holds `k` it is the one range that does (pinned ranges never overlap). So a
//! search needs no keys, and a miss can say how far the gap around `k` reaches within
//! its page, from the ranges it read.
//!
//! **Threads.** This module knows nothing of them beyond using atomics for every word:
//! `PinnedRegistry` edits a table in place only under its writer lock and while its write
//! count is odd, and a reader trusts an answer only if the count was even and unchanged
//! around the search (a sequence lock). A torn read is then harmless: it is thrown away.
//! A table that would grow past 85% full (or shrink under 20%) is rebuilt in place, from
//! the registry's tree, within one write.
//!
//! **Memory.** The buckets live in one reservation made when the table is, which never
//! moves and is freed only with the table, so a reader needs no protection against a
//! table freed under it: what it reads is always a live atomic word (a reader of a
//! shared, reference-counted table would pay an atomic read-modify-write a lookup, which
//! measured a third of a lookup's cost). The reservation is an anonymous private mapping
//! of its own (`mmap`, `MAP_NORESERVE`), not the program's allocator, so only the
//! buckets in use are ever touched, whatever allocator the program runs with (`calloc`
//! would do as much for glibc's large blocks, but not under `MALLOC_PERTURB_`, and
//! other allocators promise nothing): a table of 100 buckets costs 100 lines of memory,
//! however large its reservation. Where the mapping is refused (an address-space
//! limit), a small reservation from the allocator takes its place. A table that
//! outgrows its reservation answers nothing (the tree does) until removals let it fit
//! again.
//!
//! Ranges that fit no level (longer than 16 TiB, or ending at or above `2^60`) are left out
//! and counted; while any is left out, a miss here proves nothing and the tree answers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use crate::pinned_range::{PinOrigin, PinnedRange};

/// The smallest granule: a 4 KiB page (`2^12`).
const PAGE_BITS: u32 = 12;
/// Each level's granule is `2^4` times the one below.
const LEVEL_STEP: u32 = 4;
/// Levels 0 to 8: granules from 4 KiB to 16 TiB.
const LEVELS: usize = 9;
/// Entries in a bucket (a bucket is one 64-byte line).
const SLOTS: usize = 4;
/// Ends at or above this are left out: the top bits of the end word hold the origin and the
/// second-granule flag.
const END_LIMIT: usize = 1 << 60;
const ORIGIN_SHIFT: u32 = 60;
const SECOND: usize = 1 << 62;
/// A table is rebuilt when an addition would fill more than 85% of its slots, and made
/// 68% full, so the rebuilds are a constant cost per write on average.
const FULLEST: f64 = 0.85;
const REBUILT: f64 = 0.68;
/// ... and rebuilt smaller when a removal leaves fewer than 20% of its slots used.
const EMPTIEST: f64 = 0.20;
/// The fewest buckets a table uses (16 entries, 256 bytes).
const MIN_BUCKETS: usize = 4;
/// The buckets a registry's table reserves: 64 MiB of address space (touched only as far
/// as used), about 2.7 million ranges at most.
pub const RESERVED_BUCKETS: usize = 1 << 20;
/// Words in a bucket: `[start, end word]` for each of its [`SLOTS`] entries; an end word
/// of 0 is an empty slot (no pinned range ends at 0).
const WORDS: usize = 2 * SLOTS;

/// Buckets in use from which a lookup asks for its line ahead ([`PinnedTable::prefetch`]):
/// 8192 buckets of 64 bytes, 512 KiB, about what a core's L2 keeps beside the program.
const PREFETCH_FROM_BUCKETS: usize = 8192;

/// What a search found for an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The range that holds it.
    Found(PinnedRange),
    /// No range holds it, and none touches `[lo, hi)` (within its page), which holds it.
    Gap(usize, usize),
    /// The table cannot say (a range left out, an address above the ranges it holds, or
    /// a search cut short by a torn read): ask the tree.
    Unknown,
}

/// Zeroed words that never move: a mapping of their own where the kernel grants one,
/// else an allocation.
enum Words {
    Mapped(*mut AtomicUsize, usize),
    Allocated(Box<[AtomicUsize]>),
}

// SAFETY: the words are atomics, which any thread may read and write; the mapping is
// owned by this value alone and unmapped only when it is dropped.
unsafe impl Send for Words {}
// SAFETY: as above: shared access is access to atomics only.
unsafe impl Sync for Words {}

impl Words {
    /// `n` zeroed words, mapped if the kernel allows.
    fn zeroed(n: usize) -> Words {
        let bytes = n * std::mem::size_of::<AtomicUsize>();
        // SAFETY: an anonymous private mapping with no address hint touches nothing of
        // ours; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            return Words::Mapped(p.cast(), n);
        }
        Self::allocated(n.min(FALLBACK_WORDS))
    }

    /// `n` zeroed words from the allocator.
    fn allocated(n: usize) -> Words {
        let zeroed: Box<[usize]> = vec![0usize; n].into_boxed_slice();
        // SAFETY: `AtomicUsize` has the same size, alignment and bit validity as `usize`
        // (its documentation says so), so a boxed slice of one is a boxed slice of the
        // other, with the same length and allocation.
        Words::Allocated(unsafe { Box::from_raw(Box::into_raw(zeroed) as *mut [AtomicUsize]) })
    }

    fn as_slice(&self) -> &[AtomicUsize] {
        match self {
            // SAFETY: the mapping holds `n` words, zero-filled by the kernel (a valid
            // `AtomicUsize` each), page-aligned, and lives as long as `self`.
            Words::Mapped(p, n) => unsafe { std::slice::from_raw_parts(*p, *n) },
            Words::Allocated(b) => b,
        }
    }
}

impl Drop for Words {
    fn drop(&mut self) {
        if let Words::Mapped(p, n) = *self {
            // SAFETY: the mapping made in `zeroed`, of this length; no reference into it
            // outlives `self`.
            unsafe { libc::munmap(p.cast(), n * std::mem::size_of::<AtomicUsize>()) };
        }
    }
}

/// Words of the reservation that takes the mapping's place where it is refused: 4 096
/// buckets (256 KiB), about 11 000 ranges.
const FALLBACK_WORDS: usize = 4096 * WORDS + WORDS;

/// See the module documentation.
pub struct PinnedTable {
    /// The reservation: `reserved` buckets of [`WORDS`] words from `offset` (where the
    /// first bucket starts a cache line).
    words: Words,
    offset: usize,
    /// The address of the first bucket (the words never move): for prefetches, which
    /// need no slice.
    first_bucket: usize,
    reserved: usize,
    /// Buckets in use, from the first.
    buckets: AtomicUsize,
    /// Entries held (a range has one or two).
    entries: AtomicUsize,
    /// Ranges held, by level; `levels` has bit `L` set while `per_level[L] > 0`.
    per_level: [AtomicUsize; LEVELS],
    levels: AtomicUsize,
    /// Ranges left out (fit no level).
    left_out: AtomicUsize,
    /// Cleared when a write to this table was cut off (by fork), so that it may be
    /// half-edited, or when its ranges do not fit in its reservation: it then answers
    /// nothing until it is rebuilt.
    whole: AtomicBool,
}

/// The level a range `[start, end)` goes to, if any fits it.
fn level_of(start: usize, end: usize) -> Option<usize> {
    // An end of END_LIMIT itself would read back as 0 through the end mask.
    if end >= END_LIMIT {
        return None;
    }
    let len = end - start;
    (0..LEVELS).find(|&l| len <= 1usize << shift(l))
}

/// Adds `n` to a counter only the writer changes (under the registry's writer lock), with
/// a load and a store instead of a locked add; returns the old value. A rebuild at
/// 100 000 ranges makes three such changes a range.
fn bump(counter: &AtomicUsize, n: usize) -> usize {
    let old = counter.load(Relaxed);
    counter.store(old + n, Relaxed);
    old
}

/// Takes `n` from a counter only the writer changes (as [`bump`]); returns the old value.
fn drop_by(counter: &AtomicUsize, n: usize) -> usize {
    let old = counter.load(Relaxed);
    counter.store(old - n, Relaxed);
    old
}

/// The home bucket of granule `g` of `level` among `nb` buckets: a multiplicative hash,
/// its high bits scaled to the bucket count (always below `nb`).
#[inline(always)]
fn home_among(g: usize, level: usize, nb: usize) -> usize {
    let h = (g ^ (level << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((h as u128 * nb as u128) >> 64) as usize
}

fn shift(level: usize) -> u32 {
    PAGE_BITS + LEVEL_STEP * level as u32
}

/// The granules `[first, last]` of `level` that `[start, end)` covers (one or two).
fn granules(start: usize, end: usize, level: usize) -> (usize, usize) {
    (start >> shift(level), (end - 1) >> shift(level))
}

/// The end word of an entry of `r`: its end, its origin, and whether this entry is for
/// its second granule.
fn end_word(r: &PinnedRange, second: bool) -> usize {
    r.end | (r.origin.bits() as usize) << ORIGIN_SHIFT | if second { SECOND } else { 0 }
}

impl PinnedTable {
    /// An empty table of the fewest buckets, reserving [`RESERVED_BUCKETS`].
    pub fn new() -> PinnedTable {
        let table = Self::reserving(RESERVED_BUCKETS);
        table.buckets.store(MIN_BUCKETS, Relaxed);
        table
    }

    /// An empty table of `n` buckets, all in use, reserving no more (tests use few, so
    /// that entries collide).
    pub fn with_buckets(n: usize) -> PinnedTable {
        Self::reserving(n.max(1))
    }

    fn reserving(reserved: usize) -> PinnedTable {
        // A line's worth more, to align the first bucket where the words are allocated.
        Self::on(Words::zeroed(reserved * WORDS + WORDS), reserved)
    }

    /// A table of at most `reserved` buckets on `words`, all in use.
    fn on(words: Words, reserved: usize) -> PinnedTable {
        let misalign = (words.as_slice().as_ptr() as usize / std::mem::size_of::<usize>()) % WORDS;
        let offset = (WORDS - misalign) % WORDS;
        let reserved = reserved.min((words.as_slice().len() - offset) / WORDS);
        let first_bucket = words.as_slice()[offset..].as_ptr() as usize;
        PinnedTable {
            words,
            offset,
            first_bucket,
            reserved,
            buckets: AtomicUsize::new(reserved),
            entries: AtomicUsize::new(0),
            per_level: std::array::from_fn(|_| AtomicUsize::new(0)),
            levels: AtomicUsize::new(0),
            left_out: AtomicUsize::new(0),
            whole: AtomicBool::new(true),
        }
    }

    /// Empties the table and fills it with `ranges` (disjoint), using enough buckets to
    /// be [`REBUILT`] full; if they would not fit in the reservation, leaves it empty and
    /// answering nothing. Same conditions as [`add`](Self::add).
    pub fn rebuild(&self, ranges: &[PinnedRange]) {
        for w in &self.words.as_slice()[self.offset..self.offset + self.nb() * WORDS] {
            w.store(0, Relaxed);
        }
        self.entries.store(0, Relaxed);
        self.left_out.store(0, Relaxed);
        self.levels.store(0, Relaxed);
        self.per_level.iter().for_each(|n| n.store(0, Relaxed));
        let entries: usize = ranges.iter().map(Self::entries_of).sum();
        let buckets = ((entries as f64 / (REBUILT * SLOTS as f64)).ceil() as usize).max(MIN_BUCKETS);
        if buckets > self.reserved {
            self.buckets.store(self.reserved.min(MIN_BUCKETS), Relaxed);
            self.whole.store(false, Relaxed);
            return;
        }
        self.buckets.store(buckets, Relaxed);
        for r in ranges {
            self.add(*r);
        }
        self.whole.store(true, Relaxed);
    }

    /// The entries range `r` takes (0 if it is left out).
    fn entries_of(r: &PinnedRange) -> usize {
        level_of(r.start, r.end).map_or(0, |l| {
            let (first, last) = granules(r.start, r.end, l);
            last - first + 1
        })
    }

    /// Whether `r` can be added without passing [`FULLEST`]; if not, the table must be
    /// rebuilt (with [`rebuild`](Self::rebuild)) to take it.
    pub fn has_room_for(&self, r: &PinnedRange) -> bool {
        let after = self.entries.load(Relaxed) + Self::entries_of(r);
        after as f64 <= FULLEST * self.slots() as f64
    }

    /// Whether, after a removal, the table is so empty that it should be rebuilt smaller.
    pub fn too_empty(&self) -> bool {
        self.nb() > MIN_BUCKETS && (self.entries.load(Relaxed) as f64) < EMPTIEST * self.slots() as f64
    }

    /// Whether the table may answer (no write to it was cut off).
    pub fn is_whole(&self) -> bool {
        self.whole.load(Relaxed)
    }

    /// Marks the table as possibly half-edited (a write to it cut off by fork).
    pub fn mark_cut_off(&self) {
        self.whole.store(false, Relaxed);
    }

    /// Bytes of its reservation in use, the memory it takes (memory figures).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.nb() * WORDS * std::mem::size_of::<usize>()
    }

    /// Bytes it reserves (of address space; only those in use are touched).
    pub fn bytes_reserved(&self) -> usize {
        std::mem::size_of_val(self.words.as_slice())
    }

    /// Of those, the bytes taken from the allocator (0 where the reservation is mapped).
    pub fn bytes_allocated(&self) -> usize {
        if matches!(self.words, Words::Allocated(_)) { self.bytes_reserved() } else { 0 }
    }

    fn slots(&self) -> usize {
        self.nb() * SLOTS
    }

    /// Buckets in use.
    #[inline(always)]
    fn nb(&self) -> usize {
        self.buckets.load(Relaxed)
    }

    /// The words of bucket `b`.
    #[inline(always)]
    fn bucket(&self, b: usize) -> &[AtomicUsize] {
        let at = self.offset + b * WORDS;
        &self.words.as_slice()[at..at + WORDS]
    }

    /// The home bucket of granule `g` of `level` (the writer's view: only the writer
    /// changes the count; a search uses [`home_among`] with the one count it read).
    #[inline(always)]
    fn home(&self, g: usize, level: usize) -> usize {
        home_among(g, level, self.nb())
    }

    #[inline(always)]
    fn after(&self, b: usize) -> usize {
        if b + 1 == self.nb() { 0 } else { b + 1 }
    }

    /// The home bucket of the entry `(start, word)`.
    fn home_of_entry(&self, start: usize, word: usize) -> usize {
        let end = word & (END_LIMIT - 1);
        let level = level_of(start, end).expect("a held entry fits a level");
        let g = (start >> shift(level)) + usize::from(word & SECOND != 0);
        self.home(g, level)
    }

    /// Adds `r`, which overlaps no range held. Call only under the registry's writer lock
    /// with its write count odd, and with room ([`has_room_for`](Self::has_room_for)).
    pub fn add(&self, r: PinnedRange) {
        let Some(level) = level_of(r.start, r.end) else {
            bump(&self.left_out, 1);
            return;
        };
        let (first, last) = granules(r.start, r.end, level);
        for g in first..=last {
            let word = end_word(&r, g != first);
            let free = self.first_slot_from(self.home(g, level), |_, w| w == 0);
            let (b, s) = free.expect("a range added to the table has room in it");
            self.bucket(b)[2 * s].store(r.start, Relaxed);
            self.bucket(b)[2 * s + 1].store(word, Relaxed);
        }
        bump(&self.entries, last - first + 1);
        if bump(&self.per_level[level], 1) == 0 {
            self.levels.store(self.levels.load(Relaxed) | 1 << level, Relaxed);
        }
    }

    /// Removes `r`, which is held (as added). Same conditions as [`add`](Self::add).
    pub fn remove(&self, r: PinnedRange) {
        let Some(level) = level_of(r.start, r.end) else {
            drop_by(&self.left_out, 1);
            return;
        };
        let (first, last) = granules(r.start, r.end, level);
        for g in first..=last {
            let want = end_word(&r, g != first);
            let found = self.first_slot_from(self.home(g, level), |start, w| start == r.start && w == want);
            let (b, s) = found.expect("a range removed from the table was held in it");
            self.empty_slot(b, s);
        }
        drop_by(&self.entries, last - first + 1);
        if drop_by(&self.per_level[level], 1) == 1 {
            self.levels.store(self.levels.load(Relaxed) & !(1 << level), Relaxed);
        }
    }

    /// The first slot `(bucket, slot)`, in search order from bucket `home`, whose
    /// `(start, end word)` satisfies `pick`. Writer side only (the count cannot change).
    fn first_slot_from(&self, home: usize, pick: impl Fn(usize, usize) -> bool) -> Option<(usize, usize)> {
        let mut b = home;
        (0..self.nb()).find_map(|_| {
            let here = b;
            b = self.after(b);
            let bucket = self.bucket(here);
            (0..SLOTS).find(|&s| pick(bucket[2 * s].load(Relaxed), bucket[2 * s + 1].load(Relaxed))).map(|s| (here, s))
        })
    }

    /// Empties slot `s` of bucket `b`, then fills the hole with a later entry whose search
    /// passes through `b` (it would stop at `b`, no longer full, and miss it), and so on
    /// for the hole that move leaves, until no later entry needs it.
    fn empty_slot(&self, mut b: usize, mut s: usize) {
        let n = self.nb();
        self.bucket(b)[2 * s + 1].store(0, Relaxed);
        self.bucket(b)[2 * s].store(0, Relaxed);
        'hole: loop {
            let mut c = self.after(b);
            for _ in 1..n {
                let mut full = true;
                for t in 0..SLOTS {
                    let word = self.bucket(c)[2 * t + 1].load(Relaxed);
                    if word == 0 {
                        full = false;
                        continue;
                    }
                    let start = self.bucket(c)[2 * t].load(Relaxed);
                    let home = self.home_of_entry(start, word);
                    // Its search runs home, home + 1, ..., c; the hole is on it if it
                    // is no nearer to c than home.
                    if (c + n - home) % n >= (c + n - b) % n {
                        self.bucket(b)[2 * s].store(start, Relaxed);
                        self.bucket(b)[2 * s + 1].store(word, Relaxed);
                        self.bucket(c)[2 * t + 1].store(0, Relaxed);
                        self.bucket(c)[2 * t].store(0, Relaxed);
                        (b, s) = (c, t);
                        continue 'hole;
                    }
                }
                if !full {
                    return;
                }
                c = self.after(c);
            }
            return;
        }
    }

    /// Asks for the line of `k`'s home bucket at the lowest level in use: a hint, which
    /// reads nothing and cannot fault, so that a lookup that tests its kept answers first
    /// finds the line on its way if they do not answer.
    #[inline(always)]
    pub fn prefetch(&self, k: usize) {
        let levels = self.levels.load(Relaxed);
        if levels == 0 {
            return;
        }
        let nb = self.nb();
        if nb < PREFETCH_FROM_BUCKETS {
            return; // a table this small stays in the cache
        }
        let level = levels.trailing_zeros() as usize;
        let b = home_among(k >> shift(level), level, nb);
        let line = self.first_bucket + b * WORDS * std::mem::size_of::<AtomicUsize>();
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch only hints the cache and never faults; nothing is read
        // through `line` (bucket `b` of those in use, within the reservation).
        unsafe {
            std::arch::x86_64::_mm_prefetch(line as *const i8, std::arch::x86_64::_MM_HINT_T0)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = line;
    }

    /// What the table says of address `k`. Lock-free and allocation-free; the answer is
    /// to be trusted only as the module documentation says.
    #[inline]
    pub fn find(&self, k: usize) -> Probe {
        if k >= END_LIMIT || !self.whole.load(Relaxed) {
            return Probe::Unknown;
        }
        let page = k & !((1 << PAGE_BITS) - 1);
        let (mut lo, mut hi) = (page, page + (1 << PAGE_BITS));
        // The bucket count read once: a rebuild beside this search may change it, and
        // every index must stay below one count (all counts stay within the
        // reservation), or the search could run past the buckets.
        let nb = self.nb();
        let mut levels = self.levels.load(Relaxed);
        while levels != 0 {
            let level = levels.trailing_zeros() as usize;
            levels &= levels - 1;
            let mut b = home_among(k >> shift(level), level, nb);
            let mut searched = 0;
            loop {
                let bucket = self.bucket(b);
                let mut full = true;
                for s in 0..SLOTS {
                    let word = bucket[2 * s + 1].load(Relaxed);
                    let start = bucket[2 * s].load(Relaxed);
                    let end = word & (END_LIMIT - 1);
                    if word == 0 {
                        full = false;
                    } else if start <= k && k < end {
                        return Probe::Found(PinnedRange {
                            start,
                            end,
                            origin: PinOrigin::from_bits((word >> ORIGIN_SHIFT) as u64),
                        });
                    } else if end <= k {
                        lo = lo.max(end);
                    } else {
                        hi = hi.min(start);
                    }
                }
                searched += 1;
                if !full {
                    break;
                }
                if searched == nb {
                    // Every bucket full: only a torn read shows that.
                    return Probe::Unknown;
                }
                b = if b + 1 == nb { 0 } else { b + 1 };
            }
        }
        if self.left_out.load(Relaxed) != 0 {
            return Probe::Unknown;
        }
        Probe::Gap(lo, hi)
    }
}

impl Default for PinnedTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(start: usize, len: usize) -> PinnedRange {
        PinnedRange::new(start, len, PinOrigin::Registered).unwrap()
    }

    /// What the table must say of `k`, given the ranges held: the range holding it, or a
    /// gap within its page that holds it and touches no range.
    fn check(table: &PinnedTable, held: &[PinnedRange], k: usize) {
        let holding = held.iter().find(|r| r.start <= k && k < r.end).copied();
        match table.find(k) {
            Probe::Found(r) => assert_eq!(Some(r), holding, "at {k:#x}"),
            Probe::Gap(lo, hi) => {
                assert_eq!(holding, None, "at {k:#x}: a gap, but {holding:?} holds it");
                assert!(lo <= k && k < hi, "at {k:#x}: the gap [{lo:#x}, {hi:#x}) misses it");
                assert!(k >> PAGE_BITS == lo >> PAGE_BITS && k >> PAGE_BITS == (hi - 1) >> PAGE_BITS);
                for r in held {
                    assert!(r.end <= lo || hi <= r.start, "at {k:#x}: the gap [{lo:#x}, {hi:#x}) touches {r:?}");
                }
            }
            Probe::Unknown => panic!("at {k:#x}: unknown, with nothing left out"),
        }
    }

    #[test]
    fn levels_and_granules() {
        assert_eq!(level_of(0x1000, 0x2000), Some(0));
        assert_eq!(level_of(0x1000, 0x2001), Some(1));
        assert_eq!(level_of(0, 1 << 16), Some(1));
        assert_eq!(level_of(0, (1 << 16) + 1), Some(2));
        assert_eq!(level_of(0, 1 << 44), Some(8));
        assert_eq!(level_of(0, (1 << 44) + 1), None);
        assert_eq!(level_of(END_LIMIT - 16, END_LIMIT - 8), Some(0));
        assert_eq!(level_of(END_LIMIT - 8, END_LIMIT), None, "an end that reads back as 0");
        assert_eq!(granules(0x1800, 0x2800, 0), (1, 2));
        assert_eq!(granules(0x1000, 0x2000, 0), (1, 1));
        assert_eq!(PinnedTable::entries_of(&range(0x1800, 0x1000)), 2);
        let table = PinnedTable::new();
        assert_eq!((table.bucket(0).as_ptr() as usize) % 64, 0, "a bucket starts a line");
        assert_eq!(table.bytes_reserved(), (RESERVED_BUCKETS + 1) * 64);
    }

    /// Where the mapping is refused, the table lives in an allocation: smaller, its first
    /// bucket still on a line of its own, and a table that outgrows it answers nothing
    /// rather than something wrong.
    #[test]
    fn a_table_in_an_allocation_works_within_it() {
        let table = PinnedTable::on(Words::allocated(FALLBACK_WORDS), RESERVED_BUCKETS);
        table.buckets.store(MIN_BUCKETS, Relaxed);
        assert!(matches!(table.words, Words::Allocated(_)));
        assert_eq!((table.bucket(0).as_ptr() as usize) % 64, 0, "a bucket starts a line");
        assert!(table.reserved <= 4096, "{} buckets in {FALLBACK_WORDS} words", table.reserved);
        let some: Vec<PinnedRange> = (0..100).map(|i| range(0x10_0000 + i * 0x2000, 0x1000)).collect();
        table.rebuild(&some);
        assert!(table.is_whole());
        for r in &some {
            check(&table, &some, r.start);
            check(&table, &some, r.end);
        }
        let too_many: Vec<PinnedRange> = (0..20_000).map(|i| range(0x10_0000 + i * 0x2000, 0x1000)).collect();
        table.rebuild(&too_many);
        assert!(!table.is_whole());
        assert_eq!(table.find(0x10_0010), Probe::Unknown);
    }

    /// A range left out makes every miss unknown, never a gap; a hit is still a hit.
    #[test]
    fn a_range_left_out_makes_misses_unknown() {
        let table = PinnedTable::new();
        table.add(range(0x10_0000, 0x1000));
        table.add(range(0x1000_0000_0000, (1 << 44) + 1));
        assert_eq!(table.find(0x10_0800), Probe::Found(range(0x10_0000, 0x1000)));
        assert_eq!(table.find(0x20_0000), Probe::Unknown);
        assert_eq!(table.find(0x1000_0000_1000), Probe::Unknown);
        table.remove(range(0x1000_0000_0000, (1 << 44) + 1));
        assert_eq!(table.find(0x20_0000), Probe::Gap(0x20_0000, 0x20_1000));
    }

    #[test]
    fn a_table_cut_off_answers_nothing() {
        let table = PinnedTable::new();
        table.add(range(0x10_0000, 0x1000));
        table.mark_cut_off();
        assert_eq!(table.find(0x10_0800), Probe::Unknown);
    }

    /// Many ranges in few buckets: long runs of full buckets, wrapping around the end,
    /// and removals that must move later entries back.
    #[test]
    fn crowded_tables_keep_every_entry_findable() {
        let table = PinnedTable::with_buckets(8);
        // Pages picked at random (consecutive granules spread evenly over the buckets
        // and would never overflow one).
        let mut x = 7u64;
        let mut pages: Vec<usize> = Vec::new();
        while pages.len() < 30 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let page = (x >> 40) as usize % 4096;
            if !pages.contains(&page) {
                pages.push(page);
            }
        }
        let mut held: Vec<PinnedRange> =
            pages.iter().map(|p| range(0x10_0000 + p * 0x1000, 0x800 + p % 256 * 8)).collect();
        for r in &held {
            table.add(*r);
        }
        assert!(table.displaced() >= 4, "the test needs entries away from their home buckets");
        while !held.is_empty() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let r = held.remove((x >> 33) as usize % held.len());
            table.remove(r);
            for p in &pages {
                for k in (0x10_0000 + p * 0x1000 - 0x200..0x10_0000 + (p + 1) * 0x1000 + 0x200).step_by(0x100) {
                    check(&table, &held, k);
                }
            }
        }
        assert_eq!(table.entries.load(Relaxed), 0);
        assert_eq!(table.levels.load(Relaxed), 0);
    }

    impl PinnedTable {
        /// Entries that lie outside their home bucket.
        fn displaced(&self) -> usize {
            let mut n = 0;
            for b in 0..self.nb() {
                let bucket = self.bucket(b);
                for s in 0..SLOTS {
                    let word = bucket[2 * s + 1].load(Relaxed);
                    n += usize::from(word != 0 && self.home_of_entry(bucket[2 * s].load(Relaxed), word) != b);
                }
            }
            n
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add(usize, usize),
        Remove(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0usize..512, 1usize..0x30000).prop_map(|(s, l)| Op::Add(0x10_0000 + s * 0x300, l)),
            2 => (0usize..64).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Ranges of every level, added and removed at random in a table of few buckets,
        /// agree at and around every range with the list of ranges held.
        #[test]
        fn agrees_with_the_ranges_held(buckets in 2usize..24, ops in proptest::collection::vec(op(), 1..120)) {
            let table = PinnedTable::with_buckets(buckets);
            let mut held: Vec<PinnedRange> = Vec::new();
            for op in ops {
                match op {
                    Op::Add(s, l) => {
                        let r = range(s, l);
                        let entries = table.entries.load(Relaxed) + PinnedTable::entries_of(&r);
                        if held.iter().all(|h| h.end <= r.start || r.end <= h.start) && entries < table.slots() {
                            table.add(r);
                            held.push(r);
                        }
                    }
                    Op::Remove(i) if !held.is_empty() => {
                        let r = held.remove(i % held.len());
                        table.remove(r);
                    }
                    Op::Remove(_) => {}
                }
                for r in &held {
                    for k in [r.start.saturating_sub(1), r.start, r.start + 1, (r.start + r.end) / 2, r.end - 1, r.end] {
                        check(&table, &held, k);
                    }
                }
            }
            // Rebuilt in place: with every range held, then with half of them (the rest
            // must be gone).
            let rebuilt = PinnedTable::new();
            for kept in [&held[..], &held[..held.len() / 2]] {
                rebuilt.rebuild(kept);
                for r in &held {
                    for k in [r.start.saturating_sub(1), r.start, r.end - 1, r.end] {
                        check(&rebuilt, kept, k);
                    }
                }
            }
        }
    }
}
