//! The summary counters (declared once, in `pinguard_core::summary`), kept per thread: a
//! copy writes only its own thread's block, so no cache line is shared between threads
//! on the hot path; the summary adds the blocks up.
//!
//! Blocks live in a list that only grows (a block per thread that ever counted, reused
//! once its thread has ended), so the exit path can read every count without a lock
//! and without allocating.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use pinguard_core::summary::{Counter, SummaryCounts};

use crate::spin::SpinLock;

/// One thread's counts.
pub struct Block {
    counts: [AtomicU64; Counter::COUNT],
    /// Odd while the owning thread is inside a report line (see `finish`): bumped on
    /// the way in and on the way out.
    report_seq: AtomicU64,
    in_use: AtomicBool,
    next: AtomicPtr<Block>,
}

static HEAD: AtomicPtr<Block> = AtomicPtr::new(std::ptr::null_mut());

/// Counts made where no thread block can be had (a thread being torn down).
static SHARED: Block = Block::new();

impl Block {
    const fn new() -> Self {
        Block {
            counts: [const { AtomicU64::new(0) }; Counter::COUNT],
            report_seq: AtomicU64::new(0),
            in_use: AtomicBool::new(true),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    pub fn add(&self, c: Counter, n: u64) {
        // Only the owning thread writes its block, so a load and a store suffice; the
        // shared block (rare) takes an atomic add.
        if std::ptr::eq(self, &SHARED) {
            self.counts[c as usize].fetch_add(n, Ordering::Relaxed);
        } else {
            let slot = &self.counts[c as usize];
            slot.store(slot.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        }
    }
}

/// This thread's pinguard state, in one thread-local (a thread-local of a shared library
/// costs a call to reach, so the hot path reaches this one once per hook): whether the
/// thread is inside pinguard (see `gate::Frame`) and its counter block.
pub struct Here {
    pub in_frame: Cell<bool>,
    block: Cell<*const Block>,
    /// The block this thread gave back when its thread-local destructors ran. `exit`
    /// runs the calling thread's before the summary, which must still know it.
    released: Cell<*const Block>,
}

/// Releases the thread's block for reuse when the thread ends (its counts stay).
/// Reached once per thread, when it takes its block, so the hot path never pays for it.
struct Owner(Cell<*const Block>);

impl Drop for Owner {
    fn drop(&mut self) {
        let b = self.0.get();
        if !b.is_null() {
            // SAFETY: blocks are never freed.
            unsafe { &*b }.in_use.store(false, Ordering::Release);
        }
        let _ = HERE.try_with(|h| {
            h.released.set(b);
            h.block.set(std::ptr::null());
        });
    }
}

thread_local! {
    static HERE: Here = const {
        Here { in_frame: Cell::new(false), block: Cell::new(std::ptr::null()), released: Cell::new(std::ptr::null()) }
    };
    static OWNER: Owner = const { Owner(Cell::new(std::ptr::null())) };
}

/// Runs `f` on this thread's state; `None` while the thread is being torn down.
pub fn with_here<R>(f: impl FnOnce(&Here) -> R) -> Option<R> {
    HERE.try_with(f).ok()
}

impl Here {
    /// This thread's counter block (the shared one while the thread is torn down).
    pub fn block(&self) -> &'static Block {
        let b = self.block.get();
        if !b.is_null() {
            // SAFETY: blocks are never freed.
            return unsafe { &*b };
        }
        let fresh = acquire();
        match OWNER.try_with(|o| o.0.set(fresh)) {
            Ok(()) => {
                self.block.set(fresh);
                fresh
            }
            Err(_) => {
                fresh.in_use.store(false, Ordering::Release);
                &SHARED
            }
        }
    }
}

fn all() -> impl Iterator<Item = &'static Block> {
    let mut p = HEAD.load(Ordering::Acquire);
    std::iter::from_fn(move || {
        // SAFETY: blocks are leaked, never freed, and published with Release.
        let b = unsafe { p.as_ref() }?;
        p = b.next.load(Ordering::Acquire);
        Some(b)
    })
    .chain(std::iter::once(&SHARED))
}

fn acquire() -> &'static Block {
    for b in all() {
        if !std::ptr::eq(b, &SHARED)
            && b.in_use.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            // A thread that ended inside a report line (exit or pthread_exit from a
            // signal handler) left the sequence odd: the new owner starts outside one.
            let seq = b.report_seq.load(Ordering::SeqCst);
            if seq % 2 == 1 {
                b.report_seq.store(seq + 1, Ordering::SeqCst);
            }
            return b;
        }
    }
    let b: &'static Block = Box::leak(Box::new(Block::new()));
    let mut head = HEAD.load(Ordering::Acquire);
    loop {
        b.next.store(head, Ordering::Relaxed);
        match HEAD.compare_exchange_weak(head, b as *const Block as *mut Block, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return b,
            Err(h) => head = h,
        }
    }
}

/// This thread's block (the shared one while the thread is being torn down).
pub fn mine() -> &'static Block {
    with_here(Here::block).unwrap_or(&SHARED)
}

/// Counts one event.
pub fn bump(c: Counter) {
    mine().add(c, 1);
}

/// The counts so far, summed over every thread (no lock, no allocation). The number of
/// unknown entry points is the length of their list.
pub fn snapshot() -> SummaryCounts {
    let mut s = SummaryCounts::default();
    for b in all() {
        for &c in Counter::ALL {
            s.add(c, b.counts[c as usize].load(Ordering::Relaxed));
        }
    }
    if let Some(seen) = UNKNOWN_VARIANTS.try_lock() {
        s.add(Counter::UnknownVariants, seen.len() as u64);
    }
    s
}

impl Block {
    /// Marks the start of a report line (SeqCst: the summary's `closing` check that
    /// follows must not be reordered before it).
    pub fn enter_report(&self) {
        self.report_seq.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks its end.
    pub fn leave_report(&self) {
        self.report_seq.fetch_add(1, Ordering::SeqCst);
    }

    /// Is the owning thread inside a report line now?
    pub fn in_report(&self) -> bool {
        self.report_seq.load(Ordering::SeqCst) % 2 == 1
    }
}

/// The block this thread holds, or the one it gave back at its end (see
/// [`Here::released`]); `None` if it never had one.
fn this_threads_block() -> Option<&'static Block> {
    let (held, released) = HERE.try_with(|h| (h.block.get(), h.released.get())).ok()?;
    let b = if held.is_null() { released } else { held };
    // SAFETY: blocks are never freed.
    unsafe { b.as_ref() }
}

/// Is this thread inside a report line now (a signal handler that interrupted one and
/// called `exit`, say)?
pub fn this_thread_in_report() -> bool {
    this_threads_block().is_some_and(Block::in_report)
}

/// The report lines other threads are inside now, as (block, sequence) pairs; at most
/// `N` (the rest are not waited for).
pub fn reports_under_way<const N: usize>() -> [Option<(&'static Block, u64)>; N] {
    let me = this_threads_block().map_or(std::ptr::null(), |b| b as *const Block);
    let mut out = [None; N];
    let mut n = 0;
    for b in all().filter(|b| !std::ptr::eq(*b, me) && !std::ptr::eq(*b, &SHARED)) {
        let seq = b.report_seq.load(Ordering::SeqCst);
        if seq % 2 == 1 && n < N {
            out[n] = Some((b, seq));
            n += 1;
        }
    }
    out
}

/// Has the report line that was at `seq` ended?
pub fn report_ended(b: &Block, seq: u64) -> bool {
    b.report_seq.load(Ordering::SeqCst) != seq
}

/// In a freshly forked child: its counts start from zero, and only the forking
/// thread's block is in use. Async-signal-safe: atomic stores only.
pub fn reset_in_child() {
    let me = HERE.try_with(|h| h.block.get()).unwrap_or(std::ptr::null());
    for b in all() {
        for slot in &b.counts {
            slot.store(0, Ordering::Relaxed);
        }
        b.report_seq.store(0, Ordering::Relaxed);
        if !std::ptr::eq(b, &SHARED) {
            b.in_use.store(std::ptr::eq(b, me), Ordering::Relaxed);
        }
    }
    // The unknown-variant list stays: it describes the (shared) address space.
}

/// Driver entry points handed out that pinguard has no wrapper for, as `name@version`,
/// keyed by the function's address. Locked only on that rare path and at exit.
pub static UNKNOWN_VARIANTS: SpinLock<Vec<(usize, String)>> = SpinLock::new(Vec::new());

/// Counts a distinct unknown entry point once, however often it is asked for.
pub fn note_unknown_variant(name: &str, version: i64, function: usize) {
    let mut seen = UNKNOWN_VARIANTS.lock();
    if !seen.iter().any(|(f, _)| *f == function) {
        let shown = if version > 0 { format!("{name}@{version}") } else { name.to_string() };
        seen.push((function, shown));
    }
}

/// Calls `f` with the unknown entry points' names, joined, without waiting on the lock
/// (never wait at exit on a lock a vanished thread may hold) and without allocating.
pub fn with_unknown_variant_names<R>(f: impl FnOnce(&str) -> R) -> R {
    let mut buf = pinguard_core::jsonl::FixedBuf::<512>::new();
    if let Some(seen) = UNKNOWN_VARIANTS.try_lock() {
        for (i, (_, name)) in seen.iter().enumerate() {
            use std::fmt::Write as _;
            let _ = write!(buf, "{}{name}", if i > 0 { ", " } else { "" });
        }
    }
    f(buf.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `exit` runs the exiting thread's thread-local destructors (giving its block back)
    /// before pinguard's summary. A signal handler that calls `exit` in the middle of a
    /// report line must still be known to be inside it, or the summary waits out its
    /// whole grace for a line that can never end (measured: the exit held open 20 to
    /// 200 ms, every time).
    #[test]
    fn a_thread_past_its_thread_local_destructors_still_knows_its_report() {
        struct AfterOwner(std::sync::mpsc::Sender<(bool, bool)>);
        impl Drop for AfterOwner {
            fn drop(&mut self) {
                // OWNER was dropped before this (destructors run in reverse order).
                let held = HERE.with(|h| h.block.get().is_null());
                let under_way = reports_under_way::<64>().into_iter().flatten().count();
                let _ = self.0.send((held && this_thread_in_report(), under_way == 0));
            }
        }
        thread_local! { static GUARD: Cell<Option<AfterOwner>> = const { Cell::new(None) }; }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            GUARD.with(|g| g.set(Some(AfterOwner(tx)))); // registered before OWNER
            let b = mine();
            b.enter_report(); // and never left: exit came
        })
        .join()
        .unwrap();
        let (knows, not_waited_for) = rx.recv().unwrap();
        assert!(knows, "the thread no longer knew it was inside a report");
        assert!(not_waited_for, "the summary would wait for the thread's own report");
        // The next thread to take that block starts outside a report line.
        let fresh = std::thread::spawn(|| mine().in_report()).join().unwrap();
        assert!(!fresh, "a reused block kept the ended thread's odd sequence");
    }

    #[test]
    fn threads_count_in_their_own_blocks_and_the_snapshot_adds_them_up() {
        let before = snapshot().small;
        let threads: Vec<_> =
            (0..8).map(|_| std::thread::spawn(|| (0..1000).for_each(|_| bump(Counter::Small)))).collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(snapshot().small - before, 8000);
        // Ended threads' blocks are reused, not multiplied.
        let blocks = all().count();
        let again: Vec<_> = (0..4).map(|_| std::thread::spawn(|| bump(Counter::Small))).collect();
        again.into_iter().for_each(|t| t.join().unwrap());
        assert!(all().count() <= blocks + 4);
        assert_eq!(snapshot().small - before, 8004);
    }
}
