//! The C library's release functions, interposed: `free`, `realloc`, `munmap`, `mremap`
//! (issue 28, item 3: memory released while still registered with `cudaHostRegister`).
//! Not rows of the hook table: they are not CUDA's, programs never look them up through
//! `cuGetProcAddress`, and the interposed `dlsym` leaves them to glibc.
//!
//! They run in every process that loads pinguard, GPU or not, on every `free`: each asks
//! the registry's granules ([`REGISTERED`], a static) whether the memory could hold a
//! registered range, one load when nothing is registered and two otherwise, then calls
//! the real function. Only a yes goes on, to `finding::released`, which asks the registry
//! exactly. `scripts/bench-free.sh` measures a malloc/free pair with and without them.
//!
//! The real functions are the next definitions after pinguard's (`RTLD_NEXT`: the C
//! library's, or those of an allocator the program loaded), found by the constructor
//! ([`resolve`]) or on first use. A `free` that arrives while `free` itself is being
//! looked up (the loader may free memory) cannot be forwarded: that one block is left
//! allocated, once. A program that defines `free` in its own executable (an allocator
//! linked statically) never reaches these: its frees are not watched.

use std::ffi::{CStr, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::base::pinned::REGISTERED;
use crate::base::symbols::real_dlsym;
use crate::finding::released;

type FreeFn = unsafe extern "C" fn(*mut c_void);
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type UsableSizeFn = unsafe extern "C" fn(*mut c_void) -> usize;
type MunmapFn = unsafe extern "C" fn(*mut c_void, usize) -> c_int;
type MremapFn = unsafe extern "C" fn(*mut c_void, usize, usize, c_int, ...) -> *mut c_void;

/// One real C function, found on first use.
struct RealC {
    name: &'static CStr,
    ptr: AtomicPtr<c_void>,
    finding: AtomicBool,
}

impl RealC {
    const fn new(name: &'static CStr) -> Self {
        RealC { name, ptr: AtomicPtr::new(std::ptr::null_mut()), finding: AtomicBool::new(false) }
    }

    /// The real function, or null while it is being looked up (a call from inside the
    /// lookup) or if no library defines it.
    #[inline(always)]
    fn get(&self) -> *mut c_void {
        let p = self.ptr.load(Ordering::Acquire);
        if p.is_null() { self.find() } else { p }
    }

    #[cold]
    #[inline(never)]
    fn find(&self) -> *mut c_void {
        if self.finding.swap(true, Ordering::AcqRel) {
            return self.ptr.load(Ordering::Acquire);
        }
        // SAFETY: glibc's own dlsym (never ours), RTLD_NEXT relative to this library, and
        // a NUL-terminated name: the next definition after pinguard's.
        let p = unsafe { real_dlsym()(libc::RTLD_NEXT, self.name.as_ptr()) };
        self.ptr.store(p, Ordering::Release);
        self.finding.store(false, Ordering::Release);
        p
    }
}

static REAL_FREE: RealC = RealC::new(c"free");
static REAL_REALLOC: RealC = RealC::new(c"realloc");
static REAL_USABLE_SIZE: RealC = RealC::new(c"malloc_usable_size");
static REAL_MUNMAP: RealC = RealC::new(c"munmap");
static REAL_MREMAP: RealC = RealC::new(c"mremap");

/// Finds every real function now (the constructor): later calls then never look up.
pub fn resolve() {
    for f in [&REAL_FREE, &REAL_REALLOC, &REAL_USABLE_SIZE, &REAL_MUNMAP, &REAL_MREMAP] {
        let _ = f.get();
    }
}

/// The usable size of the heap block at `p` (the allocator's own answer), 0 if unknown.
fn usable_size(p: *mut c_void) -> usize {
    let f = REAL_USABLE_SIZE.get();
    if f.is_null() {
        return 0;
    }
    // SAFETY: the allocator's malloc_usable_size, of a block the program is releasing
    // (so one it allocated and still owns).
    unsafe { std::mem::transmute::<*mut c_void, UsableSizeFn>(f)(p) }
}

/// Interposed `free(3)`.
///
/// # Safety
/// Called as `free(3)`, under its contract: `p` is null or a live block of the allocator.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // Loads, branches and a tail jump when the filter says no: the check's work and the
    // first lookup are out of line, so that this path keeps no callee-saved register
    // for after them (it kept `rbx` otherwise, seen in its code).
    if REGISTERED.may_hold(p as usize) {
        return free_checked(p);
    }
    real_free(p);
}

#[inline(always)]
fn real_free(p: *mut c_void) {
    let f = REAL_FREE.ptr.load(Ordering::Acquire);
    if f.is_null() {
        return free_unresolved(p);
    }
    // SAFETY: the real free, with the caller's argument (a block of the allocator's, or
    // null, as free(3) is given).
    unsafe { std::mem::transmute::<*mut c_void, FreeFn>(f)(p) }
}

/// A `free` before the real one is known: found now (or, inside its own lookup, the
/// block is left allocated).
#[cold]
#[inline(never)]
fn free_unresolved(p: *mut c_void) {
    let f = REAL_FREE.get();
    if !f.is_null() {
        // SAFETY: as in real_free.
        unsafe { std::mem::transmute::<*mut c_void, FreeFn>(f)(p) }
    }
}

/// A `free` the filter could not clear: the registry's exact answer, then the real free.
#[cold]
#[inline(never)]
fn free_checked(p: *mut c_void) {
    if let Some((lo, hi)) = released::registered_in_block(p as usize, || usable_size(p)) {
        released::released(&released::FREE, lo, hi);
    }
    real_free(p);
}

/// Interposed `realloc(3)`. Whether it moves (or shrinks) the block is known only after:
/// a registered range in what it gave back is found then.
///
/// # Safety
/// Called as `realloc(3)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    let block = if REGISTERED.may_hold(p as usize) && !p.is_null() {
        released::registered_in_block(p as usize, || usable_size(p))
    } else {
        None
    };
    let f = REAL_REALLOC.get();
    if f.is_null() {
        return std::ptr::null_mut(); // only from inside its own lookup: "no memory"
    }
    // SAFETY: the real realloc, with the caller's arguments.
    let q = unsafe { std::mem::transmute::<*mut c_void, ReallocFn>(f)(p, size) };
    if let Some((lo, hi)) = block {
        after_realloc(p as usize, q as usize, size, (lo, hi));
    }
    q
}

#[cold]
#[inline(never)]
fn after_realloc(p: usize, q: usize, size: usize, (lo, hi): (usize, usize)) {
    // Moved (or freed: `realloc(p, 0)`): all of it is gone; failed: nothing; in place:
    // what lies past the new size.
    let gone = match (q, size) {
        (0, 0) => Some(lo),
        (0, _) => None,
        _ if q != p => Some(lo),
        _ => Some(p.saturating_add(size)).filter(|&from| from < hi),
    };
    if let Some(from) = gone {
        released::released(&released::REALLOC, from, hi);
    }
}

/// Interposed `munmap(2)`.
///
/// # Safety
/// Called as `munmap(2)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: usize) -> c_int {
    if REGISTERED.any() {
        released::released(&released::MUNMAP, addr as usize, (addr as usize).saturating_add(len));
    }
    let f = REAL_MUNMAP.get();
    if f.is_null() {
        // SAFETY: the system call itself, with the caller's arguments.
        return unsafe { libc::syscall(libc::SYS_munmap, addr, len) } as c_int;
    }
    // SAFETY: the real munmap, with the caller's arguments.
    unsafe { std::mem::transmute::<*mut c_void, MunmapFn>(f)(addr, len) }
}

/// Interposed `mremap(2)`. C declares it variadic (`new_address` only with
/// `MREMAP_FIXED`); on x86-64 a variadic caller passes it in the fifth integer register
/// either way, which this reads as an ordinary argument and forwards as is.
///
/// # Safety
/// Called as `mremap(2)`, under its contract.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn mremap(
    old: *mut c_void,
    old_size: usize,
    new_size: usize,
    flags: c_int,
    new_address: *mut c_void,
) -> *mut c_void {
    let watch =
        REGISTERED.any() && released::overlaps_registered(old as usize, (old as usize).saturating_add(old_size));
    let f = REAL_MREMAP.get();
    let q = if f.is_null() {
        // SAFETY: the system call itself, with the caller's arguments.
        unsafe { libc::syscall(libc::SYS_mremap, old, old_size, new_size, flags, new_address) as *mut c_void }
    } else {
        // SAFETY: the real mremap (variadic, as declared), with the caller's arguments.
        unsafe { std::mem::transmute::<*mut c_void, MremapFn>(f)(old, old_size, new_size, flags, new_address) }
    };
    if watch && q != libc::MAP_FAILED {
        let (old, end) = (old as usize, (old as usize).saturating_add(old_size));
        let moved = q as usize != old && flags & libc::MREMAP_DONTUNMAP == 0;
        let from = if moved { old } else { old.saturating_add(new_size) };
        if from < end {
            released::released(&released::MREMAP, from, end);
        }
    }
    q
}
