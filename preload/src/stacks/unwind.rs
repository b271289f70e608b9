//! A caching unwinder for the finding path: each frame costs a table probe and one or two
//! loads, instead of the C library unwinder's search and interpretation of the unwind
//! tables on every frame (about 1 300 instructions a frame).
//!
//! - [`RULES`]: a fixed table from code address to [`frame_rule::FrameRule`] (packed),
//!   filled the first time an address is seen ([`frame_rule::rule_for`]), lock-free,
//!   never emptied.
//! - [`walk_unless_noted`]: steps from pinguard's own frame to the callers with those rules. Every
//!   load is checked against this thread's stack bounds first. A frame whose rule it does
//!   not keep, or a stack outside the thread's bounds (a signal stack, a coroutine),
//!   returns [`Walked::NotHere`], and the caller walks that stack with the C library's
//!   unwinder: the same stack always takes the same path, so it always gets the same key.
//! - [`LastWalk`]: each thread's last complete walk, replayed when a walk starts where it
//!   did and every stack word it read still holds (the hot pageable loop: a few
//!   comparisons per frame instead of a probe and a step). A caller may [`attach`] a
//!   [`Note`] to it (the site its stack belongs to), handed back with every replay. It
//!   lives outside the thread-local (mapped at the thread's first walk, handed back
//!   when the thread ends): glibc carves every library's static TLS out of each thread's
//!   stack, and 4 KiB of it there took that much of every thread's stack, walking or not.
//!
//! Known limit: a rule is kept by address for the life of the process. If a library is
//! unloaded and another one is loaded at the same address, its frames are stepped with
//! the old library's rules (and a kept walk through it replayed): the bounds checks keep
//! every load inside the thread's stack, but that stack can come out wrong.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, compiler_fence};

use crate::base::thread_key::ThreadKey;
use crate::stacks::frame_rule;

/// Slots in the rule table: distinct code addresses kept (16 bytes each).
const SLOTS: usize = 8192;
/// Marks a slot whose rule is being written.
const BUSY: usize = 1 << 63;

struct Slot {
    address: AtomicUsize,
    rule: AtomicU64,
}

static RULES: [Slot; SLOTS] = [const { Slot { address: AtomicUsize::new(0), rule: AtomicU64::new(0) } }; SLOTS];

/// The packed rule ([`frame_rule::FrameRule::pack`]) for a code address: from its first
/// slot in the table (the hot path: one probe), or [`rule_word_slow`].
#[inline(always)]
fn rule_word_at(address: usize) -> u64 {
    let start = address.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 51; // 13 bits: SLOTS
    let slot = &RULES[start];
    if slot.address.load(Ordering::Acquire) == address {
        let word = slot.rule.load(Ordering::Relaxed);
        if word != 0 {
            return word;
        }
    }
    rule_word_slow(address, start)
}

/// The rule from a later slot, or read from the unwind tables and kept.
#[cold]
#[inline(never)]
fn rule_word_slow(address: usize, start: usize) -> u64 {
    for probe in 0..16 {
        let slot = &RULES[(start + probe) % SLOTS];
        let kept = slot.address.load(Ordering::Acquire);
        if kept == address {
            let word = slot.rule.load(Ordering::Relaxed);
            if word != 0 {
                return word;
            }
        }
        if kept == address | BUSY {
            return frame_rule::rule_for(address).pack(); // being kept by another thread
        }
        if kept == 0 {
            let word = frame_rule::rule_for(address).pack();
            if slot.address.compare_exchange(0, address | BUSY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                slot.rule.store(word, Ordering::Relaxed);
                slot.address.store(address, Ordering::Release);
            }
            return word;
        }
    }
    // The neighbourhood is full: read the rule every time (slow, still exact).
    frame_rule::rule_for(address).pack()
}

/// The most return addresses and stack words one walk may pass and read and still be
/// kept for replay (a deeper walk is simply not kept).
const MAX_KEPT_IPS: usize = 96;
const MAX_KEPT_LOADS: usize = 2 * MAX_KEPT_IPS;

/// This thread's last complete walk: where it started, every stack word it read (address
/// and value) and every return address it passed to `keep`.
///
/// A walk is a function of its start (the instruction pointer inside [`walk`], fixed; the
/// stack pointer; the frame pointer, if a rule used it before reloading it from the
/// stack), of the rules (kept by address, never changed) and of the stack words it
/// reads. So if a new walk starts at the same stack pointer (and frame pointer, where it
/// was used) and every word the last walk read still holds the value it read, the new
/// walk would read the same words and find the same return addresses: those are replayed
/// instead. A loop that copies from the same place, the hot pageable loop, starts every
/// walk at the same stack pointer; a walk from anywhere else reads at least one word that
/// differs (a return address) and is walked afresh.
///
/// Laid out in the order a replay reads it (`repr(C)`): what it tests first, then the
/// loads, then the addresses, which a replay whose note suffices never reads. Left to
/// the compiler, the note came first, the lengths and the id 3 KiB further on, past the
/// loads: a noted replay of a ten-load stack touched seven cache lines of the walker,
/// and touches five (a test holds the order). Not yet measured on the GPU host, where a finding's lines
/// come back cold after the driver's copy.
#[repr(C, align(64))]
struct LastWalk {
    kept: bool,
    bp_used: bool,
    sp: usize,
    bp: usize,
    loads_len: usize,
    ips_len: usize,
    /// Counts this thread's recordings: names the walk kept now, so that a note meant
    /// for one kept walk is never attached to a later one.
    id: u64,
    /// What a caller attached to the kept walk; cleared by every recording.
    note: Option<Note>,
    loads: [(usize, usize); MAX_KEPT_LOADS],
    ips: [usize; MAX_KEPT_IPS],
}

/// Two words of the caller's (`tag`: what the note is about) and one it looks up by them
/// (`value`), kept beside this thread's kept walk and handed back while that walk
/// replays: a replay passes exactly the return addresses the kept walk passed, so
/// whatever the caller derived from those addresses alone still holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note {
    pub tag: [u64; 2],
    pub value: usize,
}

/// The kept walk that a walk equals (it replayed it, or was kept as it): its id, and the
/// note attached to it, if any.
#[derive(Clone, Copy, Debug)]
pub struct Kept {
    id: u64,
    pub note: Option<Note>,
}

/// A walk's end, and the kept walk it equals (`None`: walked without being kept, a walk
/// inside a walk, or too deep to keep).
#[derive(Debug)]
pub struct Walk {
    pub how: Walked,
    pub kept: Option<Kept>,
}

/// This thread's unwinding state, in one thread-local (each costs a call to reach). Small
/// on purpose: it sits in every thread's stack (see the module's notes).
#[repr(C)]
struct Walker {
    /// A walk is running on this thread (a signal handler that walks meanwhile walks
    /// without the kept walk, and leaves it alone).
    busy: bool,
    /// This thread's stack, `[low, high)`; `(0, 0)` until first needed, `(1, 1)` if unknown.
    bounds: (usize, usize),
    /// This thread's kept walk: null until its first walk, and if no memory (or no
    /// thread key to hand it back with) was to be had; then walks are not kept.
    last: *mut LastWalk,
}

thread_local! {
    static WALKER: UnsafeCell<Walker> =
        const { UnsafeCell::new(Walker { bounds: (0, 0), busy: false, last: std::ptr::null_mut() }) };
}

impl LastWalk {
    const EMPTY: LastWalk = LastWalk {
        kept: false,
        sp: 0,
        bp: 0,
        bp_used: false,
        loads: [(0, 0); MAX_KEPT_LOADS],
        loads_len: 0,
        ips: [0; MAX_KEPT_IPS],
        ips_len: 0,
        id: 0,
        note: None,
    };
}

/// Hands a thread's kept walk back when the thread ends.
static LAST_WALK_OWNER: ThreadKey = ThreadKey::new(release_last_walk);

extern "C" fn release_last_walk(p: *mut std::ffi::c_void) {
    let _ = WALKER.try_with(|w| {
        // SAFETY: this thread's own walker; the thread is ending, so no walk runs.
        let w = unsafe { &mut *w.get() };
        if w.last == p as *mut LastWalk {
            w.last = std::ptr::null_mut();
        }
    });
    // SAFETY: the key's values are mappings `kept_walk` made of this size, each handed to
    // the key once and unmapped once, here.
    unsafe { libc::munmap(p, std::mem::size_of::<LastWalk>()) };
}

/// This thread's kept walk, mapped on first use (a page of its own: `mmap` takes no lock
/// a signal handler could find held, where pinguard's allocator spins on one; the walk
/// runs wherever a copy is made, a handler that then calls `exit` included); `None`
/// without memory or a key to hand it back with, and then walks go unkept.
fn kept_walk(walker: &mut Walker) -> Option<&mut LastWalk> {
    if walker.last.is_null() {
        // Without a key nothing could hand the page back: no mapping at all then (and no
        // map-and-unmap at every walk).
        LAST_WALK_OWNER.key()?;
        const PROT: libc::c_int = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a fresh private anonymous mapping; no memory of ours is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<LastWalk>(),
                PROT,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        let p = p as *mut LastWalk;
        // SAFETY: a fresh mapping, page-aligned and at least LastWalk's size.
        unsafe { p.write(LastWalk::EMPTY) };
        if !LAST_WALK_OWNER.set(p as *const std::ffi::c_void) {
            // SAFETY: just mapped with this size, never shared.
            unsafe { libc::munmap(p as *mut std::ffi::c_void, std::mem::size_of::<LastWalk>()) };
            return None;
        }
        walker.last = p;
    }
    // SAFETY: non-null: this thread's own kept walk, live until the thread ends.
    unsafe { walker.last.as_mut() }
}

fn stack_bounds_of_thread() -> (usize, usize) {
    // SAFETY: pthread_attr_t is plain C data, initialised by pthread_getattr_np before
    // any read; getstack writes two plain values; the attr is destroyed once, after use.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            (1, 1)
        } else {
            let (mut addr, mut size) = (std::ptr::null_mut(), 0usize);
            let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            if got == 0 && !addr.is_null() { (addr as usize, addr as usize + size) } else { (1, 1) }
        }
    }
}

/// The bytes of this thread's stack left below the caller's frame; `None` where they
/// cannot be told (a thread being torn down, a stack whose bounds are unknown: a signal
/// handler's alternate stack, say).
pub fn stack_room() -> Option<usize> {
    let sp: usize;
    // SAFETY: reads the stack pointer into a register; touches no memory and no flags.
    unsafe { std::arch::asm!("mov {sp}, rsp", sp = out(reg) sp, options(nomem, nostack, preserves_flags)) };
    let walker = WALKER.try_with(|w| w.get()).ok()?;
    // SAFETY: the walker is this thread's own; the bounds are written once per thread,
    // with the same value by whichever reader comes first (as in `walk_unless_noted`).
    let walker = unsafe { &mut *walker };
    if walker.bounds.0 == 0 {
        walker.bounds = stack_bounds_of_thread();
    }
    let (low, high) = walker.bounds;
    (low..high).contains(&sp).then(|| sp - low)
}

/// How a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walked {
    /// Every frame was passed to `keep`, up to the outermost or until `keep` stopped.
    Done,
    /// The same as [`Walked::Done`], by replaying this thread's last walk (see
    /// [`LastWalk`]): the same return addresses, without stepping through the rules.
    Replayed,
    /// A replay whose note was enough ([`walk_unless_noted`]): no return address was
    /// passed on.
    Noted,
    /// This stack needs the C library's unwinder.
    NotHere,
}

/// A word of this thread's stack, if `[at, at + 8)` lies within `[low, high)`.
fn load(at: usize, low: usize, high: usize) -> Option<usize> {
    if at < low || at.checked_add(8)? > high || !at.is_multiple_of(8) {
        return None;
    }
    // SAFETY: [at, at + 8) is aligned and inside this thread's stack, which is mapped
    // for the thread's life; the stack only ever grows below the current frame.
    Some(unsafe { (at as *const usize).read_volatile() })
}

/// Walks this thread's stack from the caller of `walk`. `keep(ip)` is called with every
/// return address, innermost first (the first is inside `walk`'s caller), and returns
/// false to stop. Only what the rules allow is read.
#[cfg(test)]
#[inline(always)]
pub fn walk(keep: impl FnMut(usize) -> bool) -> Walk {
    walk_unless_noted(keep, |_| false)
}

/// [`walk`], except that a replay whose kept walk has a note that `enough` accepts passes
/// no return address to `keep` ([`Walked::Noted`]): the caller derived what it needs
/// from those addresses when it attached the note.
#[inline(never)]
pub fn walk_unless_noted(mut keep: impl FnMut(usize) -> bool, enough: impl Fn(&Note) -> bool) -> Walk {
    const NOT_HERE: Walk = Walk { how: Walked::NotHere, kept: None };
    let (ip, sp, bp): (usize, usize, usize);
    // SAFETY: reads the instruction pointer, stack pointer and frame pointer into
    // registers; touches no memory and no flags.
    unsafe {
        std::arch::asm!(
            "lea {ip}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            ip = out(reg) ip, sp = out(reg) sp, bp = out(reg) bp,
            options(nomem, nostack, preserves_flags)
        );
    }
    let Ok(walker) = WALKER.try_with(|w| w.get()) else {
        return NOT_HERE; // the thread is being torn down
    };
    // SAFETY: the walker is this thread's own and only `walk` reaches it; `busy` keeps a
    // walk that interrupts this one (a signal handler's) off `last`, and the bounds are
    // written once per thread, before any read, by whichever walk comes first.
    let walker = unsafe { &mut *walker };
    if walker.bounds.0 == 0 {
        walker.bounds = stack_bounds_of_thread();
    }
    let (low, high) = walker.bounds;
    if !(low..high).contains(&sp) {
        return NOT_HERE;
    }
    if walker.busy {
        return Walk { how: step(Start { ip, sp, bp, high }, &mut keep, None), kept: None };
    }
    walker.busy = true;
    let Some(last) = kept_walk(walker) else {
        let how = step(Start { ip, sp, bp, high }, &mut keep, None);
        walker.busy = false;
        return Walk { how, kept: None };
    };
    let walk = if last.replays(sp, bp) {
        let kept = Some(Kept { id: last.id, note: last.note });
        if last.note.as_ref().is_some_and(&enough) {
            Walk { how: Walked::Noted, kept }
        } else {
            for &ip in &last.ips[..last.ips_len] {
                if !keep(ip) {
                    break;
                }
            }
            Walk { how: Walked::Replayed, kept }
        }
    } else {
        let how = step(Start { ip, sp, bp, high }, &mut keep, Some(last));
        Walk { how, kept: last.kept.then_some(Kept { id: last.id, note: None }) }
    };
    walker.busy = false;
    walk
}

/// Attaches `note` to this thread's kept walk, if that is still the walk `kept` names:
/// every later replay of it hands the note back. A walk recorded in between (by a signal
/// handler, say) has another id and stays without a note.
pub fn attach(kept: Kept, note: Note) {
    let Ok(walker) = WALKER.try_with(|w| w.get()) else {
        return; // the thread is being torn down
    };
    // SAFETY: the walker is this thread's own. `busy` is set before the check and the
    // write (the fences keep them in that order), so a signal handler that walks in
    // between leaves `last` alone; one that walked before it was set recorded a walk
    // with another id, and the check fails.
    let walker = unsafe { &mut *walker };
    if walker.busy {
        return; // inside a walk: this is a signal handler's call
    }
    walker.busy = true;
    compiler_fence(Ordering::SeqCst);
    // SAFETY: null, or this thread's own kept walk (not being walked: `busy` was clear).
    if let Some(last) = unsafe { walker.last.as_mut() }
        && last.kept
        && last.id == kept.id
    {
        last.note = Some(note);
    }
    compiler_fence(Ordering::SeqCst);
    walker.busy = false;
}

impl LastWalk {
    /// Would a walk from `sp` (and `bp`) read exactly what the last one read?
    #[inline]
    fn replays(&self, sp: usize, bp: usize) -> bool {
        self.kept
            && self.sp == sp
            && (!self.bp_used || self.bp == bp)
            && self.loads[..self.loads_len].iter().all(|&(at, value)| still_holds(at, value))
    }

    /// Keeps a return address the walk passed on; false if there is no more room.
    fn keep_ip(&mut self, ip: usize) -> bool {
        let Some(slot) = self.ips.get_mut(self.ips_len) else { return false };
        *slot = ip;
        self.ips_len += 1;
        true
    }

    /// Keeps a stack word the walk read; false if there is no more room.
    fn keep_load(&mut self, at: usize, value: usize) -> bool {
        let Some(slot) = self.loads.get_mut(self.loads_len) else { return false };
        *slot = (at, value);
        self.loads_len += 1;
        true
    }
}

/// Does the stack word at `at`, read by the last walk from the current stack pointer,
/// still hold `value`?
#[inline(always)]
fn still_holds(at: usize, value: usize) -> bool {
    // SAFETY: the last walk read `at` through `load`, from the stack pointer this walk
    // starts at, so it is aligned and lies in [sp, high) of this thread's stack: the
    // frames of the callers, mapped and live while this walk runs.
    unsafe { (at as *const usize).read_volatile() == value }
}

/// Where a walk starts: inside [`walk`], with its stack and frame pointers, and the top
/// of the thread's stack.
struct Start {
    ip: usize,
    sp: usize,
    bp: usize,
    high: usize,
}

/// Steps from `start` through the rules, calling `keep`; into `record`, if given, what
/// a replay needs (kept only if the walk completes within the kept sizes).
fn step(start: Start, keep: &mut impl FnMut(usize) -> bool, mut record: Option<&mut LastWalk>) -> Walked {
    let high = start.high;
    if let Some(r) = record.as_deref_mut() {
        (r.kept, r.sp, r.bp, r.bp_used, r.loads_len, r.ips_len) = (false, start.sp, start.bp, false, 0, 0);
        (r.id, r.note) = (r.id.wrapping_add(1), None);
    }
    let mut fits = true;
    // The first frame is `walk` itself, at the exact address read there; every later
    // one is looked up at its return address minus one, inside the call.
    let (mut ip, mut sp, mut bp, mut lookup) = (start.ip, start.sp, Some(start.bp), start.ip);
    // Where the current `bp` came from: the walk's start (`None`) or a stack word; a
    // replay must check it only if a rule uses it, since a frame pointer saved and never
    // used (RBP as an ordinary callee-saved register, holding a loop counter, say)
    // changes from call to call without changing the walk.
    let mut bp_from: Option<(usize, usize)> = None;
    let mut bp_checked = false;
    let mut first = true;
    let walked = loop {
        if !first {
            if let Some(r) = record.as_deref_mut() {
                fits &= r.keep_ip(ip);
            }
            if !keep(ip) {
                break Walked::Done;
            }
        }
        first = false;
        let word = rule_word_at(lookup);
        match word & 3 {
            frame_rule::STEP => {}
            frame_rule::OUTERMOST => break Walked::Done,
            _ => break Walked::NotHere,
        }
        let (cfa_from_rbp, cfa_offset) = frame_rule::packed_cfa(word);
        let base = if cfa_from_rbp {
            if let Some(r) = record.as_deref_mut()
                && !bp_checked
            {
                match bp_from {
                    None => r.bp_used = true,
                    Some((at, value)) => fits &= r.keep_load(at, value),
                }
                bp_checked = true;
            }
            match bp {
                Some(bp) => bp,
                None => break Walked::NotHere,
            }
        } else {
            sp
        };
        let cfa = base.wrapping_add_signed(cfa_offset);
        if cfa <= sp {
            break Walked::NotHere; // a caller's frame is always above its callee's
        }
        let Some(return_address) = load(cfa - 8, sp, high) else {
            break Walked::NotHere;
        };
        if let Some(r) = record.as_deref_mut() {
            fits &= r.keep_load(cfa - 8, return_address);
        }
        if let Some(at) = frame_rule::packed_rbp_saved_at(word) {
            let at = cfa.wrapping_add_signed(at);
            bp = load(at, sp, high);
            // A failed load (out of bounds) depends only on the address, which the
            // words already kept determine; a later use of the missing value ends the walk.
            bp_from = bp.map(|value| (at, value));
            bp_checked = bp.is_none();
        }
        if return_address == 0 {
            break Walked::Done;
        }
        (ip, sp, lookup) = (return_address, cfa, return_address - 1);
    };
    if let Some(r) = record {
        r.kept = walked == Walked::Done && fits;
    }
    walked
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a replay whose note suffices reads of the walker (its header, the lengths,
    /// the id and note, and the ten loads of a short stack) lies in its first five cache
    /// lines, whatever the compiler would have chosen (it put the lengths and the id
    /// 3 KiB past the note).
    #[test]
    fn a_noted_replay_reads_the_walkers_first_lines() {
        use std::mem::offset_of;
        let header_end = offset_of!(LastWalk, note) + std::mem::size_of::<Option<Note>>();
        let ten_loads_end = offset_of!(LastWalk, loads) + 10 * 16;
        assert!(std::mem::size_of::<Walker>() <= 64, "the thread-local walker is one line");
        assert!(std::mem::align_of::<LastWalk>() == 64, "the kept walk starts a line");
        assert!(header_end <= offset_of!(LastWalk, loads), "the header comes first");
        assert!(ten_loads_end <= 5 * 64, "{ten_loads_end}");
        assert!(offset_of!(LastWalk, ips) > offset_of!(LastWalk, loads), "the addresses come last");
    }

    fn by_rules() -> Vec<usize> {
        let mut ips = Vec::new();
        assert_eq!(
            walk(|ip| {
                ips.push(ip);
                true
            })
            .how,
            Walked::Done
        );
        ips
    }

    fn by_libgcc() -> Vec<usize> {
        let mut ips = Vec::new();
        // SAFETY: the closure neither allocates in a way that unwinds nor panics mid-trace.
        unsafe {
            backtrace::trace_unsynchronized(|f| {
                let ip = f.ip() as usize;
                ip != 0 && {
                    ips.push(ip);
                    true
                }
            })
        };
        ips
    }

    #[inline(never)]
    fn both(depth: u32) -> (Vec<usize>, Vec<usize>) {
        if depth > 0 {
            let r = both(depth - 1);
            std::hint::black_box(depth);
            return r;
        }
        (by_rules(), by_libgcc())
    }

    /// The rules walk the same return addresses as the C library's unwinder, frame for
    /// frame, through this crate, the test harness, std and libc.
    #[test]
    fn walks_the_same_stack_as_libgcc() {
        for depth in [0, 3, 10] {
            let (rules, libgcc) = std::thread::spawn(move || both(depth)).join().unwrap();
            // Both lists start inside their own walker: the common part is the longest
            // tail of one that ends the other; it must reach down to the walkers' callers.
            let common = (0..rules.len()).find(|&i| libgcc.ends_with(&rules[i..])).unwrap_or(rules.len());
            let tail = &rules[common..];
            assert!(tail.len() > depth as usize + 3, "rules {rules:x?}\nlibgcc {libgcc:x?}");
            assert!(common <= 2, "rules {rules:x?}\nlibgcc {libgcc:x?}");
        }
    }

    fn set_bounds(bounds: (usize, usize)) -> (usize, usize) {
        // SAFETY: this thread's own walker, not walking now.
        WALKER.with(|w| unsafe { std::mem::replace(&mut (*w.get()).bounds, bounds) })
    }

    #[test]
    fn a_stack_outside_the_bounds_is_not_walked_here() {
        let saved = set_bounds((1, 2));
        let walked = walk(|_| true).how;
        set_bounds(saved);
        assert_eq!(walked, Walked::NotHere);
    }

    fn walk_here() -> WalkFrom {
        let mut ips = Vec::new();
        let walked = walk(|ip| {
            ips.push(ip);
            true
        })
        .how;
        // SAFETY: this thread's own walker, not walking now.
        let sp = WALKER.with(|w| unsafe { (*(*w.get()).last).sp });
        (ips, walked, sp)
    }

    // Two callers of the same shape: their walks start at the same stack pointer, and
    // differ in the return address into each.
    #[inline(never)]
    fn caller_a() -> WalkFrom {
        let r = walk_here();
        std::hint::black_box(0xa);
        r
    }

    #[inline(never)]
    fn caller_b() -> WalkFrom {
        let r = walk_here();
        std::hint::black_box(0xb);
        r
    }

    type WalkFrom = (Vec<usize>, Walked, usize);

    /// Calls each of `callers` from one call site, so that only the return address into
    /// the caller differs between a's walks and b's.
    #[inline(never)]
    fn call_each<T>(callers: &[fn() -> T]) -> Vec<T> {
        callers.iter().map(|f| f()).collect()
    }

    fn from_a_then_b() -> Vec<WalkFrom> {
        let callers: Vec<fn() -> WalkFrom> = std::hint::black_box(vec![caller_a, caller_a, caller_b, caller_a]);
        call_each(&callers)
    }

    /// A walk from where the last one started is replayed, with the same return
    /// addresses; one from another caller at the same stack pointer reads a different
    /// return address and is walked afresh, and its stack is the new caller's.
    #[test]
    fn a_walk_is_replayed_only_while_the_words_it_read_are_unchanged() {
        let walks = std::thread::spawn(from_a_then_b).join().unwrap();
        let [a1, a2, b, a3] = &walks[..] else { unreachable!() };
        assert_eq!(a1.2, b.2, "the two callers must start at the same stack pointer for this test to mean anything");
        assert_eq!((&a1.1, &a2.1, &b.1, &a3.1), (&Walked::Done, &Walked::Replayed, &Walked::Done, &Walked::Done));
        assert_eq!(a1.0, a2.0, "a replay passes the same return addresses");
        assert_eq!(a1.0, a3.0);
        assert_ne!(a1.0, b.0, "another caller, another stack");
        assert_eq!(a1.0.len(), b.0.len());
        let differ: Vec<_> = a1.0.iter().zip(&b.0).filter(|(x, y)| x != y).collect();
        assert_eq!(differ.len(), 1, "only the return address into the caller differs: {differ:x?}");
    }

    const NOTE: Note = Note { tag: [7, 16], value: 0x5157 };

    /// What one walk found: the note that came with it, and how it went.
    type Found = (Option<Note>, Walked);

    /// A walk from one place, noting what the first finds: (the note each walk found,
    /// and whether it was replayed).
    #[inline(never)]
    fn walk_and_note() -> Found {
        let walk = walk(|_| true);
        if let Some(kept) = walk.kept
            && kept.note.is_none()
        {
            attach(kept, NOTE);
        }
        (walk.kept.and_then(|k| k.note), walk.how)
    }

    #[inline(never)]
    fn note_from_a() -> Found {
        let r = walk_and_note();
        std::hint::black_box(0xa);
        r
    }

    /// b only walks, attaching nothing.
    #[inline(never)]
    fn note_from_b() -> Found {
        let r = plain_walk();
        std::hint::black_box(0xb);
        r
    }

    /// A note comes back with every replay of the walk it was attached to, and never
    /// with another walk: b's walk (same stack pointer, another return address) is walked
    /// afresh and comes without a's note, and so does its replay (b notes nothing); a's
    /// next walk, which follows b's, is fresh again.
    #[test]
    fn a_note_comes_back_only_with_replays_of_its_walk() {
        let (a, b) = (note_from_a as fn() -> Found, note_from_b as fn() -> Found);
        let calls = std::hint::black_box(vec![a, a, a, b, b, a, a]);
        let got = std::thread::spawn(move || call_each(&calls)).join().unwrap();
        let expect = [
            (None, Walked::Done),
            (Some(NOTE), Walked::Replayed),
            (Some(NOTE), Walked::Replayed),
            (None, Walked::Done),
            (None, Walked::Replayed),
            (None, Walked::Done),
            (Some(NOTE), Walked::Replayed),
        ];
        assert_eq!(got, expect);
    }

    #[inline(never)]
    fn plain_walk() -> Found {
        let walk = walk(|_| true);
        (walk.kept.and_then(|k| k.note), walk.how)
    }

    /// Walks, then walks twice from one place (the second replays the first),
    /// attaching between the two a note meant for the very first walk.
    #[inline(never)]
    fn attach_a_stale_note() -> Vec<Found> {
        let first = walk(|_| true).kept.expect("kept");
        let steps: Vec<Option<Kept>> = std::hint::black_box(vec![None, Some(first)]);
        steps
            .iter()
            .map(|stale| {
                if let Some(k) = stale {
                    attach(*k, NOTE);
                }
                plain_walk()
            })
            .collect()
    }

    /// A note meant for one kept walk is not attached once another walk was kept since
    /// (a signal handler's, say): the later walk's replay comes without it.
    #[test]
    fn a_note_for_an_earlier_walk_is_not_attached() {
        let later = std::thread::spawn(attach_a_stale_note).join().unwrap();
        assert_eq!(later, [(None, Walked::Done), (None, Walked::Replayed)]);
    }

    std::thread_local! {
        static WALKS_WITH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// A walk from one place (notes NOTE on a fresh walk) that takes the note as enough
    /// on its second call only (counted per thread, not passed: an argument can change
    /// the stack words the walk reads): how it went, and how many return addresses it
    /// passed on.
    #[inline(never)]
    fn walk_with() -> Counted {
        let enough = WALKS_WITH.with(|n| n.replace(n.get() + 1)) == 1;
        let mut passed = 0;
        let walk = walk_unless_noted(
            |_| {
                passed += 1;
                true
            },
            |note| enough && *note == NOTE,
        );
        if walk.how == Walked::Done
            && let Some(kept) = walk.kept
        {
            attach(kept, NOTE);
        }
        (walk.how, passed)
    }

    type Counted = (Walked, usize);

    /// A replay whose note the caller takes as enough passes no return address on; one
    /// whose note it does not take passes them all, as a fresh walk does.
    #[test]
    fn a_note_that_is_enough_spares_the_addresses() {
        let w = walk_with as fn() -> Counted;
        let calls = std::hint::black_box(vec![w, w, w]);
        let got = std::thread::spawn(move || call_each(&calls)).join().unwrap();
        let [(first, all), noted, replayed] = got[..] else { panic!("{got:?}") };
        assert_eq!(first, Walked::Done);
        assert!(all > 3, "{got:?}");
        assert_eq!(noted, (Walked::Noted, 0));
        assert_eq!(replayed, (Walked::Replayed, all));
    }

    /// One walk from here, and inside its first `keep`, if `nest`, another walk (as a
    /// signal handler's would be): the walk's result, the inner one's, and the start of
    /// the kept walk afterwards.
    #[inline(never)]
    fn walk_nesting(nest: bool) -> (Walked, Option<Walked>, usize) {
        let mut inner = None;
        let walked = walk(|_| {
            if nest && inner.is_none() {
                inner = Some(walk(|_| true).how);
            }
            true
        })
        .how;
        // SAFETY: this thread's own walker, not walking now.
        let kept_sp = WALKER.with(|w| unsafe { (*(*w.get()).last).sp });
        (walked, inner, kept_sp)
    }

    fn plain_then_nested() -> Vec<(Walked, Option<Walked>, usize)> {
        std::hint::black_box(vec![false, true]).iter().map(|&nest| walk_nesting(nest)).collect()
    }

    /// A walk made while this thread is walking (a signal handler's) steps through the
    /// rules and neither uses nor changes the kept walk: the outer walk is replayed, and
    /// the kept walk still starts where the outer one does.
    #[test]
    fn a_walk_inside_a_walk_leaves_the_kept_one_alone() {
        let walks = std::thread::spawn(plain_then_nested).join().unwrap();
        let [(plain, None, plain_sp), (outer, Some(inner), after_sp)] = &walks[..] else {
            panic!("{walks:?}");
        };
        assert_eq!((plain, outer, inner), (&Walked::Done, &Walked::Replayed, &Walked::Done));
        assert_eq!(plain_sp, after_sp, "the inner walk changed the kept one");
    }
}
