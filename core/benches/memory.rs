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
    // Forwarded as itself: the default would write the zeroes, and so touch every page of
    // a large zeroed allocation (the table's reservation where mapping is refused),
    // which calloc leaves untouched.
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// This process's resident memory, from /proc/self/statm (bytes).
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).unwrap_or(0) * 4096
}

fn main() {
    let n = 100_000usize;
    let before = LIVE.load(Ordering::Relaxed);
    let resident_before = resident();
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
    // The table's reservation is mapped whole (or allocated, where mapping is refused) but
    // touched only where used: count what it uses, and show the resident memory, which
    // says whether that is so.
    let (table_used, table_reserved, table_allocated) = reg.table_bytes();
    let heap = LIVE.load(Ordering::Relaxed) - starts_bytes - before;
    let tree = heap as usize - table_allocated;
    let resident_added = resident().saturating_sub(resident_before);
    let (height, nodes) = reg.shape();
    println!(
        "memory: {} ranges, {:.1} bytes per range (the tree {:.1}: {tree} bytes in {nodes} nodes, height {height}; the table {:.1}: {table_used} bytes used of {table_reserved} reserved); resident memory added {:.1} bytes per range",
        reg.len(),
        (tree + table_used) as f64 / reg.len() as f64,
        tree as f64 / reg.len() as f64,
        table_used as f64 / reg.len() as f64,
        resident_added as f64 / reg.len() as f64,
    );
}
