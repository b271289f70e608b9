//! Reading memory pinguard does not own (the interpreter's frames and code objects, for
//! the Python frames of a finding: issue 27) without ever faulting.
//!
//! A page is read in place only once the kernel has said it is readable: the first read
//! of a page asks with `process_vm_readv` on this very process, which answers `EFAULT`
//! for an unmapped or unreadable address instead of raising SIGSEGV, and the page is then
//! kept in a small table of pages known readable (lock-free, direct-mapped), so that a
//! repeated finding, whose frames and code objects sit on the same few pages, reads them
//! with plain loads and no system call. Where the call is refused (a seccomp filter that
//! forbids it), every page counts as unreadable: nothing is read, and a finding keeps its
//! native frames only.
//!
//! What it vouches for: an address never read before, or on a page never seen, is asked
//! about first; a torn or corrupted pointer gives `None`, never a fault. What it cannot:
//! a page that was readable when first seen and was unmapped since (a table entry is
//! not told of `munmap`). The chains pinguard follows are the calling thread's own live
//! frames, which hold strong references to their code objects and those to their
//! strings, so the pages they lie on stay mapped while the call lasts; a corrupted
//! pointer that happens to land on such a stale page is the one case left.

use std::sync::atomic::{AtomicUsize, Ordering};

const PAGE: usize = 4096;

/// Pages known readable, by page number, direct-mapped (a later page takes the slot).
const SLOTS: usize = 256;
static KNOWN: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

fn slot(page: usize) -> &'static AtomicUsize {
    &KNOWN[(page.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) % SLOTS]
}

/// Is the page holding `addr` readable? From the table, else asked of the kernel.
fn page_readable(page: usize) -> bool {
    if page == 0 {
        return false; // the first page is never mapped; 0 also marks an empty slot
    }
    let s = slot(page);
    if s.load(Ordering::Relaxed) == page {
        return true;
    }
    let mut byte = 0u8;
    let local = libc::iovec { iov_base: (&mut byte as *mut u8).cast(), iov_len: 1 };
    let remote = libc::iovec { iov_base: (page * PAGE) as *mut libc::c_void, iov_len: 1 };
    // SAFETY: process_vm_readv writes at most one byte into `byte` (local iovec), and
    // reads the remote address through the kernel, which checks it: an unreadable
    // address is an EFAULT return, not a fault in this process.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == 1 {
        s.store(page, Ordering::Relaxed);
        true
    } else {
        false
    }
}

/// A walk's reader: the last few pages it found readable, checked before the shared
/// table (a frame chain alternates between a few pages: the thread's frame stack and the
/// code objects; measured, this took a repeated Python finding from 304 instructions a
/// frame to the figure in docs/benchmarks.md).
pub struct Reader {
    pages: [usize; 4],
    next: usize,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    pub const fn new() -> Reader {
        Reader { pages: [0; 4], next: 0 }
    }

    #[inline(always)]
    fn page(&mut self, page: usize) -> bool {
        let p = &self.pages;
        if page != 0 && (p[0] == page || p[1] == page || p[2] == page || p[3] == page) {
            return true;
        }
        self.page_slow(page)
    }

    #[inline(never)]
    fn page_slow(&mut self, page: usize) -> bool {
        if !page_readable(page) {
            return false;
        }
        self.pages[self.next % 4] = page;
        self.next = self.next.wrapping_add(1);
        true
    }

    /// Are all of `[addr, addr + len)` readable (`len` at least 1)? One page, nearly
    /// always: the values read are small.
    #[inline(always)]
    fn readable(&mut self, addr: usize, len: usize) -> bool {
        let last_byte = addr.wrapping_add(len).wrapping_sub(1);
        if len == 0 || last_byte < addr {
            return len == 0;
        }
        let (first, last) = (addr / PAGE, last_byte / PAGE);
        if first == last {
            return self.page(first);
        }
        (first..=last).all(|p| self.page(p))
    }

    /// A `T` read from `addr`, or `None` where any of its bytes is not readable (or `addr`
    /// is not aligned for `T`).
    #[inline(always)]
    pub fn read<T: Copy>(&mut self, addr: usize) -> Option<T> {
        if !addr.is_multiple_of(std::mem::align_of::<T>()) || !self.readable(addr, std::mem::size_of::<T>()) {
            return None;
        }
        // SAFETY: every byte of the value lies on pages the kernel said are readable
        // (asked by this reader or found in the shared table), and the address is aligned
        // for T; T is Copy (plain data: pointers, integers).
        Some(unsafe { std::ptr::read_volatile(addr as *const T) })
    }

    /// Copies `[addr, addr + out.len())` into `out`; false (and `out` unspecified) where
    /// any byte is not readable.
    pub fn read_into(&mut self, addr: usize, out: &mut [u8]) -> bool {
        if !self.readable(addr, out.len()) {
            return false;
        }
        // SAFETY: the source bytes lie on readable pages (checked above); `out` is a
        // distinct, writable buffer of the same length.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), out.len()) };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_memory_reads_and_unmapped_memory_gives_none() {
        let value: u64 = 0x1234_5678_9abc_def0;
        assert_eq!(Reader::new().read::<u64>(&value as *const u64 as usize), Some(value));
        assert_eq!(Reader::new().read::<u64>(0), None);
        assert_eq!(Reader::new().read::<u64>(8), None);
        assert_eq!(Reader::new().read::<u64>(usize::MAX - 3), None, "wraps past the end of memory");
        assert_eq!(Reader::new().read::<u64>(&value as *const u64 as usize + 1), None, "misaligned");
        // A page mapped, then taken away: asked of the kernel, never read in place.
        // SAFETY: a fresh anonymous mapping of two pages, the second then protected.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let base = map as usize;
        // SAFETY: the second page of the mapping made above.
        assert_eq!(unsafe { libc::mprotect((base + PAGE) as *mut libc::c_void, PAGE, libc::PROT_NONE) }, 0);
        assert_eq!(Reader::new().read::<u64>(base), Some(0));
        assert_eq!(Reader::new().read::<u64>(base + PAGE), None);
        let mut reader = Reader::new();
        assert!(!reader.read_into(base + PAGE - 4, &mut [0u8; 8]), "straddles into the protected page");
        let mut out = [1u8; 16];
        assert!(reader.read_into(base + 16, &mut out));
        assert_eq!(reader.read::<u64>(base + PAGE), None, "a reader never keeps a page it was refused");
        assert_eq!(out, [0u8; 16]);
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(map, 2 * PAGE) };
    }
}
