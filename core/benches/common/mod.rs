//! What the registry benchmarks share: the registry they fill, their pseudo-random
//! indices, the private cycles the machine's own scaling is measured with, and threads
//! timed together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pinguard_core::registry::{PinOrigin, PinnedRange, PinnedRegistry};

pub const STRIDE: usize = 1 << 16;

pub fn filled(n: usize) -> PinnedRegistry {
    let reg = PinnedRegistry::new();
    for i in 0..n {
        reg.insert(PinnedRange::new(0x1000_0000 + i * STRIDE, 4096, PinOrigin::MallocHost).unwrap());
    }
    reg
}

/// A cheap pseudo-random sequence, so lookups do not walk the tree in order.
pub fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A pseudo-random index below `n`, by one multiplication (the high half of `x * n`).
/// Not `x % n`: with `n` known only at run time that is a 64-bit division, whose cost
/// varies by processor and was once timed as part of every lookup (`lookup_div` keeps
/// that form, to show the difference).
#[inline(always)]
pub fn below(x: &mut u64, n: usize) -> usize {
    ((u128::from(next(x)) * n as u128) >> 64) as usize
}

/// A random single cycle through `bytes` of slots (Sattolo's shuffle).
pub fn cycle(bytes: usize, seed: u64) -> Vec<usize> {
    let slots = bytes / std::mem::size_of::<usize>();
    let mut cycle: Vec<usize> = (0..slots).collect();
    let mut x = seed;
    for i in (1..slots).rev() {
        let j = (next(&mut x) as usize) % i;
        cycle.swap(i, j);
    }
    cycle
}

/// Runs `work(k)` on `t` new threads (k = 0..t) and times them until the last ends.
pub fn on_threads(t: usize, work: impl Fn(usize) + Send + Sync + Clone + 'static) -> Duration {
    let start = Instant::now();
    let hs: Vec<_> = (0..t)
        .map(|k| {
            let work = work.clone();
            std::thread::spawn(move || work(k))
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    start.elapsed()
}

/// A registry of 100 000 ranges and 16 private cycles through 2.9 MB (the tree's size).
pub fn registry_and_cycles() -> (Arc<PinnedRegistry>, Arc<Vec<Vec<usize>>>) {
    (Arc::new(filled(100_000)), Arc::new((0..16).map(|k| cycle(2_900_000, 0x9e37_79b9 + k)).collect()))
}

/// `t` threads each making `n` random lookups among [`filled`]'s 100 000 ranges (hits);
/// how long they took together.
pub fn random_lookups(reg: &Arc<PinnedRegistry>, t: usize, n: u64) -> Duration {
    let reg = reg.clone();
    on_threads(t, move |k| {
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (k as u64 + 1);
        for _ in 0..n {
            let i = below(&mut x, 100_000);
            std::hint::black_box(reg.lookup(0x1000_0000 + i * STRIDE + 64, 256));
        }
    })
}

/// `t` threads each taking `n` steps through a private cycle of its own (the machine's
/// own scaling of dependent loads, sharing nothing); how long they took together.
pub fn private_chases(cycles: &Arc<Vec<Vec<usize>>>, t: usize, n: u64) -> Duration {
    let cycles = cycles.clone();
    on_threads(t, move |k| {
        let cycle = &cycles[k];
        let mut at = 0usize;
        for _ in 0..n {
            at = cycle[at];
        }
        std::hint::black_box(at);
    })
}
