//! Finding the real CUDA functions behind our hooks.
//!
//! pinguard exports `dlsym` itself, so it must never call the public `dlsym` (nor any
//! crate that does, such as `libloading::Library::this()`): it resolves glibc's own with
//! `dlvsym` and uses that pointer for every lookup.
//!
//! Runtime functions are looked up with `RTLD_NEXT` first. That misses a `libcudart`
//! that was loaded with `RTLD_LOCAL` as a dependency of a `dlopen`ed library (PyTorch:
//! Python loads `libtorch_cuda.so` locally, and it needs `libcudart.so.13`); there the
//! loaded objects are walked with `dl_iterate_phdr` and the library is asked by handle.
//! Driver functions are asked of `libcuda.so.1` by handle after `RTLD_NEXT`.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

// ---- calls into the loader, and fork --------------------------------------------------

/// pinguard's calls into the loader now under way (`dl_iterate_phdr`, `dladdr`, `dlsym`,
/// `dlopen` with `RTLD_NOLOAD`).
static LOADER_CALLS: AtomicUsize = AtomicUsize::new(0);
/// A fork is being prepared: new loader calls wait for it.
static FORKING: AtomicBool = AtomicBool::new(false);

/// Runs `f`, a call into the loader, so that no `fork` happens in the middle of it.
///
/// The loader's locks (`dl_iterate_phdr`'s among them) are not reset in a forked child
/// (glibc 2.36 too: measured): a child forked while another thread of its parent was
/// inside the loader finds the lock held by a thread that does not exist there, and the
/// child's first call into the loader waits for ever (issue 24: a child whose first
/// finding read an unwind rule). So the fork handler ([`hold_loader_for_fork`]) waits for
/// pinguard's loader calls under way to end and keeps new ones waiting until the fork is
/// done.
pub fn loader_call<R>(f: impl FnOnce() -> R) -> R {
    loop {
        while FORKING.load(Ordering::Acquire) {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
        LOADER_CALLS.fetch_add(1, Ordering::SeqCst);
        if !FORKING.load(Ordering::SeqCst) {
            break;
        }
        LOADER_CALLS.fetch_sub(1, Ordering::SeqCst);
    }
    let r = f();
    LOADER_CALLS.fetch_sub(1, Ordering::Release);
    r
}

/// The fork's prepare handler: no new loader call starts, and those under way end
/// (waited for at most 2 s: a thread stopped inside one, by a debugger say, must not
/// stop the fork for ever).
pub fn hold_loader_for_fork() {
    FORKING.store(true, Ordering::SeqCst);
    let start = std::time::Instant::now();
    while LOADER_CALLS.load(Ordering::SeqCst) != 0 && start.elapsed() < std::time::Duration::from_secs(2) {
        std::hint::spin_loop();
        std::thread::yield_now();
    }
}

/// The fork's parent and child handlers (in the child, no call is under way: its one
/// thread is the one that forked).
pub fn release_loader_after_fork(child: bool) {
    if child {
        LOADER_CALLS.store(0, Ordering::Relaxed);
    }
    FORKING.store(false, Ordering::Release);
}

/// glibc's `dlsym`.
pub type DlsymFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;

/// The real `dlsym`, read by the naked `dlsym` trampoline in `exports::loader`; set once by
/// [`real_dlsym`] before any lookup is forwarded to it.
pub static REAL_DLSYM: AtomicPtr<c_void> = AtomicPtr::new(null_mut());

/// glibc's `dlsym`, resolved with `dlvsym` (`GLIBC_2.34` first, the older node second).
pub fn real_dlsym() -> DlsymFn {
    let mut p = REAL_DLSYM.load(Ordering::Acquire);
    if p.is_null() {
        for version in [c"GLIBC_2.34", c"GLIBC_2.2.5"] {
            // SAFETY: dlvsym is glibc's own, not interposed; the strings are NUL-terminated.
            p = unsafe { libc::dlvsym(libc::RTLD_NEXT, c"dlsym".as_ptr(), version.as_ptr()) };
            if !p.is_null() {
                break;
            }
        }
        if p.is_null() {
            // Without glibc's dlsym no lookup can work at all; nothing sensible remains.
            crate::base::sink::fatal("cannot find glibc's dlsym with dlvsym");
        }
        REAL_DLSYM.store(p, Ordering::Release);
    }
    // SAFETY: p is glibc's dlsym, whose ABI is DlsymFn.
    unsafe { std::mem::transmute::<*mut c_void, DlsymFn>(p) }
}

/// `dlsym` through glibc's own function.
///
/// # Safety
/// `handle` must be a handle from `dlopen`, `RTLD_DEFAULT` or `RTLD_NEXT`.
pub unsafe fn lookup(handle: *mut c_void, name: &CStr) -> *mut c_void {
    let dlsym = real_dlsym();
    // SAFETY: forwarded contract; name is NUL-terminated.
    loader_call(|| unsafe { dlsym(handle, name.as_ptr()) })
}

/// Which library a real function lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Library {
    Runtime,
    Driver,
    /// The C library (or an allocator the program loaded): the next definition after
    /// pinguard's, by `RTLD_NEXT` alone.
    C,
}

/// Finds `name` in the real CUDA runtime or driver, or null.
pub fn find(library: Library, name: &CStr) -> *mut c_void {
    // SAFETY: RTLD_NEXT is a valid pseudo-handle; lookups relative to this library are
    // what we want here (the next definition after ours).
    let p = unsafe { lookup(libc::RTLD_NEXT, name) };
    if !p.is_null() {
        return p;
    }
    match library {
        Library::C => null_mut(),
        Library::Driver => by_soname(c"libcuda.so.1", name),
        Library::Runtime => loaded_objects_matching("libcudart")
            .iter()
            .map(|path| by_soname(path, name))
            .find(|p| !p.is_null())
            .unwrap_or(null_mut()),
    }
}

/// Looks `name` up in an already-loaded library, without loading anything.
fn by_soname(library: &CStr, name: &CStr) -> *mut c_void {
    // SAFETY: RTLD_NOLOAD never loads or initialises a library; it only returns a handle
    // (with a reference we drop below) if the library is already in the process.
    let handle = loader_call(|| unsafe { libc::dlopen(library.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) });
    if handle.is_null() {
        return null_mut();
    }
    // SAFETY: handle is a live dlopen handle.
    let p = unsafe { lookup(handle, name) };
    // SAFETY: balances the reference RTLD_NOLOAD took; the library stays loaded by its
    // original owner, so `p` stays valid.
    loader_call(|| unsafe { libc::dlclose(handle) });
    p
}

/// Paths of loaded objects whose path contains `needle` (every object for ""). Collected first and opened
/// afterwards: dlopen must not run inside the dl_iterate_phdr callback.
pub fn loaded_objects_matching(needle: &str) -> Vec<CString> {
    struct Search<'a> {
        needle: &'a str,
        found: Vec<CString>,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: glibc passes a valid info for the duration of the call, and data is the
        // &mut Search passed below.
        let (info, search) = unsafe { (&*info, &mut *(data as *mut Search<'_>)) };
        if !info.dlpi_name.is_null() {
            // SAFETY: dlpi_name is a NUL-terminated path owned by the loader.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) };
            let needle = search.needle.as_bytes();
            if needle.is_empty() || name.to_bytes().windows(needle.len()).any(|w| w == needle) {
                search.found.push(name.to_owned());
            }
        }
        0
    }
    let mut search = Search { needle, found: Vec::new() };
    // SAFETY: visit only reads the info it is given and writes through the Search pointer,
    // which outlives the call.
    loader_call(|| unsafe { libc::dl_iterate_phdr(Some(visit), &mut search as *mut Search<'_> as *mut c_void) });
    search.found
}

#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const c_char,
    l_ld: *mut c_void,
    l_next: *mut LinkMap,
    l_prev: *mut LinkMap,
}

unsafe extern "C" {
    fn dladdr1(addr: *const c_void, info: *mut libc::Dl_info, extra: *mut *mut c_void, flags: c_int) -> c_int;
}

/// `RTLD_DL_LINKMAP`: dladdr1 returns the object's `link_map`.
const RTLD_DL_LINKMAP: c_int = 2;

fn link_map_of(addr: *const c_void) -> *mut LinkMap {
    // SAFETY: Dl_info is plain C data; all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut map: *mut c_void = null_mut();
    // SAFETY: dladdr1 reads the loader's tables and fills `info` and `map`.
    if loader_call(|| unsafe { dladdr1(addr, &mut info, &mut map, RTLD_DL_LINKMAP) }) == 0 {
        return null_mut();
    }
    map.cast()
}

/// Is the object holding `caller` earlier than pinguard in the loader's list (the main
/// program, or a library preloaded before us)? For such a caller, glibc's `RTLD_NEXT`
/// search reaches pinguard's exports before any later library.
pub fn loaded_before_us(caller: *const c_void) -> bool {
    let theirs = link_map_of(caller);
    let ours = link_map_of(loaded_before_us as *const c_void);
    if theirs.is_null() || ours.is_null() || theirs == ours {
        return false;
    }
    let mut m = theirs;
    while !m.is_null() {
        // SAFETY: link maps form a list the loader keeps alive while objects are loaded.
        m = unsafe { (*m).l_next };
        if m == ours {
            return true;
        }
    }
    false
}

/// The main program's handle (`dlopen(NULL)`: its lookups search the global scope, as
/// `RTLD_DEFAULT` from the program would), kept once found; null if the loader refuses.
pub fn main_program() -> *mut c_void {
    static MAIN: AtomicPtr<c_void> = AtomicPtr::new(null_mut());
    let mut handle = MAIN.load(Ordering::Acquire);
    if handle.is_null() {
        // SAFETY: dlopen(NULL) returns the main program's handle; it loads nothing.
        handle = loader_call(|| unsafe { libc::dlopen(std::ptr::null(), libc::RTLD_LAZY) });
        MAIN.store(handle, Ordering::Release);
    }
    handle
}

/// Makes glibc set `dlerror` for `name` as a failed lookup does: looks it up in the C
/// library alone, which never defines a CUDA name. The lookup is the last `dl` call
/// before the trampoline returns (a later successful call would clear the error), so the
/// C library's handle is kept (it is never unloaded anyway).
pub fn set_not_found_error(name: &CStr) {
    static LIBC: AtomicPtr<c_void> = AtomicPtr::new(null_mut());
    let mut handle = LIBC.load(Ordering::Acquire);
    if handle.is_null() {
        // SAFETY: RTLD_NOLOAD never loads; the C library is always loaded.
        handle = unsafe { libc::dlopen(c"libc.so.6".as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
        if handle.is_null() {
            return;
        }
        LIBC.store(handle, Ordering::Release);
    }
    // SAFETY: a live handle and a NUL-terminated name; the lookup fails and sets dlerror.
    let _ = unsafe { lookup(handle, name) };
}

// ---- the system unwinder --------------------------------------------------------------

/// `_Unwind_Trace_Fn`: called once per frame; any code but `_URC_NO_REASON` (0) stops.
pub type UnwindTraceFn = unsafe extern "C" fn(context: *mut c_void, arg: *mut c_void) -> c_int;
/// `_Unwind_Backtrace(_Unwind_Trace_Fn, void *)`, GCC_3.3.
type UnwindBacktraceFn = unsafe extern "C" fn(trace: UnwindTraceFn, arg: *mut c_void) -> c_int;
/// `_Unwind_GetIP(struct _Unwind_Context *)`, GCC_3.0.
type UnwindGetIpFn = unsafe extern "C" fn(context: *mut c_void) -> usize;

/// The C library's unwinder, libgcc's (`libgcc_s.so.1`), as found by
/// [`find_system_unwinder`].
#[derive(Clone, Copy)]
pub struct SystemUnwinder {
    pub backtrace: UnwindBacktraceFn,
    pub get_ip: UnwindGetIpFn,
}

static UNWIND_BACKTRACE: AtomicPtr<c_void> = AtomicPtr::new(null_mut());
static UNWIND_GET_IP: AtomicPtr<c_void> = AtomicPtr::new(null_mut());

/// Finds libgcc's `_Unwind_Backtrace` and `_Unwind_GetIP` at initialisation (never on a
/// finding's path: a finding may be made in a signal handler, where loading a library is
/// unsafe), loading `libgcc_s.so.1` if the program has not (C++ programs, the CUDA
/// runtime and Python all have; the C library itself loads it for thread cancellation).
///
/// Why not the unwinder linked into pinguard: the release build for glibc 2.17 is
/// linked by zig, which replaces `-lgcc_s` with LLVM's libunwind, and that one crashes
/// stepping through a signal frame (measured: 2 of 40 runs of a signal handler's copies
/// on fakecuda, and on an H100; libgcc's: 0 of 80). With libgcc's found at run time, the
/// build that ships walks stacks with the same code as the build the tests run.
pub fn find_system_unwinder() {
    if !UNWIND_BACKTRACE.load(Ordering::Acquire).is_null() {
        return;
    }
    // SAFETY: dlopen of the system's libgcc_s (NOLOAD first: usually already there); the
    // handle is kept for the life of the process, so the functions stay valid.
    let handle = loader_call(|| unsafe {
        let h = libc::dlopen(c"libgcc_s.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_NOLOAD);
        if h.is_null() { libc::dlopen(c"libgcc_s.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) } else { h }
    });
    if handle.is_null() {
        return;
    }
    // SAFETY: a live handle and NUL-terminated names; dlvsym is glibc's, not interposed.
    let (backtrace, get_ip) = loader_call(|| unsafe {
        (
            libc::dlvsym(handle, c"_Unwind_Backtrace".as_ptr(), c"GCC_3.3".as_ptr()),
            libc::dlvsym(handle, c"_Unwind_GetIP".as_ptr(), c"GCC_3.0".as_ptr()),
        )
    });
    if backtrace.is_null() || get_ip.is_null() {
        return;
    }
    UNWIND_GET_IP.store(get_ip, Ordering::Release);
    UNWIND_BACKTRACE.store(backtrace, Ordering::Release);
}

/// libgcc's unwinder, if [`find_system_unwinder`] found it.
pub fn system_unwinder() -> Option<SystemUnwinder> {
    let backtrace = UNWIND_BACKTRACE.load(Ordering::Acquire);
    if backtrace.is_null() {
        return None;
    }
    let get_ip = UNWIND_GET_IP.load(Ordering::Acquire);
    // SAFETY: both were found by their versioned names in libgcc_s, whose ABI for them is
    // the one these types spell (unwind.h); get_ip is stored before backtrace.
    unsafe {
        Some(SystemUnwinder {
            backtrace: std::mem::transmute::<*mut c_void, UnwindBacktraceFn>(backtrace),
            get_ip: std::mem::transmute::<*mut c_void, UnwindGetIpFn>(get_ip),
        })
    }
}

/// The file an address belongs to, if any (for ABI decisions and diagnostics).
pub fn object_path_of(addr: *const c_void) -> Option<CString> {
    // SAFETY: Dl_info is plain C data (pointers and integers); all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables and fills `info`.
    if loader_call(|| unsafe { libc::dladdr(addr, &mut info) }) == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
    Some(unsafe { CStr::from_ptr(info.dli_fname) }.to_owned())
}

/// A lazily resolved pointer to one real function.
pub struct RealSlot {
    ptr: AtomicPtr<c_void>,
}

impl Default for RealSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl RealSlot {
    pub const fn new() -> Self {
        RealSlot { ptr: AtomicPtr::new(null_mut()) }
    }

    /// The pointer, resolving `name` in `library` on first use; null if not found.
    /// Inlined into every hook: once resolved, one load (the resolution is out of line,
    /// so that a new library kind in `find` cannot push this into a call of its own, as
    /// it once did: +34 instructions on every copy).
    #[inline(always)]
    pub fn get(&self, library: Library, name: &CStr) -> *mut c_void {
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            return p;
        }
        self.resolve(library, name)
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self, library: Library, name: &CStr) -> *mut c_void {
        let found = find(library, name);
        if !found.is_null() {
            // A racing thread resolves the same symbol to the same pointer, or a routing
            // step stored the exact pointer CUDA handed out: keep whichever came first.
            let _ = self.ptr.compare_exchange(null_mut(), found, Ordering::AcqRel, Ordering::Acquire);
        }
        self.ptr.load(Ordering::Acquire)
    }

    /// Records the exact pointer CUDA handed out for this entry point (first one wins).
    pub fn set_if_empty(&self, p: *mut c_void) {
        let _ = self.ptr.compare_exchange(null_mut(), p, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The pointer if already known, without resolving.
    pub fn peek(&self) -> *mut c_void {
        self.ptr.load(Ordering::Acquire)
    }
}
