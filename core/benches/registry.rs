//! Registry and classification micro-benchmarks (criterion). Absolute times are
//! meaningful only on the GPU machine (`scripts/gpu/bench.sh` carries this binary there);
//! `docs/benchmarks.md` has the figures.
//!
//! - lookup: one pinned-range lookup (a hit inside a range), at 1, 1 000 and 100 000 ranges;
//! - miss: a lookup of pageable memory between ranges, at 100 000 ranges;
//! - lookup_dependent: hits, each address depending on the answer before (latency, not
//!   throughput), at 100 000; descent_dependent: the same on that registry's own tree
//!   without the registry around it; descent_dependent_compact: on the same entries in a
//!   tree built in one pass (its nodes allocated together);
//! - lookup_div: the hits as first measured, with a 64-bit division in each iteration;
//! - bound_static, bound_static_dependent: a bound, not pinguard: the same ranges in a
//!   static index built for the search alone (`StaticIndex`), what a random lookup costs
//!   here when nothing else is paid;
//! - bound_hashed, bound_hashed_dependent: another bound, not pinguard: the same ranges
//!   in a static hash table keyed by 64 KiB granule (`HashedIndex`), one dependent access
//!   a lookup instead of a search;
//! - lookup_same: the same range again and again (a copy loop reusing its buffer), at 100 000;
//! - lookup_in_turn: three ranges in turn (triple buffering), at 100 000;
//! - descent: the tree's own search, without the registry around it, at 100 000;
//! - insert_remove: pin and release one range, with N others pinned;
//! - threads/pin_copy_release: 1 and 16 threads each pinning, looking up and releasing
//!   a range of its own with 10 000 others pinned (the first thread measurement);
//! - threads: lookups per second by 1..16 threads at 100 000 ranges (reported per thread
//!   count; throughput scaling is their ratio); beside it, `threads/chase`: the same
//!   threads each chasing a private random cycle through 2.9 MB (the tree's size), work
//!   that shares nothing at all: how far the machine itself scales this kind of load
//!   (the `scaling` benchmark measures both ratios round by round, interleaved);
//! - classify: a whole pinned H2D copy's classification;
//! - sites/repeated_finding: the per-site aggregation path (a known site found by its key,
//!   its totals added to, as a sole writer); threads/site_shared, site_shared_one_shard,
//!   site_own: the same by 1 and 16 threads at one site (writers numbered as the
//!   library's threads are: the first 8 each alone in a shard, the other 8 two to a
//!   shared one; or all 16 shared writers in one shard) or each at a site of its own;
//! - chase: one load that depends on the one before, in a random cycle through as much
//!   memory as the tree of 100 000 ranges holds (2.9 MB): the memory latency a random
//!   lookup pays at each level of the tree, which bounds it from below.

use std::hint::black_box;
use std::time::Duration;

mod common;

use common::{STRIDE, below, cycle, filled, next, on_threads, private_chases, random_lookups, registry_and_cycles};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pinguard_core::registry::{PinOrigin, PinnedRange, RangeLookup};
use pinguard_core::site_table::{LiveTotals, Occurrence, ShardWriter, SlotTable};
use pinguard_core::verdict::{CopySide, Direction, NoOracle, classify_copy};

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry");
    for n in [1usize, 1_000, 100_000] {
        let reg = filled(n);
        let mut x = 88172645463325252u64;
        g.bench_with_input(BenchmarkId::new("lookup", n), &n, |b, &n| {
            b.iter(|| {
                let i = below(&mut x, n);
                black_box(reg.lookup(0x1000_0000 + i * STRIDE + 64, 256))
            })
        });
        g.bench_with_input(BenchmarkId::new("insert_remove", n), &n, |b, _| {
            let r = PinnedRange::new(0x0800_0000, 4096, PinOrigin::Registered).unwrap();
            b.iter(|| {
                reg.insert(black_box(r));
                black_box(reg.remove(r.start))
            })
        });
    }
    let reg = filled(100_000);
    // A miss between two ranges (pageable memory amid pinned buffers), random like the hits.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    g.bench_function("miss/100000", |b| {
        b.iter(|| {
            let i = below(&mut x, 100_000);
            black_box(reg.lookup(0x1000_0000 + i * STRIDE + 8192, 256))
        })
    });
    // The same registry's own tree searched without the registry around it, in the
    // dependent form: against lookup_dependent, what the registry adds (its root load,
    // write count and kept answers) on the very same nodes.
    let own_root = reg.current_root();
    dependent_hits(&mut g, "descent_dependent/100000", 0x510e_527f_ade6_82d1, |k| {
        pinguard_core::pinned_tree::floor_and_next(&own_root, k).0.map(|e| e.end)
    });
    // The same entries in a tree built in one pass (`from_sorted`: each level's nodes
    // allocated one after another), searched the same way: what the nodes' placement
    // costs the registry's own tree.
    let compact = {
        let mut entries = Vec::new();
        pinguard_core::pinned_tree::for_each(&own_root, &mut |e| entries.push(e));
        pinguard_core::pinned_tree::from_sorted(&entries)
    };
    dependent_hits(&mut g, "descent_dependent_compact/100000", 0x9b05_688c_2b3e_6c1f, |k| {
        pinguard_core::pinned_tree::floor_and_next(&compact, k).0.map(|e| e.end)
    });
    // The latency of one lookup: each address depends on the answer before it, so the
    // processor cannot start a lookup before the last one ends (the others measure a
    // stream of independent lookups, which it may overlap; a hooked copy makes one, then
    // the real call).
    dependent_hits(&mut g, "lookup_dependent/100000", 0x3c6e_f372_fe94_f82b, |k| match reg.lookup(k, 256) {
        RangeLookup::Inside(r) => Some(r.end),
        _ => None,
    });
    let mut x = 0x1f83_d9ab_fb41_bd6bu64;
    // The hits as they were first measured: the index by `%` of a bound known only at
    // run time, a 64-bit division inside every timed iteration.
    let n = black_box(100_000usize);
    g.bench_function("lookup_div/100000", |b| {
        b.iter(|| {
            let i = (next(&mut x) as usize) % n;
            black_box(reg.lookup(0x1000_0000 + i * STRIDE + 64, 256))
        })
    });
    // The tree's own descent, without the registry around it (its root load, write count
    // and kept answer): what the node layout costs.
    let tree = {
        let mut root = pinguard_core::pinned_tree::Node::empty();
        for i in 0..100_000usize {
            let r = PinnedRange::new(0x1000_0000 + i * STRIDE, 4096, PinOrigin::MallocHost).unwrap();
            root = pinguard_core::pinned_tree::insert(&root, pinguard_core::pinned_tree::Entry::new(r, i as u64));
        }
        root
    };
    let mut x = 0x1234_5678_9abc_def1u64;
    g.bench_function("descent/100000", |b| {
        b.iter(|| {
            let i = below(&mut x, 100_000);
            black_box(pinguard_core::pinned_tree::floor_and_next(&tree, 0x1000_0000 + i * STRIDE + 64))
        })
    });
    // A copy loop reusing its buffer: the same range each time, among 100 000.
    g.bench_function("lookup_same/100000", |b| {
        b.iter(|| black_box(reg.lookup(black_box(0x1000_0000 + 51_234 * STRIDE + 64), 256)))
    });
    // Three buffers used in turn (triple buffering), among 100 000: each lookup is answered
    // by one of the thread's kept answers.
    let mut turn = 0usize;
    g.bench_function("lookup_in_turn/100000", |b| {
        b.iter(|| {
            turn = (turn + 1) % 3;
            black_box(reg.lookup(black_box(0x1000_0000 + (51_234 + 7_919 * turn) * STRIDE + 64), 256))
        })
    });
    // A bound, not pinguard: the same 100 000 ranges in a static search index laid out
    // for the search alone (StaticIndex, below: no updates, no reader protection, no
    // kept answers). What a random lookup costs on this machine when nothing but the
    // search is paid; the registry cannot beat it, so where it is above 50 ns so is any
    // comparison search of this kind.
    let ranges: Vec<(usize, usize)> =
        (0..100_000).map(|i| (0x1000_0000 + i * STRIDE, 0x1000_0000 + i * STRIDE + 4096)).collect();
    let ideal = StaticIndex::of(&ranges);
    bound(&mut g, "static", &tree, 0x5be0_cd19_137e_2179, |k| ideal.holding(k));
    // Another bound, for a design that is not a comparison search: the same ranges in a
    // static hash table keyed by 64 KiB granule (HashedIndex, below), one dependent
    // access a lookup. If this is under 50 ns where the static search is not, a hashed
    // registry could meet the target and no tree can.
    let hashed = HashedIndex::of(&ranges);
    bound(&mut g, "hashed", &tree, 0x1f83_d9ab_fb41_bd6b, |k| hashed.holding(k));
    // Dependent loads through 2.9 MB in a random cycle (Sattolo's shuffle: one cycle).
    let cycle = cycle(2_900_000, 0x9e37_79b9_7f4a_7c15);
    let mut at = 0usize;
    g.bench_function("chase/2.9MB", |b| {
        b.iter(|| {
            at = cycle[at];
            black_box(at)
        })
    });
    g.finish();
}

/// A bound's two benchmarks, `bound_NAME/100000` (independent random hits) and
/// `bound_NAME_dependent/100000` (one lookup's latency), once its index (`holding`: the
/// range holding an address) is checked against the registry's tree.
fn bound(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    tree: &pinguard_core::pinned_tree::Node,
    seed: u64,
    holding: impl Fn(usize) -> Option<(usize, usize)>,
) {
    check_against_tree(&format!("{name} index"), tree, &holding);
    let mut x = seed ^ 0x6a09_e667_f3bc_c908;
    g.bench_function(format!("bound_{name}/100000"), |b| {
        b.iter(|| {
            let i = below(&mut x, 100_000);
            black_box(holding(0x1000_0000 + i * STRIDE + 64))
        })
    });
    dependent_hits(g, &format!("bound_{name}_dependent/100000"), seed, |k| holding(k).map(|(_, end)| end));
}

/// Random hits among the 100 000 ranges of [`filled`], each address depending on the
/// answer before it, so that the processor cannot start a search before the last one
/// ends: one search's latency. `search` returns the end of the range that holds its
/// address; every range here ends at an even address, so the next index is changed by
/// nothing, but only the answer says so.
fn dependent_hits(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    seed: u64,
    mut search: impl FnMut(usize) -> Option<usize>,
) {
    let (mut x, mut last) = (seed, 0usize);
    g.bench_function(name, |b| {
        b.iter(|| {
            let i = below(&mut x, 100_000) ^ last;
            let end = search(0x1000_0000 + i * STRIDE + 64);
            last = end.map_or(1, |e| e & 1);
            black_box(end)
        })
    });
}

/// Sixteen keys, two cache lines, aligned to a line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([usize; 16]);

/// Sixteen ranges, bottom layer of [`StaticIndex`]: their starts, then their ends, four
/// lines aligned to a line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Leaf16 {
    starts: Block,
    ends: [usize; 16],
}

/// A static search index over sorted, disjoint ranges: the ranges in leaves of 16 (starts
/// and ends side by side), and above them layers of the first start of each block below,
/// up to one block. A search reads one block a layer (two lines fetched together) and
/// counts its keys `<= k` without a branch; at the leaf it asks for the ends' lines while
/// it counts the starts, so the end is not one more wait. Built once, for the bound
/// benchmark only.
struct StaticIndex {
    leaves: Vec<Leaf16>,
    /// `upper[0]` holds the first start of each leaf; `upper[l + 1]` the first key of each
    /// block of `upper[l]`. Places past the keys hold `usize::MAX`.
    upper: Vec<Vec<Block>>,
}

impl StaticIndex {
    fn of(ranges: &[(usize, usize)]) -> StaticIndex {
        let blocks = |keys: &[usize]| -> Vec<Block> {
            keys.chunks(16)
                .map(|c| {
                    let mut b = Block([usize::MAX; 16]);
                    b.0[..c.len()].copy_from_slice(c);
                    b
                })
                .collect()
        };
        let leaves: Vec<Leaf16> = ranges
            .chunks(16)
            .map(|c| {
                let mut l = Leaf16 { starts: Block([usize::MAX; 16]), ends: [0; 16] };
                for (j, r) in c.iter().enumerate() {
                    (l.starts.0[j], l.ends[j]) = *r;
                }
                l
            })
            .collect();
        let mut upper = vec![blocks(&leaves.iter().map(|l| l.starts.0[0]).collect::<Vec<_>>())];
        while upper.last().unwrap().len() > 1 {
            let firsts: Vec<usize> = upper.last().unwrap().iter().map(|b| b.0[0]).collect();
            upper.push(blocks(&firsts));
        }
        StaticIndex { leaves, upper }
    }

    /// How many of the block's keys are `<= k` (they are sorted: the mask's low bits).
    #[inline(always)]
    fn count(b: &Block, k: usize) -> usize {
        let mut below = 0u32;
        for (j, &x) in b.0.iter().enumerate() {
            below |= u32::from(x <= k) << j;
        }
        below.trailing_ones() as usize
    }

    /// The range holding `k`, as (start, end).
    #[inline]
    fn holding(&self, k: usize) -> Option<(usize, usize)> {
        let mut block = 0usize;
        for layer in self.upper.iter().rev() {
            let c = Self::count(&layer[block], k);
            if c == 0 {
                return None;
            }
            block = block * 16 + c - 1;
        }
        let leaf = &self.leaves[block];
        #[cfg(target_arch = "x86_64")]
        for line in [0usize, 64] {
            // SAFETY: a prefetch is a hint that reads no value and never faults.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    leaf.ends.as_ptr().cast::<i8>().wrapping_add(line),
                )
            };
        }
        let c = Self::count(&leaf.starts, k);
        if c == 0 {
            return None;
        }
        let (start, end) = (leaf.starts.0[c - 1], leaf.ends[c - 1]);
        (k < end).then_some((start, end))
    }
}

/// Panics unless a bound's index (`holding`: the range holding an address) answers as
/// the registry's tree does, at and around every range of [`filled`]: a bound measured
/// on a wrong search would mean nothing.
fn check_against_tree(
    name: &str,
    tree: &pinguard_core::pinned_tree::Node,
    holding: impl Fn(usize) -> Option<(usize, usize)>,
) {
    for i in 0..100_000usize {
        for k in [0x1000_0000 + i * STRIDE, 0x1000_0000 + i * STRIDE + 64, 0x1000_0000 + i * STRIDE + 8192] {
            let want =
                pinguard_core::pinned_tree::floor_and_next(tree, k).0.filter(|e| k < e.end).map(|e| (e.start, e.end));
            assert_eq!(holding(k), want, "{name} at {k:#x}");
        }
    }
    assert_eq!(holding(0x0fff_ffff), None, "{name} below every range");
}

/// Granules of the hashed bound: 64 KiB.
const GRANULE_BITS: u32 = 16;

/// One range of [`HashedIndex`], keyed by the granule its start lies in; 32 bytes, so a
/// slot never straddles two lines.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct HashedSlot {
    /// The granule plus one (0: an empty slot).
    key: usize,
    start: usize,
    end: usize,
}

/// A bound for a hashed design, not pinguard: ranges that each lie within one 64 KiB
/// granule, in an open-addressed table (linear probing, at most half full) keyed by
/// that granule. A lookup hashes the address's granule and reads one slot, usually one
/// line: one dependent access where a search makes one a level. A general design would
/// also need ranges that span granules, several ranges in one granule and the next
/// range's start (for straddling copies); this holds only what the benchmark's ranges
/// need, and refuses any other.
struct HashedIndex {
    slots: Vec<HashedSlot>,
    shift: u32,
}

impl HashedIndex {
    fn of(ranges: &[(usize, usize)]) -> HashedIndex {
        let bits = (2 * ranges.len()).next_power_of_two().trailing_zeros();
        let mut index =
            HashedIndex { slots: vec![HashedSlot { key: 0, start: 0, end: 0 }; 1 << bits], shift: usize::BITS - bits };
        for &(start, end) in ranges {
            assert_eq!(start >> GRANULE_BITS, (end - 1) >> GRANULE_BITS, "a range within one granule");
            let mut i = index.home(start >> GRANULE_BITS);
            while index.slots[i].key != 0 {
                assert_ne!(index.slots[i].key, (start >> GRANULE_BITS) + 1, "one range a granule");
                i = (i + 1) & (index.slots.len() - 1);
            }
            index.slots[i] = HashedSlot { key: (start >> GRANULE_BITS) + 1, start, end };
        }
        index
    }

    #[inline(always)]
    fn home(&self, granule: usize) -> usize {
        granule.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift
    }

    /// The range holding `k`, as (start, end).
    #[inline]
    fn holding(&self, k: usize) -> Option<(usize, usize)> {
        let key = (k >> GRANULE_BITS) + 1;
        let mut i = self.home(k >> GRANULE_BITS);
        loop {
            let s = &self.slots[i];
            if s.key == key {
                return (s.start <= k && k < s.end).then_some((s.start, s.end));
            }
            if s.key == 0 {
                return None;
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }
}

fn threads(c: &mut Criterion) {
    let (reg, cycles) = registry_and_cycles();
    let mut g = c.benchmark_group("threads");
    g.measurement_time(Duration::from_secs(3));
    for t in [1usize, 2, 4, 8, 16] {
        // Each sample: t threads doing `iters` lookups each; the time per lookup per thread.
        g.throughput(Throughput::Elements(t as u64));
        g.bench_with_input(BenchmarkId::new("lookup", t), &t, |b, &t| {
            b.iter_custom(|iters| random_lookups(&reg, t, iters))
        });
        g.bench_with_input(BenchmarkId::new("chase", t), &t, |b, &t| {
            b.iter_custom(|iters| private_chases(&cycles, t, iters))
        });
    }
    // The first measurement: threads each pinning a buffer of their own, copying
    // from it (a lookup) and releasing it, with 10 000 ranges pinned (it was 0.5 -> 13.8
    // us a cycle with 16 threads, when every write copied the whole registry). Writes
    // are serialised; this is what 16 threads at once pay for that.
    let busy = std::sync::Arc::new(filled(10_000));
    for t in [1usize, 16] {
        g.throughput(Throughput::Elements(t as u64));
        g.bench_with_input(BenchmarkId::new("pin_copy_release", t), &t, |b, &t| {
            b.iter_custom(|iters| {
                let reg = busy.clone();
                on_threads(t, move |k| {
                    // Each thread's buffer lies beyond the 10 000 ranges, apart from the others'.
                    let r = PinnedRange::new(0x1000_0000 + (20_000 + k) * STRIDE, 4096, PinOrigin::Registered).unwrap();
                    for _ in 0..iters {
                        reg.insert(r);
                        black_box(reg.lookup(r.start + 64, 256));
                        black_box(reg.remove(r.start));
                    }
                })
            })
        });
    }
    g.finish();
}

fn classify(c: &mut Criterion) {
    let reg = filled(1_000);
    let host = pinguard_core::extent::HostSpan::linear(0x1000_0000 + 500 * STRIDE + 64, 4096).unwrap().unwrap();
    c.bench_function("classify/pinned_h2d", |b| {
        b.iter(|| {
            black_box(classify_copy(
                &reg,
                &NoOracle,
                CopySide::Host(black_box(host)),
                CopySide::NotHost,
                Some(Direction::HostToDevice),
            ))
        })
    });
}

/// A finding at a known site, as the library aggregates it: the site found by its key in
/// the table, its totals added to (as the calling thread's writer). One thread; and 1
/// and 16 threads, all at one site as writers numbered as the library's threads are (the
/// first SOLE alone in their shards), all at one site as shared writers in one shard (as
/// before the totals were sharded), or each at a site of its own.
fn sites(c: &mut Criterion) {
    let table: &'static SlotTable<LiveTotals, 4096> = Box::leak(Box::new(SlotTable::new()));
    let occurrence =
        |i: u64| Occurrence { bytes: 4096, blocked_ns: 5_000 + i % 64, result: Some(0), stream: 7, time_ms: 1_000 };
    let mut i = 0u64;
    c.bench_function("sites/repeated_finding", |b| {
        b.iter(|| {
            i += 1;
            let site = table.find_or_build(black_box(0x5eed_1234_u64), LiveTotals::new).unwrap();
            site.add(&occurrence(i), ShardWriter::numbered(0));
        })
    });
    let mut g = c.benchmark_group("threads");
    g.measurement_time(Duration::from_secs(3));
    for t in [1usize, 16] {
        g.throughput(Throughput::Elements(t as u64));
        for (name, key_of, shard_of) in [
            ("site_shared", (|_| 0x5eed_0001) as fn(usize) -> u64, ShardWriter::numbered as fn(usize) -> ShardWriter),
            ("site_shared_one_shard", |_| 0x5eed_0002, |_| ShardWriter::shared()),
            ("site_own", |k| 0x5eed_1000 + k as u64, ShardWriter::numbered),
        ] {
            g.bench_with_input(BenchmarkId::new(name, t), &t, |b, &t| {
                b.iter_custom(|iters| {
                    on_threads(t, move |k| {
                        let (key, shard) = (key_of(k), shard_of(k));
                        for i in 0..iters {
                            let site = table.find_or_build(black_box(key), LiveTotals::new).unwrap();
                            site.add(&occurrence(i), shard);
                        }
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, lookups, threads, classify, sites);
criterion_main!(benches);
