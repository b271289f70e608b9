//! A caching unwinder for the finding path: each frame costs a table probe and one or two
//! loads, instead of the C library unwinder's search and interpretation of the unwind
//! tables on every frame (about 1 300 instructions a frame).
//!
//! - [`RULES`]: a fixed table from code address to [`frame_rule::FrameRule`] (packed),
//!   filled the first time an address is seen ([`frame_rule::rule_for`]), lock-free,
//!   never emptied.
//! - [`walk`]: steps from pinguard's own frame to the callers with those rules. Every
//!   load is checked against this thread's stack bounds first. A frame whose rule it does
//!   not keep, or a stack outside the thread's bounds (a signal stack, a coroutine),
//!   returns [`Walked::NotHere`], and the caller walks that stack with the C library's
//!   unwinder: the same stack always takes the same path, so it always gets the same key.
//!
//! Known limit: a rule is kept by address for the life of the process. If a library is
//! unloaded and another one is loaded at the same address, its frames are stepped with
//! the old library's rules: the bounds checks keep every load inside the thread's stack,
//! but that stack can come out wrong.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::frame_rule;

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

thread_local! {
    /// This thread's stack, `[low, high)`; `(0, 0)` until first needed, `(1, 1)` if unknown.
    static STACK_BOUNDS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

fn stack_bounds() -> (usize, usize) {
    let known = STACK_BOUNDS.with(Cell::get);
    if known.0 != 0 {
        return known;
    }
    // SAFETY: pthread_attr_t is plain C data, initialised by pthread_getattr_np before
    // any read; getstack writes two plain values; the attr is destroyed once, after use.
    let bounds = unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            (1, 1)
        } else {
            let (mut addr, mut size) = (std::ptr::null_mut(), 0usize);
            let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            if got == 0 && !addr.is_null() { (addr as usize, addr as usize + size) } else { (1, 1) }
        }
    };
    STACK_BOUNDS.with(|b| b.set(bounds));
    bounds
}

/// How a walk ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Walked {
    /// Every frame was passed to `keep`, up to the outermost or until `keep` stopped.
    Done,
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
#[inline(never)]
pub fn walk(mut keep: impl FnMut(usize) -> bool) -> Walked {
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
    let (low, high) = stack_bounds();
    if !(low..high).contains(&sp) {
        return Walked::NotHere;
    }
    // The first frame is `walk` itself, at the exact address read above; every later
    // one is looked up at its return address minus one, inside the call.
    let (mut ip, mut sp, mut bp, mut lookup) = (ip, sp, Some(bp), ip);
    let mut first = true;
    loop {
        if !first && !keep(ip) {
            return Walked::Done;
        }
        first = false;
        let word = rule_word_at(lookup);
        match word & 3 {
            frame_rule::STEP => {}
            frame_rule::OUTERMOST => return Walked::Done,
            _ => return Walked::NotHere,
        }
        let (cfa_from_rbp, cfa_offset) = frame_rule::packed_cfa(word);
        let base = if cfa_from_rbp {
            match bp {
                Some(bp) => bp,
                None => return Walked::NotHere,
            }
        } else {
            sp
        };
        let cfa = base.wrapping_add_signed(cfa_offset);
        if cfa <= sp {
            return Walked::NotHere; // a caller's frame is always above its callee's
        }
        let Some(return_address) = load(cfa - 8, sp, high) else {
            return Walked::NotHere;
        };
        if let Some(at) = frame_rule::packed_rbp_saved_at(word) {
            bp = load(cfa.wrapping_add_signed(at), sp, high);
        }
        if return_address == 0 {
            return Walked::Done;
        }
        (ip, sp, lookup) = (return_address, cfa, return_address - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_rules() -> Vec<usize> {
        let mut ips = Vec::new();
        assert_eq!(
            walk(|ip| {
                ips.push(ip);
                true
            }),
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

    #[test]
    fn a_stack_outside_the_bounds_is_not_walked_here() {
        let saved = STACK_BOUNDS.with(Cell::get);
        STACK_BOUNDS.with(|b| b.set((1, 2)));
        let walked = walk(|_| true);
        STACK_BOUNDS.with(|b| b.set(saved));
        assert_eq!(walked, Walked::NotHere);
    }
}
