//! pinguard's own memory: every allocation pinguard's code makes (Rust's global
//! allocator, in this library only) is served here, never by the C library's `malloc`.
//!
//! Why (issue 24): pinguard runs inside programs it did not write, in whatever context
//! they call CUDA from. A copy made by a signal handler that interrupted the program's
//! own `malloc` must not re-enter `malloc` (it crashed with "double free or corruption"
//! when a new site was built there); and memory pinguard cannot get must not abort the
//! program (Rust's allocation-failure handler aborts).
//!
//! - **Classes.** Sizes from 16 B to 64 KiB fall into 24 classes (steps of 1.5x or 2x,
//!   each a multiple of 16), each a free list of blocks under a spin lock. A class's
//!   blocks are cut, as they are needed, from 64 KiB slabs, themselves cut from 4 MiB
//!   regions mapped with `mmap` (untouched memory stays unbacked). A freed block goes
//!   back to its class, never to the system: pinguard's lasting memory is its sites,
//!   kept for the process's life, and the registry reuses what it frees.
//! - **Large blocks** (over 64 KiB) are mapped on their own and unmapped when freed.
//! - **Re-entry.** A thread that enters the allocator while inside it (a signal handler
//!   that interrupted it) cannot wait for its own lock: it takes memory from the reserve
//!   below, lock-free, and never gives it back.
//! - **No memory.** When the system refuses a mapping, the reserve (a static 1 MiB)
//!   serves, lock-free, and pinguard is starved ([`starved`]): from then on every hook
//!   passes its call through unchecked (counted), pinguard says so once, and the program
//!   runs on as it would without pinguard.
//! - **Fork.** The fork handlers hold every lock across `fork` ([`lock_for_fork`]).
//!
//! Nothing here makes a system call on a path that has memory at hand; only a new slab
//! region or a large block does.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::{Cell, UnsafeCell};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Block sizes, smallest first: each a multiple of 16, about 1.5x apart.
const CLASSES: [usize; 24] = [
    16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576,
    32768, 49152, 65536,
];
const SLAB: usize = 64 << 10;
const REGION: usize = 4 << 20;
const RESERVE: usize = 1 << 20;
const PAGE: usize = 4096;

/// A spin lock a fork handler can hold across `fork` and release in both processes.
struct Spin(AtomicBool);

impl Spin {
    const fn new() -> Self {
        Spin(AtomicBool::new(false))
    }
    fn lock(&self) {
        while self.0.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
    }
    fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// One class: its free list, and the part of its current slab not yet cut.
struct Class {
    lock: Spin,
    state: UnsafeCell<ClassState>,
}

struct ClassState {
    free: *mut u8,
    next: usize,
    end: usize,
}

// SAFETY: `state` is touched only under `lock`.
unsafe impl Sync for Class {}

/// Where new slabs come from: the current region's uncut part.
struct Regions {
    lock: Spin,
    next: UnsafeCell<usize>,
    end: UnsafeCell<usize>,
}

// SAFETY: `next` and `end` are touched only under `lock`.
unsafe impl Sync for Regions {}

#[repr(C, align(4096))]
struct Reserve(UnsafeCell<[u8; RESERVE]>);

// SAFETY: the reserve is handed out in disjoint pieces by an atomic bump offset.
unsafe impl Sync for Reserve {}

static CLASS: [Class; CLASSES.len()] =
    [const { Class { lock: Spin::new(), state: UnsafeCell::new(ClassState { free: null_mut(), next: 0, end: 0 }) } };
        CLASSES.len()];
static REGIONS: Regions = Regions { lock: Spin::new(), next: UnsafeCell::new(0), end: UnsafeCell::new(0) };
static RESERVED: Reserve = Reserve(UnsafeCell::new([0; RESERVE]));
static RESERVE_USED: AtomicUsize = AtomicUsize::new(0);
static STARVED: AtomicBool = AtomicBool::new(false);
/// Test builds only: after this many more mappings, mapping fails as if the system had
/// no memory left (`test_only_maps_left`, read at initialisation).
static MAPS_LEFT: AtomicU64 = AtomicU64::new(u64::MAX);

thread_local! {
    /// This thread is inside the allocator (a signal handler that interrupts it must not
    /// wait for the lock its own thread holds).
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Has pinguard run out of memory? Then it stops: every hook passes its call through.
pub fn starved() -> bool {
    STARVED.load(Ordering::Relaxed)
}

/// Test builds: let `n` more mappings succeed, then refuse them.
pub fn fail_mappings_after(n: u64) {
    MAPS_LEFT.store(n, Ordering::Relaxed);
}

/// `mmap` of `len` fresh bytes, or null (and pinguard starved) if the system refuses.
fn map(len: usize) -> *mut u8 {
    let left = MAPS_LEFT.load(Ordering::Relaxed);
    if left != u64::MAX && (left == 0 || MAPS_LEFT.fetch_sub(1, Ordering::Relaxed) == 0) {
        STARVED.store(true, Ordering::Relaxed);
        return null_mut();
    }
    // SAFETY: an anonymous private mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    if p == libc::MAP_FAILED {
        STARVED.store(true, Ordering::Relaxed);
        return null_mut();
    }
    p.cast()
}

/// A piece of the reserve (lock-free), or null when it is used up.
fn from_reserve(size: usize, align: usize) -> *mut u8 {
    let base = RESERVED.0.get() as usize;
    let mut used = RESERVE_USED.load(Ordering::Relaxed);
    loop {
        let start = (base + used).next_multiple_of(align.max(16)) - base;
        let Some(end) = start.checked_add(size).filter(|&e| e <= RESERVE) else {
            return null_mut();
        };
        match RESERVE_USED.compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return (base + start) as *mut u8,
            Err(now) => used = now,
        }
    }
}

fn in_reserve(p: *mut u8) -> bool {
    let base = RESERVED.0.get() as usize;
    (base..base + RESERVE).contains(&(p as usize))
}

/// The class for a block of `size` bytes aligned to `align`: the smallest that holds it
/// and whose size is a multiple of the alignment (blocks are cut at multiples of their
/// size from 64 KiB-aligned slabs).
fn class_of(size: usize, align: usize) -> Option<usize> {
    CLASSES.iter().position(|&c| c >= size && c.is_multiple_of(align))
}

/// A new 64 KiB-aligned slab, cut from the current region (a new region when it is
/// used up); null when the system refuses memory.
fn new_slab() -> *mut u8 {
    REGIONS.lock.lock();
    // SAFETY: under the regions lock.
    let (next, end) = unsafe { (&mut *REGIONS.next.get(), &mut *REGIONS.end.get()) };
    if *next + SLAB > *end {
        // Over-map so that the region can start at a slab boundary.
        let p = map(REGION + SLAB) as usize;
        if p == 0 {
            REGIONS.lock.unlock();
            return null_mut();
        }
        *next = p.next_multiple_of(SLAB);
        *end = p + REGION + SLAB;
    }
    let slab = *next;
    *next += SLAB;
    REGIONS.lock.unlock();
    slab as *mut u8
}

/// A block of class `i`, or null.
///
/// # Safety
/// Called with this thread not already inside the allocator.
unsafe fn take(i: usize) -> *mut u8 {
    let class = &CLASS[i];
    class.lock.lock();
    // SAFETY: under the class lock.
    let s = unsafe { &mut *class.state.get() };
    let block = if !s.free.is_null() {
        let b = s.free;
        // SAFETY: a free block's first word holds the next free block (written by give).
        s.free = unsafe { b.cast::<*mut u8>().read() };
        b
    } else {
        if s.next + CLASSES[i] > s.end {
            let slab = new_slab() as usize;
            if slab == 0 {
                class.lock.unlock();
                return null_mut();
            }
            // A slab holds at least one block: the largest class is a slab.
            s.next = slab;
            s.end = slab + SLAB;
        }
        let b = s.next as *mut u8;
        s.next += CLASSES[i];
        b
    };
    class.lock.unlock();
    block
}

/// Gives a block of class `i` back.
///
/// # Safety
/// `block` came from [`take`] for class `i` and is not used again; called with this
/// thread not already inside the allocator.
unsafe fn give(i: usize, block: *mut u8) {
    let class = &CLASS[i];
    class.lock.lock();
    // SAFETY: under the class lock; the block is ours again and at least 16 bytes.
    unsafe {
        let s = &mut *class.state.get();
        block.cast::<*mut u8>().write(s.free);
        s.free = block;
    }
    class.lock.unlock();
}

/// A large block: its own mapping, aligned as asked (a larger alignment than a page
/// trims the mapping's ends).
fn large(size: usize, align: usize) -> *mut u8 {
    let len = size.next_multiple_of(PAGE);
    if align <= PAGE {
        return map(len);
    }
    let p = map(len + align) as usize;
    if p == 0 {
        return null_mut();
    }
    let start = p.next_multiple_of(align);
    // SAFETY: unmapping the parts of our own fresh mapping before and after the block.
    unsafe {
        if start > p {
            libc::munmap(p as *mut libc::c_void, start - p);
        }
        let tail = start + len;
        if p + len + align > tail {
            libc::munmap(tail as *mut libc::c_void, p + len + align - tail);
        }
    }
    start as *mut u8
}

/// pinguard's global allocator (see the module's documentation).
pub struct PinguardMemory;

// SAFETY: every block handed out is at least `layout.size()` bytes, aligned to
// `layout.align()`, and disjoint from every other live block: class blocks are cut from
// disjoint slabs at multiples of a size that is a multiple of the alignment, large ones
// are their own mappings, reserve pieces are cut by an atomic offset. A block is reused
// only after `dealloc` gave it back (and reserve pieces never are).
unsafe impl GlobalAlloc for PinguardMemory {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size().max(1), layout.align());
        let Some(class) = class_of(size, align) else {
            let p = large(size, align);
            return if p.is_null() { from_reserve(size, align) } else { p };
        };
        let reentered = INSIDE.with(|i| i.replace(true));
        if reentered {
            return from_reserve(size, align);
        }
        // SAFETY: this thread was not inside the allocator (checked just above).
        let mut p = unsafe { take(class) };
        if p.is_null() {
            p = from_reserve(CLASSES[class], align);
        }
        INSIDE.with(|i| i.set(false));
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_reserve(ptr) {
            return;
        }
        let (size, align) = (layout.size().max(1), layout.align());
        let Some(class) = class_of(size, align) else {
            // SAFETY: a large block is its own mapping of this length (see `large`).
            unsafe { libc::munmap(ptr.cast(), size.next_multiple_of(PAGE)) };
            return;
        };
        if INSIDE.with(|i| i.replace(true)) {
            return; // a handler inside the allocator: the block is left, not lost twice
        }
        // SAFETY: the block came from this class (same layout) and is given back once.
        unsafe { give(class, ptr) };
        INSIDE.with(|i| i.set(false));
    }
}

/// Holds every lock across `fork` (the prepare handler): the child then finds them all
/// free and the lists whole.
pub fn lock_for_fork() {
    for c in &CLASS {
        c.lock.lock();
    }
    REGIONS.lock.lock();
}

/// Releases what [`lock_for_fork`] took (the parent's and the child's handlers).
pub fn unlock_after_fork() {
    REGIONS.lock.unlock();
    for c in &CLASS {
        c.lock.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_hold_their_blocks_aligned() {
        for (size, align) in [(1, 1), (16, 16), (17, 8), (24, 8), (100, 64), (4000, 4096), (65536, 16)] {
            let c = class_of(size, align).unwrap();
            assert!(CLASSES[c] >= size && CLASSES[c].is_multiple_of(align), "{size} {align}");
        }
        assert_eq!(class_of(65537, 8), None);
        assert!(CLASSES.windows(2).all(|w| w[0] < w[1] && w[1] % 16 == 0));
        assert!(SLAB.is_multiple_of(*CLASSES.last().unwrap()));
    }

    /// Blocks of every class and large ones: writable, aligned, disjoint, reused once
    /// given back; the reserve answers a thread already inside.
    #[test]
    fn blocks_are_aligned_disjoint_and_reused() {
        let m = PinguardMemory;
        let mut held = Vec::new();
        let layouts =
            [(8usize, 8usize), (40, 16), (1000, 64), (5000, 4096), (100_000, 8), (200_000, 65536), (40_000, 16)];
        for &(size, align) in &layouts {
            for _ in 0..50 {
                let l = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a valid layout; the block is written within its size.
                let p = unsafe { m.alloc(l) };
                assert!(!p.is_null() && (p as usize).is_multiple_of(align), "{size} {align}");
                // SAFETY: the block is ours, `size` bytes.
                unsafe { p.write_bytes(0xab, size) };
                held.push((p as usize, l));
            }
        }
        let mut spans: Vec<(usize, usize)> = held.iter().map(|(p, l)| (*p, *p + l.size())).collect();
        spans.sort();
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlapping blocks");
        // The 48 KiB class, which nothing else in the tests uses: its freed block is the
        // next one it hands out.
        let (p, l) = *held.last().unwrap();
        // SAFETY: given back once, with its layout.
        unsafe { m.dealloc(p as *mut u8, l) };
        // SAFETY: a valid layout.
        let again = unsafe { m.alloc(l) };
        assert_eq!(again as usize, p, "a freed block is the next one of its class");
        INSIDE.with(|i| i.set(true));
        // SAFETY: a valid layout; taken from the reserve.
        let r = unsafe { m.alloc(Layout::from_size_align(64, 16).unwrap()) };
        INSIDE.with(|i| i.set(false));
        assert!(in_reserve(r));
    }
}
