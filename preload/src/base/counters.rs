//! The summary counters (declared once, in `pinguard_core::summary`), kept per thread: a
//! copy writes only its own thread's block, so no cache line is shared between threads
//! on the hot path; the summary adds the blocks up.
//!
//! Blocks live in a list that only grows (a block per thread that ever counted, reused
//! once its thread has ended), so the exit path can read every count without a lock
//! and without allocating.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use pinguard_core::site_table::ShardWriter;
use pinguard_core::summary::{Counter, SummaryCounts};

use crate::base::spin::SpinLock;
use crate::base::thread_key::ThreadKey;

/// One thread's counts.
pub struct Block {
    counts: [AtomicU64; Counter::COUNT],
    /// Odd while the owning thread is inside a report line (see `finish`): bumped on
    /// the way in and on the way out.
    report_seq: AtomicU64,
    in_use: AtomicBool,
    next: AtomicPtr<Block>,
    /// This block's place in the order blocks were made (the shared one's is 0): names
    /// the site-totals shard its threads add to (`Site::add`), so that threads holding
    /// blocks at the same time add to different shards, each alone in its shard where
    /// the block is among the first made.
    index: usize,
    /// Tests only: how often the block was given back (another test's thread may take it
    /// again at once, so `in_use` alone cannot show that it was).
    #[cfg(test)]
    released: AtomicU64,
}

/// Blocks made so far, the shared one included.
static BLOCKS_MADE: AtomicUsize = AtomicUsize::new(1);

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
            index: 0,
            #[cfg(test)]
            released: AtomicU64::new(0),
        }
    }

    /// How this block's thread adds to a site's totals: the block's number, so a sole
    /// writer of its shard for the first blocks made (one thread holds a block at a time,
    /// and the gate keeps a thread from re-entering pinguard, a signal handler's calls
    /// included); the shared block (many threads at once) adds as a shared writer.
    pub fn shard(&self) -> ShardWriter {
        match self.index {
            0 => ShardWriter::shared(),
            n => ShardWriter::numbered(n - 1),
        }
    }

    pub fn add(&self, c: Counter, n: u64) {
        self.add_to(&self.counts[c as usize], n, Ordering::Relaxed);
    }

    /// Adds `n` to one of this block's words, the store ordered by `order`. Only the
    /// owning thread writes its block, so a load and a store suffice; the shared block
    /// (rare: threads being torn down) has several writers and takes an atomic add.
    #[inline(always)]
    fn add_to(&self, word: &AtomicU64, n: u64, order: Ordering) {
        if std::ptr::eq(self, &SHARED) {
            word.fetch_add(n, order);
        } else {
            word.store(word.load(Ordering::Relaxed) + n, order);
        }
    }
}

/// This thread's pinguard state, in one thread-local (a thread-local of a shared library
/// costs a call to reach, so the hot path reaches this one once per hook): whether the
/// thread is inside pinguard (see `gate::Frame`) and its counter block.
pub struct Here {
    pub in_frame: Cell<bool>,
    /// The thread's per-thread registrations are made (see `gate::prepare_thread`).
    pub prepared: Cell<bool>,
    block: Cell<*const Block>,
}

/// Releases a thread's block for reuse when the thread ends (its counts stay), through a
/// [`ThreadKey`]: a Rust thread-local destructor is not safe here (see `thread_key`). Key
/// destructors never run in `exit`, so the thread that exits keeps its block through the
/// summary.
extern "C" fn release_block(p: *mut libc::c_void) {
    let b = p as *const Block;
    if b.is_null() {
        return;
    }
    // SAFETY: the key's values are blocks, which are never freed.
    let b = unsafe { &*b };
    #[cfg(test)]
    b.released.fetch_add(1, Ordering::Relaxed);
    b.in_use.store(false, Ordering::Release);
    let _ = HERE.try_with(|h| h.block.set(std::ptr::null()));
}

/// The key whose destructor releases a thread's block (without one, blocks are kept for
/// good).
static OWNER: ThreadKey = ThreadKey::new(release_block);

thread_local! {
    static HERE: Here = const {
        Here {
            in_frame: Cell::new(false),
            prepared: Cell::new(false),
            block: Cell::new(std::ptr::null()),
        }
    };
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
        OWNER.set(fresh as *const Block as *const libc::c_void);
        self.block.set(fresh);
        fresh
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
    let b: &'static Block =
        Box::leak(Box::new(Block { index: BLOCKS_MADE.fetch_add(1, Ordering::Relaxed), ..Block::new() }));
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

/// Counts `n` events in the shared block (an atomic add): for paths that may run where
/// this thread's block cannot be reached or made (the exit path, a thread's teardown).
pub fn add_shared(c: Counter, n: u64) {
    SHARED.add(c, n);
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
    // Gauges, not sums: what is pinned now (at the summary: at exit) and at most.
    (s.pinned_at_exit, s.pinned_peak) = crate::base::pinned::pinned_bytes();
    s
}

impl Block {
    /// Marks the start of a report line (SeqCst: the summary's `closing` check that
    /// follows must not be reordered before it).
    pub fn enter_report(&self) {
        self.report_seq.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks its end: on a thread's own block a store, not a locked add ([`Block::add_to`]).
    /// Release: the summary, which waits for the sequence to change, then sees everything
    /// the report wrote; the end needs no order against later loads, as the start does.
    pub fn leave_report(&self) {
        self.add_to(&self.report_seq, 1, Ordering::Release);
    }

    /// Is the owning thread inside a report line now?
    pub fn in_report(&self) -> bool {
        self.report_seq.load(Ordering::SeqCst) % 2 == 1
    }
}

/// The block this thread holds (through the summary too: `exit` never runs the key
/// destructor that gives it back); `None` if it has none.
fn this_threads_block() -> Option<&'static Block> {
    let held = HERE.try_with(|h| h.block.get()).ok()?;
    // SAFETY: blocks are never freed.
    unsafe { held.as_ref() }
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
pub(crate) mod tests {
    use super::*;

    /// `exit` runs the exiting thread's thread-local destructors before pinguard's
    /// summary. A signal handler that calls `exit` in the middle of a report line must
    /// still hold its block there and be known to be inside the line, or the summary
    /// waits out its whole grace for a line that can never end (measured: the exit held
    /// open 20 to 200 ms, every time). When the thread has ended, its block is free again,
    /// and the next thread to take it starts outside a report line.
    #[test]
    fn a_thread_in_its_exit_destructors_still_knows_its_report() {
        struct InExit(std::sync::mpsc::Sender<(bool, bool)>);
        impl Drop for InExit {
            fn drop(&mut self) {
                // What `exit` runs on the thread that calls it.
                let held = HERE.with(|h| !h.block.get().is_null());
                let under_way = reports_under_way::<64>().into_iter().flatten().count();
                let _ = self.0.send((held && this_thread_in_report(), under_way == 0));
            }
        }
        thread_local! { static GUARD: Cell<Option<InExit>> = const { Cell::new(None) }; }
        let (tx, rx) = std::sync::mpsc::channel();
        let (btx, brx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            GUARD.with(|g| g.set(Some(InExit(tx))));
            let b = mine();
            let _ = btx.send((b as *const Block as usize, b.released.load(Ordering::Relaxed)));
            b.enter_report(); // and never left: exit came
        })
        .join()
        .unwrap();
        let (knows, not_waited_for) = rx.recv().unwrap();
        assert!(knows, "the thread no longer knew it was inside a report");
        assert!(not_waited_for, "the summary would wait for the thread's own report");
        let (ended, released_before) = brx.recv().unwrap();
        // SAFETY: blocks are never freed.
        let ended = unsafe { &*(ended as *const Block) };
        // Counted, not read from `in_use`: a thread of another test may take the block
        // again the moment it is free, and give it back too (this check, reading
        // `in_use`, failed so in about 1 run of 10 of the library's tests).
        assert!(ended.released.load(Ordering::Relaxed) > released_before, "the ended thread's block was not released");
        let fresh = std::thread::spawn(|| mine().in_report()).join().unwrap();
        assert!(!fresh, "a reused block kept the ended thread's odd sequence");
    }

    // Calls of glibc's `__cxa_thread_atexit_impl` (how a thread-local with a destructor
    // registers it, on the thread's first access) made by this thread of the test binary,
    // counted by an interposer that forwards to glibc's.
    thread_local! {
        static THREAD_ATEXIT_CALLS: Cell<usize> = const { Cell::new(0) };
        static UNMASKED_CALLS: Cell<usize> = const { Cell::new(0) };
    }

    /// This thread's count of registrations made while SIGTERM could be delivered.
    pub(crate) fn unmasked_registrations() -> usize {
        UNMASKED_CALLS.with(Cell::get)
    }

    /// This thread's count of registrations.
    pub(crate) fn registrations() -> usize {
        THREAD_ATEXIT_CALLS.with(Cell::get)
    }

    type ThreadAtexit = unsafe extern "C" fn(
        unsafe extern "C" fn(*mut libc::c_void),
        *mut libc::c_void,
        *mut libc::c_void,
    ) -> libc::c_int;

    /// # Safety
    /// Called by the C++/Rust runtimes exactly as glibc's function is; forwards unchanged.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn __cxa_thread_atexit_impl(
        dtor: unsafe extern "C" fn(*mut libc::c_void),
        obj: *mut libc::c_void,
        dso: *mut libc::c_void,
    ) -> libc::c_int {
        THREAD_ATEXIT_CALLS.with(|c| c.set(c.get() + 1));
        // SAFETY: sigset_t is plain C data; pthread_sigmask only writes `now`.
        let blocked = unsafe {
            let mut now: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut now);
            libc::sigismember(&now, libc::SIGTERM) == 1
        };
        if !blocked {
            UNMASKED_CALLS.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: RTLD_NEXT and a NUL-terminated name; glibc defines the function.
        let real = unsafe { crate::base::symbols::lookup(libc::RTLD_NEXT, c"__cxa_thread_atexit_impl") };
        assert!(!real.is_null(), "glibc's __cxa_thread_atexit_impl not found");
        // SAFETY: glibc's function has exactly this signature.
        let real: ThreadAtexit = unsafe { std::mem::transmute(real) };
        // SAFETY: forwarded as received.
        unsafe { real(dtor, obj, dso) }
    }

    /// A thread's first hooked call takes its counter block. That must not register a
    /// thread-local destructor: registering one (`__cxa_thread_atexit_impl`) takes a
    /// lock and edits a list, and a signal handler that calls `exit` in the middle of it
    /// makes `exit` walk the half-edited list and crash (seen on fakecuda under load: 1 run
    /// in about 300 of `sigterm_exit`, inside `__call_tls_dtors`, with pinguard's
    /// frames below).
    #[test]
    fn taking_a_block_registers_no_thread_local_destructor() {
        let (before, after) = std::thread::spawn(|| {
            with_here(|_| ()); // the thread-local itself (it has no destructor)
            let before = registrations();
            let _ = mine();
            (before, registrations())
        })
        .join()
        .unwrap();
        assert_eq!(after, before, "taking a block registered a thread-local destructor");
        // The check can fail: a thread-local with a destructor does register one.
        let registered = std::thread::spawn(|| {
            thread_local! { static WITH_DROP: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) }; }
            let before = registrations();
            WITH_DROP.with(|v| v.borrow_mut().push(1));
            registrations() - before
        })
        .join()
        .unwrap();
        assert_eq!(registered, 1, "the interposer does not see registrations");
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
