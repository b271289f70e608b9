//! Loader hooks: `dlsym`, `cuGetProcAddress` / `cuGetProcAddress_v2`, and the runtime's
//! `cudaGetDriverEntryPoint*`. They are how pinguard reaches programs whose runtime is
//! linked statically (nvcc's default), CuPy, JAX, and anything else that finds driver
//! functions by name at run time (cuda-facts.md section 2).

use std::ffi::{CStr, c_char, c_void};

use pinguard_core::settings::Mode;

use crate::api_table::{Hook, Routed, is_routed_driver_symbol, route_by_pointer, route_by_symbol};
use crate::guard::boundary;
use crate::state;
use crate::symbols::{self, REAL_DLSYM};

// ---- dlsym ----------------------------------------------------------------------------

/// Interposed `dlsym`.
///
/// `RTLD_NEXT` and `RTLD_DEFAULT` are resolved by glibc relative to the *caller's*
/// return address, so they must reach glibc with the caller's frame intact: this is a
/// naked trampoline. It asks `dlsym_route` whether the lookup is one we answer; if not,
/// it tail-jumps to glibc's `dlsym` with the original arguments and return address, as
/// if pinguard were not there.
///
/// # Safety
/// Called as `dlsym(3)`, under its contract.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void {
    core::arch::naked_asm!(
        // Entry: rsp = 8 mod 16. Save both arguments; two pushes and 8 bytes keep the call
        // below 16-byte aligned.
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {route}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jz 2f",
        "ret",
        // Not ours: glibc's dlsym, entered with the caller's stack exactly as it was.
        // dlsym_route has stored REAL_DLSYM before returning null.
        "2:",
        "jmp qword ptr [rip + {real}]",
        route = sym dlsym_route,
        real = sym REAL_DLSYM,
    )
}

/// Decides a `dlsym` call: null means "let glibc answer it" (the trampoline then jumps
/// there); non-null is our answer. Only lookups by a real handle of symbols pinguard
/// wraps are answered; the real symbol is found first, so a lookup that would fail
/// still fails, with glibc's own `dlerror`.
extern "C" fn dlsym_route(handle: *mut c_void, symbol: *const c_char) -> *mut c_void {
    // Ensure the trampoline has somewhere to jump to.
    let _ = symbols::real_dlsym();
    if handle.is_null() || handle == libc::RTLD_NEXT || symbol.is_null() {
        return std::ptr::null_mut(); // RTLD_DEFAULT / RTLD_NEXT: caller-relative, glibc's job
    }
    // SAFETY: dlsym's contract: symbol is a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(symbol) };
    let bytes = name.to_bytes();
    let gpa = bytes == b"cuGetProcAddress" || bytes == b"cuGetProcAddress_v2";
    if !gpa && !is_routed_driver_symbol(bytes) {
        return std::ptr::null_mut();
    }
    boundary("dlsym", || {
        if state::settings().mode == Mode::Off {
            return std::ptr::null_mut();
        }
        // SAFETY: handle is the caller's dlopen handle (not a pseudo-handle, checked above).
        let real = unsafe { symbols::lookup(handle, name) };
        match route_by_symbol(name.to_str().unwrap_or(""), real) {
            Routed::Wrapper(w) => w as *mut c_void,
            _ => std::ptr::null_mut(),
        }
    })
    .unwrap_or(std::ptr::null_mut())
}

// ---- cuGetProcAddress ------------------------------------------------------------------

/// After a successful lookup, replaces `*pfn` with our wrapper for that exact variant.
///
/// # Safety
/// `symbol` is NUL-terminated and `pfn` points to the pointer the real call wrote.
unsafe fn route_result(symbol: *const c_char, pfn: *mut *mut c_void, version: i64) {
    if symbol.is_null() || pfn.is_null() || state::settings().mode == Mode::Off {
        return;
    }
    boundary("cuGetProcAddress", || {
        // SAFETY: the caller's contract (see above).
        let (name, p) = unsafe { (CStr::from_ptr(symbol), pfn.read()) };
        let name = name.to_str().unwrap_or("");
        match route_by_pointer(name, p) {
            // SAFETY: pfn is the caller's out-parameter; we write a function of the same ABI.
            Routed::Wrapper(w) => unsafe { pfn.write(w as *mut c_void) },
            Routed::Unknown => state::note_unknown_variant(name, version as i32, p as usize),
            Routed::NotHooked | Routed::AlreadyWrapped => {}
        }
    });
}

/// Routes `*pfn` after a successful lookup, and passes the return code through as is.
///
/// # Safety
/// As `route_result`, when `rc` is 0.
unsafe fn routed(rc: i32, symbol: *const c_char, pfn: *mut *mut c_void, version: i64) -> i32 {
    if rc == 0 {
        // SAFETY: success: the real lookup wrote *pfn.
        unsafe { route_result(symbol, pfn, version) };
    }
    rc
}

type Gpa1 = unsafe extern "C" fn(*const c_char, *mut *mut c_void, i32, u64) -> i32;
type Gpa2 = unsafe extern "C" fn(*const c_char, *mut *mut c_void, i32, u64, *mut i32) -> i32;

/// # Safety
/// Called as the driver's `cuGetProcAddress` (CUDA 11.3 ABI), under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuGetProcAddress(
    symbol: *const c_char,
    pfn: *mut *mut c_void,
    version: i32,
    flags: u64,
) -> i32 {
    let (_, real) = real_or_return!(Hook::cuGetProcAddress, Gpa1);
    // SAFETY: the caller's arguments, forwarded unchanged; routed only on success.
    unsafe { routed(real(symbol, pfn, version, flags), symbol, pfn, i64::from(version)) }
}

/// # Safety
/// Called as the driver's `cuGetProcAddress_v2` (CUDA 12.0 ABI), under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuGetProcAddress_v2(
    symbol: *const c_char,
    pfn: *mut *mut c_void,
    version: i32,
    flags: u64,
    status: *mut i32,
) -> i32 {
    let (_, real) = real_or_return!(Hook::cuGetProcAddress_v2, Gpa2);
    // SAFETY: the caller's arguments, forwarded unchanged; routed only on success.
    unsafe { routed(real(symbol, pfn, version, flags, status), symbol, pfn, i64::from(version)) }
}

// ---- cudaGetDriverEntryPoint* ----------------------------------------------------------

type EntryPoint = unsafe extern "C" fn(*const c_char, *mut *mut c_void, u64, *mut i32) -> i32;
type EntryPointByVersion = unsafe extern "C" fn(*const c_char, *mut *mut c_void, u32, u64, *mut i32) -> i32;

unsafe fn entry_point(h: Hook, symbol: *const c_char, pfn: *mut *mut c_void, flags: u64, status: *mut i32) -> i32 {
    let (_, real) = real_or_return!(h, EntryPoint);
    // No version is named here: the pointer alone decides the variant.
    // SAFETY: the caller's arguments, forwarded unchanged; routed only on success.
    unsafe { routed(real(symbol, pfn, flags, status), symbol, pfn, 0) }
}
twins!(cudaGetDriverEntryPoint, cudaGetDriverEntryPoint_ptsz,
    (symbol: *const c_char, pfn: *mut *mut c_void, flags: u64, status: *mut i32), entry_point);

unsafe fn entry_point_by_version(
    h: Hook,
    symbol: *const c_char,
    pfn: *mut *mut c_void,
    version: u32,
    flags: u64,
    status: *mut i32,
) -> i32 {
    let (_, real) = real_or_return!(h, EntryPointByVersion);
    // SAFETY: the caller's arguments, forwarded unchanged; routed only on success.
    unsafe { routed(real(symbol, pfn, version, flags, status), symbol, pfn, i64::from(version)) }
}
twins!(cudaGetDriverEntryPointByVersion, cudaGetDriverEntryPointByVersion_ptsz,
    (symbol: *const c_char, pfn: *mut *mut c_void, version: u32, flags: u64, status: *mut i32),
    entry_point_by_version);
