//! A process's call sites, as the preload library keeps them: a fixed table of slots
//! claimed with one compare-and-swap, each site's totals as atomics, and a flag that one
//! caller claims. Lock-free and, once a site exists and a writer has added there once,
//! allocation-free: a repeated finding costs a probe and a few atomic adds, and the exit
//! path walks the table without a lock or an allocation. Here (not in the library) so that the aggregation path can be
//! benchmarked and tested directly (`core/benches/registry.rs`, group `sites`).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::site::{CopyTotals, SiteTotals};

/// A fixed table of `N` values, each found by a nonzero 64-bit key (a hash: equal keys
/// are the same site). The first caller with a new key claims a free slot, builds the
/// value and publishes it; values are leaked, never freed, so a reference to one lives as
/// long as the process.
pub struct SlotTable<T: 'static, const N: usize> {
    slots: [Slot<T>; N],
}

struct Slot<T> {
    key: AtomicU64,
    value: AtomicPtr<T>,
}

impl<T: Send + Sync + 'static, const N: usize> Default for SlotTable<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

// `Send + Sync`: a value built by one thread is handed to every thread that finds its key.
impl<T: Send + Sync + 'static, const N: usize> SlotTable<T, N> {
    pub const fn new() -> Self {
        SlotTable { slots: [const { Slot { key: AtomicU64::new(0), value: AtomicPtr::new(std::ptr::null_mut()) } }; N] }
    }

    /// The value of `key` (nonzero), built by `build` if it is new; `None` when the table
    /// is full. Probes from `key % N`. A key another thread has claimed and not yet
    /// published is waited for (it is building the value).
    pub fn find_or_build(&self, key: u64, build: impl FnOnce() -> T) -> Option<&'static T> {
        self.find_or_build_noting_delay(key, build).map(|(value, _)| value)
    }

    /// The same, and whether this call built the value or waited for another thread's
    /// build (which can take long: a caller that must know how long it was away, as
    /// pinguard's exit handshake must, learns it here).
    pub fn find_or_build_noting_delay(&self, key: u64, build: impl FnOnce() -> T) -> Option<(&'static T, bool)> {
        debug_assert_ne!(key, 0, "0 marks a free slot");
        let start = key as usize % N;
        for probe in 0..N {
            let slot = &self.slots[(start + probe) % N];
            let mut k = slot.key.load(Ordering::Acquire);
            if k == 0 {
                match slot.key.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        let value: &'static T = Box::leak(Box::new(build()));
                        slot.value.store(value as *const T as *mut T, Ordering::Release);
                        return Some((value, true));
                    }
                    Err(now) => k = now,
                }
            }
            if k == key {
                // Claimed: built by its claimer, published in a moment.
                let mut waited = false;
                loop {
                    let p = slot.value.load(Ordering::Acquire);
                    // SAFETY: values are leaked, never freed, and published with Release
                    // after they are fully built.
                    if let Some(value) = unsafe { p.as_ref() } {
                        return Some((value, waited));
                    }
                    waited = true;
                    std::thread::yield_now();
                }
            }
        }
        None
    }

    /// Every value published so far (no lock, no allocation).
    pub fn iter(&self) -> impl Iterator<Item = &'static T> + '_ {
        self.slots.iter().filter_map(|slot| {
            // SAFETY: values are leaked, never freed, and published with Release.
            unsafe { slot.value.load(Ordering::Acquire).as_ref() }
        })
    }
}

/// A flag that exactly one caller claims, ever (until [`reset`](Self::reset)).
#[derive(Default)]
pub struct FirstClaim(AtomicBool);

impl FirstClaim {
    pub const fn new() -> FirstClaim {
        FirstClaim(AtomicBool::new(false))
    }

    /// True for the first caller only. Loads before it swaps: a site is announced once and
    /// then asked again at every later finding, where a swap would be a locked write (3% of
    /// a repeated finding on fakecuda) of a line other threads' findings read too.
    pub fn claim(&self) -> bool {
        !self.0.load(Ordering::Acquire) && !self.0.swap(true, Ordering::AcqRel)
    }

    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Shards of a site's totals: threads adding at one site spread over this many pairs of
/// cache lines instead of all writing one (measured with 16 threads at one site on the
/// development machine's 2 cores: 6.4 times the cost of each thread at a site of its own,
/// with one shard). A shard is made when its first writer adds (most sites have one
/// writer): all of them in every site were 1.5 KiB a site, 6 MiB at the table's cap of
/// 4 096 sites.
pub const SHARDS: usize = SOLE + SHARED;

/// Shards that each have one writer ([`ShardWriter::numbered`] below this).
pub const SOLE: usize = 8;

/// Shards that every other writer shares, by its number: with one shared shard, 16
/// threads at one site on the GPU machine (7 sole, 9 sharing) took 918 ns a finding
/// where 8 shards shared by all had taken 201 ns; with four, the 16 threads are 8 sole
/// and 8 two to a shard, as every thread was before.
pub const SHARED: usize = 4;

/// Who adds to a site's totals, and so which shard and how: a sole writer (one of the
/// first [`SOLE`] numbered, the only one ever adding with its number at a time, never
/// from inside its own add: a thread and its counter block) adds with a load and a
/// store, as a thread's own counters do; every other writer adds to the shared shard
/// with atomic read-modify-writes. A repeated finding made three locked adds; on the GPU
/// machine they were its dearest function of pinguard's own (about 20 ns of 2.6 us,
/// sampled). Breaking the sole-writer promise loses counts, never memory safety.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardWriter {
    shard: usize,
    sole: bool,
}

impl ShardWriter {
    /// Writer number `n` (counted from 0; the caller hands each number to one writer at a
    /// time): sole for `n < SOLE`, after that shared, in shard `SOLE + (n - SOLE) % SHARED`.
    pub const fn numbered(n: usize) -> ShardWriter {
        if n < SOLE {
            ShardWriter { shard: n, sole: true }
        } else {
            ShardWriter { shard: SOLE + (n - SOLE) % SHARED, sole: false }
        }
    }

    /// A writer that may add at the same time as any other (in the first shared shard).
    pub const fn shared() -> ShardWriter {
        ShardWriter { shard: SOLE, sole: false }
    }

    pub fn is_sole(&self) -> bool {
        self.sole
    }
}

/// One shard's sums and bounds. 128 bytes: two lines, the pair a core's adjacent-line
/// prefetcher fetches together, so no two shards share either.
#[repr(align(128))]
struct Shard {
    count: AtomicU64,
    bytes_total: AtomicU64,
    bytes_min: AtomicU64,
    bytes_max: AtomicU64,
    blocked_ns_total: AtomicU64,
    blocked_ns_max: AtomicU64,
    first_ms: AtomicU64,
    last_ms: AtomicU64,
    errors: AtomicU64,
}

impl Shard {
    const fn new() -> Shard {
        Shard {
            count: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            bytes_min: AtomicU64::new(u64::MAX),
            bytes_max: AtomicU64::new(0),
            blocked_ns_total: AtomicU64::new(0),
            blocked_ns_max: AtomicU64::new(0),
            first_ms: AtomicU64::new(u64::MAX),
            last_ms: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

impl Shard {
    /// One finding's sums and bounds. Minima and maxima are read before they are
    /// written: at a hot site most findings move none of them.
    #[inline(always)]
    fn add<A: ShardAdds>(&self, o: &Occurrence) {
        A::plus(&self.count, 1);
        A::plus(&self.bytes_total, o.bytes);
        A::lower(&self.bytes_min, o.bytes);
        A::raise(&self.bytes_max, o.bytes);
        A::plus(&self.blocked_ns_total, o.blocked_ns);
        A::raise(&self.blocked_ns_max, o.blocked_ns);
        A::lower(&self.first_ms, o.time_ms);
        A::raise(&self.last_ms, o.time_ms);
        if o.result.is_some_and(|rc| rc != 0) {
            A::plus(&self.errors, 1);
        }
    }
}

/// How a writer adds to a shard's counters.
trait ShardAdds {
    fn plus(a: &AtomicU64, v: u64);
    fn lower(a: &AtomicU64, v: u64);
    fn raise(a: &AtomicU64, v: u64);
}

/// A sole writer: a load and a store are the add, and a bound changes only when its one
/// writer moves it.
struct SoleAdds;

impl ShardAdds for SoleAdds {
    #[inline(always)]
    fn plus(a: &AtomicU64, v: u64) {
        a.store(a.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
    }
    #[inline(always)]
    fn lower(a: &AtomicU64, v: u64) {
        if v < a.load(Ordering::Relaxed) {
            a.store(v, Ordering::Relaxed);
        }
    }
    #[inline(always)]
    fn raise(a: &AtomicU64, v: u64) {
        if v > a.load(Ordering::Relaxed) {
            a.store(v, Ordering::Relaxed);
        }
    }
}

/// A writer among others at once: atomic read-modify-writes.
struct SharedAdds;

impl ShardAdds for SharedAdds {
    #[inline(always)]
    fn plus(a: &AtomicU64, v: u64) {
        a.fetch_add(v, Ordering::Relaxed);
    }
    #[inline(always)]
    fn lower(a: &AtomicU64, v: u64) {
        if v < a.load(Ordering::Relaxed) {
            a.fetch_min(v, Ordering::Relaxed);
        }
    }
    #[inline(always)]
    fn raise(a: &AtomicU64, v: u64) {
        if v > a.load(Ordering::Relaxed) {
            a.fetch_max(v, Ordering::Relaxed);
        }
    }
}

/// [`SiteTotals`] as atomics, updated by every finding at the site: sums and bounds in
/// [`SHARDS`] shards (a finding adds to the one its caller names, read sums them all),
/// the streams seen in one shared list (written only when a new stream appears).
pub struct LiveTotals {
    /// Null until the shard's first writer adds; then a leaked-until-drop `Box<Shard>`,
    /// never replaced.
    shards: [AtomicPtr<Shard>; SHARDS],
    /// Distinct streams seen; `usize::MAX` marks a free place.
    streams: [AtomicUsize; 4],
    streams_more: AtomicBool,
}

impl Default for LiveTotals {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveTotals {
    pub const fn new() -> Self {
        LiveTotals {
            shards: [const { AtomicPtr::new(std::ptr::null_mut()) }; SHARDS],
            streams: [const { AtomicUsize::new(usize::MAX) }; 4],
            streams_more: AtomicBool::new(false),
        }
    }

    /// Every finding at the site adds itself, to its writer's shard (threads holding
    /// different numbers write different lines). Minima and maxima are read before they
    /// are written, and a stream already seen is only read: at a hot site most findings
    /// change neither. A sole writer then makes loads and stores only; a shared one three
    /// atomic adds.
    pub fn add(&self, o: &Occurrence, writer: ShardWriter) {
        let r = Ordering::Relaxed;
        let s = self.shard(writer.shard);
        if writer.sole {
            s.add::<SoleAdds>(o)
        } else {
            s.add::<SharedAdds>(o)
        }
        for slot in &self.streams {
            let seen = slot.load(r);
            if seen == o.stream {
                return;
            }
            if seen == usize::MAX {
                match slot.compare_exchange(usize::MAX, o.stream, r, r) {
                    Ok(_) => return,
                    Err(now) if now == o.stream => return,
                    Err(_) => {}
                }
            }
        }
        self.streams_more.store(true, r);
    }

    /// Shard `i`, made if it is not yet.
    #[inline(always)]
    fn shard(&self, i: usize) -> &Shard {
        let p = self.shards[i].load(Ordering::Acquire);
        if p.is_null() {
            return self.make_shard(i);
        }
        // SAFETY: a non-null pointer here came from `Box::into_raw` in `make_shard`,
        // published with Release (the Acquire load above sees its initialised shard); it
        // is freed only by `drop`, which has `&mut self`, so not while `&self` lives.
        unsafe { &*p }
    }

    /// Makes shard `i` (its first writer, or shared writers racing: one box wins, the
    /// others are freed).
    #[cold]
    #[inline(never)]
    fn make_shard(&self, i: usize) -> &Shard {
        let fresh = Box::into_raw(Box::new(Shard::new()));
        match self.shards[i].compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` is now the published shard, alive as long as `self` (see
            // `shard`).
            Ok(_) => unsafe { &*fresh },
            Err(existing) => {
                // SAFETY: `fresh` lost the race and was never published: this is its
                // only pointer. `existing` is the published one, alive as in `shard`.
                unsafe {
                    drop(Box::from_raw(fresh));
                    &*existing
                }
            }
        }
    }

    /// The shards made so far.
    fn made(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter().filter_map(|p| {
            let p = p.load(Ordering::Acquire);
            // SAFETY: as in `shard`: published by `make_shard`, freed only by `drop`.
            (!p.is_null()).then(|| unsafe { &*p })
        })
    }

    /// How many shards have been made (a writer's first add makes its own).
    pub fn shards_made(&self) -> usize {
        self.made().count()
    }

    /// The totals so far, over every shard.
    pub fn read(&self) -> SiteTotals {
        let r = Ordering::Relaxed;
        let mut copies = CopyTotals::NONE;
        for s in self.made() {
            copies.absorb(&CopyTotals {
                count: s.count.load(r),
                bytes_total: s.bytes_total.load(r),
                bytes_min: s.bytes_min.load(r),
                bytes_max: s.bytes_max.load(r),
                blocked_ns_total: s.blocked_ns_total.load(r),
                blocked_ns_max: s.blocked_ns_max.load(r),
                first_ms: s.first_ms.load(r),
                last_ms: s.last_ms.load(r),
                errors: s.errors.load(r),
            });
        }
        let mut t =
            SiteTotals { copies: copies.settled(), streams_more: self.streams_more.load(r), ..Default::default() };
        for s in &self.streams {
            let v = s.load(r);
            if v != usize::MAX {
                t.streams[t.streams_seen] = v;
                t.streams_seen += 1;
            }
        }
        t
    }

    pub fn reset(&self) {
        let r = Ordering::Relaxed;
        for s in self.made() {
            for (a, v) in [
                (&s.count, 0),
                (&s.bytes_total, 0),
                (&s.bytes_min, u64::MAX),
                (&s.bytes_max, 0),
                (&s.blocked_ns_total, 0),
                (&s.blocked_ns_max, 0),
                (&s.first_ms, u64::MAX),
                (&s.last_ms, 0),
                (&s.errors, 0),
            ] {
                a.store(v, r);
            }
        }
        self.streams.iter().for_each(|s| s.store(usize::MAX, r));
        self.streams_more.store(false, r);
    }
}

impl Drop for LiveTotals {
    fn drop(&mut self) {
        for p in &mut self.shards {
            let p = *p.get_mut();
            if !p.is_null() {
                // SAFETY: made by `Box::into_raw` in `make_shard` and published once;
                // `&mut self` means no reference from `shard` is alive.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// One finding at a site: what it adds to the totals.
#[derive(Clone, Copy, Debug)]
pub struct Occurrence {
    pub bytes: u64,
    pub blocked_ns: u64,
    pub result: Option<i32>,
    pub stream: usize,
    pub time_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// Runs `f` on `threads` threads released together; their results, in spawn order.
    fn at_once<R: Send>(threads: usize, f: impl Fn() -> R + Sync) -> Vec<R> {
        let start = Barrier::new(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        f()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn a_claim_is_won_once_then_never() {
        let flag = FirstClaim::new();
        assert!(flag.claim());
        assert!(!flag.claim());
        assert!(!flag.claim());
        flag.reset();
        assert!(flag.claim());
        assert!(!flag.claim());
    }

    /// Threads that claim at the same moment: exactly one wins, every round.
    #[test]
    fn racing_claims_have_one_winner() {
        const THREADS: usize = 8;
        for _ in 0..200 {
            let flag = FirstClaim::new();
            let won: usize = at_once(THREADS, || usize::from(flag.claim())).into_iter().sum();
            assert_eq!(won, 1);
        }
    }

    #[test]
    fn a_key_finds_the_value_it_built() {
        let table: &'static SlotTable<u64, 8> = Box::leak(Box::new(SlotTable::new()));
        let a = table.find_or_build(17, || 1).unwrap();
        let b = table.find_or_build(25, || 2).unwrap(); // 25 % 8 == 17 % 8: the next slot
        assert_eq!((*a, *b), (1, 2));
        assert!(std::ptr::eq(table.find_or_build(17, || panic!("built twice")).unwrap(), a));
        assert!(std::ptr::eq(table.find_or_build(25, || panic!("built twice")).unwrap(), b));
        let mut all: Vec<u64> = table.iter().copied().collect();
        all.sort();
        assert_eq!(all, [1, 2]);
    }

    /// The caller learns whether it built the value or waited for another's build, and
    /// a value found already published is neither.
    #[test]
    fn a_lookup_says_whether_it_built_or_waited() {
        let table: &'static SlotTable<u64, 8> = Box::leak(Box::new(SlotTable::new()));
        assert_eq!(table.find_or_build_noting_delay(3, || 30).map(|(v, slow)| (*v, slow)), Some((30, true)));
        assert_eq!(
            table.find_or_build_noting_delay(3, || panic!("built twice")).map(|(v, s)| (*v, s)),
            Some((30, false))
        );
        // Another thread claims key 4 and takes its time to build it; this one waits.
        let claimed = Arc::new(Barrier::new(2));
        let c = claimed.clone();
        let builder = std::thread::spawn(move || {
            table.find_or_build(4, || {
                c.wait();
                std::thread::sleep(std::time::Duration::from_millis(50));
                40
            });
        });
        claimed.wait();
        assert_eq!(
            table.find_or_build_noting_delay(4, || panic!("built twice")).map(|(v, s)| (*v, s)),
            Some((40, true))
        );
        builder.join().unwrap();
    }

    #[test]
    fn a_full_table_answers_none_and_keeps_its_values() {
        let table: &'static SlotTable<u64, 4> = Box::leak(Box::new(SlotTable::new()));
        for k in 1..=4 {
            assert_eq!(table.find_or_build(k, || k * 10), Some(&(k * 10)));
        }
        assert_eq!(table.find_or_build(5, || 50), None);
        assert_eq!(table.find_or_build(3, || panic!("built twice")), Some(&30));
    }

    /// Threads asking for one new key at the same moment: one builds it, all get it.
    #[test]
    fn racing_threads_build_a_key_once() {
        const THREADS: usize = 8;
        for round in 0..100u64 {
            let table: &'static SlotTable<u64, 16> = Box::leak(Box::new(SlotTable::new()));
            let builds = AtomicUsize::new(0);
            let got: Vec<usize> = at_once(THREADS, || {
                let v = table.find_or_build(round + 1, || {
                    builds.fetch_add(1, Ordering::Relaxed);
                    std::thread::yield_now();
                    round
                });
                v.unwrap() as *const u64 as usize
            });
            assert_eq!(builds.load(Ordering::Relaxed), 1);
            assert!(got.iter().all(|p| *p == got[0]));
        }
    }

    fn at(bytes: u64, blocked_ns: u64, time_ms: u64, stream: usize, result: Option<i32>) -> Occurrence {
        Occurrence { bytes, blocked_ns, result, stream, time_ms }
    }

    /// Two cache lines a shard, each on a pair of its own; a shard is made by its
    /// writer's first add, once.
    #[test]
    fn shards_are_made_by_their_first_writer_on_line_pairs_of_their_own() {
        assert_eq!((std::mem::size_of::<Shard>(), std::mem::align_of::<Shard>()), (128, 128));
        let t = LiveTotals::new();
        assert_eq!(t.shards_made(), 0);
        t.add(&at(1, 1, 1, 1, None), ShardWriter::numbered(0));
        t.add(&at(1, 1, 1, 1, None), ShardWriter::numbered(0));
        assert_eq!(t.shards_made(), 1);
        t.add(&at(1, 1, 1, 1, None), ShardWriter::numbered(5));
        t.add(&at(1, 1, 1, 1, None), ShardWriter::shared());
        assert_eq!(t.shards_made(), 3);
        for i in [0, 5, SOLE] {
            assert_eq!(t.shard(i) as *const Shard as usize % 128, 0);
        }
        assert_eq!(t.read().copies.count, 4);
    }

    /// Shared writers whose first adds race make one shard between them and lose no
    /// count.
    #[test]
    fn racing_first_adds_make_one_shard() {
        const THREADS: usize = 8;
        for _ in 0..50 {
            let t = LiveTotals::new();
            at_once(THREADS, || {
                for _ in 0..100 {
                    t.add(&at(1, 1, 1, 1, None), ShardWriter::shared());
                }
            });
            assert_eq!(t.shards_made(), 1);
            assert_eq!(t.read().copies.count, (THREADS * 100) as u64);
        }
    }

    /// Findings spread over shards (sole writers and shared ones) read back as one
    /// site's totals.
    #[test]
    fn totals_sum_bound_and_count_streams() {
        let t = LiveTotals::new();
        let empty = t.read();
        assert_eq!((empty.copies.count, empty.copies.bytes_min, empty.copies.first_ms), (0, 0, 0));
        t.add(&at(4096, 10, 1000, 7, Some(0)), ShardWriter::numbered(0));
        t.add(&at(100, 30, 900, 7, Some(1)), ShardWriter::numbered(3));
        t.add(&at(8192, 20, 1100, 9, None), ShardWriter::numbered(3 + SHARDS));
        let r = t.read();
        assert_eq!(
            (r.copies.count, r.copies.bytes_total, r.copies.bytes_min, r.copies.bytes_max),
            (3, 12_388, 100, 8192)
        );
        assert_eq!(
            (r.copies.blocked_ns_total, r.copies.blocked_ns_max, r.copies.first_ms, r.copies.last_ms),
            (60, 30, 900, 1100)
        );
        assert_eq!(r.copies.errors, 1);
        assert_eq!((r.streams_seen, &r.streams[..2], r.streams_more), (2, &[7, 9][..], false));
        for s in 10..14 {
            t.add(&at(1, 1, 1000, s, Some(0)), ShardWriter::numbered(s));
        }
        assert!(t.read().streams_more);
        assert_eq!(t.read().streams_seen, 4);
        t.reset();
        let z = t.read();
        assert_eq!(
            (z.copies.count, z.copies.bytes_total, z.copies.bytes_max, z.copies.errors, z.streams_seen, z.streams_more),
            (0, 0, 0, 0, 0, false)
        );
    }

    /// Sixteen threads adding at one site lose nothing: the first SOLE each alone in
    /// its shard, the rest two to a shared one (with `all_shared`, all in one).
    fn sixteen_threads_add(all_shared: bool) {
        let t = Arc::new(LiveTotals::new());
        let hs: Vec<_> = (0..16u64)
            .map(|k| {
                let t = t.clone();
                let writer = if all_shared { ShardWriter::shared() } else { ShardWriter::numbered(k as usize) };
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        t.add(&at(i % 7 + 1, k + 1, 1000 + i, (k % 3) as usize, Some(0)), writer);
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let r = t.read();
        let per_thread_bytes: u64 = (0..20_000u64).map(|i| i % 7 + 1).sum();
        assert_eq!((r.copies.count, r.copies.bytes_total), (320_000, 16 * per_thread_bytes));
        assert_eq!((r.copies.bytes_min, r.copies.bytes_max, r.copies.blocked_ns_max), (1, 7, 16));
        assert_eq!((r.copies.first_ms, r.copies.last_ms, r.streams_seen), (1000, 20_999, 3));
    }

    #[test]
    fn concurrent_adds_are_all_counted() {
        sixteen_threads_add(false);
    }

    #[test]
    fn concurrent_shared_adds_are_all_counted() {
        sixteen_threads_add(true);
    }

    /// Sole writers each have a shard of their own; the rest spread over the shared
    /// shards, none of which a sole writer has.
    #[test]
    fn sole_writers_name_distinct_shards_and_the_rest_share_the_others() {
        let sole: Vec<_> = (0..SOLE).map(ShardWriter::numbered).collect();
        assert!(sole.iter().all(|w| w.is_sole()));
        let shards: std::collections::HashSet<_> = sole.iter().map(|w| w.shard).collect();
        assert_eq!(shards.len(), SOLE);
        let shared: std::collections::HashSet<_> = (SOLE..SOLE + 3 * SHARED)
            .map(ShardWriter::numbered)
            .chain([ShardWriter::shared()])
            .inspect(|w| assert!(!w.is_sole() && w.shard < SHARDS))
            .map(|w| w.shard)
            .collect();
        assert_eq!(shared.len(), SHARED, "the others use every shared shard");
        assert!(shards.is_disjoint(&shared));
    }
}
