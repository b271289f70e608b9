//! Memory per pinned range: a counting allocator around the registry at 100 000 ranges
//! (`cargo bench -p pinguard-core --bench memory`; prints one line).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use pinguard_core::registry::{PinOrigin, PinnedRange, PinnedRegistry};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, counting live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    let n = 100_000usize;
    let before = LIVE.load(Ordering::Relaxed);
    let reg = PinnedRegistry::new();
    // Pinned in a mixed order, as programs do, with some released again.
    let mut x = 1u64;
    let mut starts = Vec::with_capacity(n);
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let start = 0x1000_0000 + ((i * 7919) % n) * 8192;
        starts.push(start);
        reg.insert(PinnedRange::new(start, 4096, PinOrigin::Registered).unwrap());
    }
    let starts_bytes = (starts.capacity() * std::mem::size_of::<usize>()) as isize;
    let after = LIVE.load(Ordering::Relaxed) - starts_bytes;
    let (height, nodes) = reg.shape();
    println!(
        "memory: {} ranges, {:.1} bytes per range ({} bytes in {} nodes, height {height})",
        reg.len(),
        (after - before) as f64 / reg.len() as f64,
        after - before,
        nodes
    );
}
