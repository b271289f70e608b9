//! The interposed `dlsym`: the one export that is not a hook-table row. It is how
//! programs that find driver functions by name at run time (JAX's
//! `dlopen("libcuda.so.1")` + `dlsym`, and every runtime's first lookup of
//! `cuGetProcAddress_v2`) reach our wrappers.

use std::ffi::{CStr, c_char, c_void};

use crate::gate::{Gate, boundary};
use crate::hook_table::Scope;
use crate::hooks::HOOKS;
use crate::routing::{self, Routed};
use crate::symbols::{self, REAL_DLSYM};

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
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
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
/// there); non-null is our answer. Only lookups by a real handle of driver symbols
/// pinguard wraps are answered; the real symbol is found first, so a lookup that would
/// fail still fails, with glibc's own `dlerror`.
extern "C" fn dlsym_route(handle: *mut c_void, symbol: *const c_char) -> *mut c_void {
    // Ensure the trampoline has somewhere to jump to.
    let _ = symbols::real_dlsym();
    if handle.is_null() || handle == libc::RTLD_NEXT || symbol.is_null() {
        return std::ptr::null_mut(); // RTLD_DEFAULT / RTLD_NEXT: caller-relative, glibc's job
    }
    // SAFETY: dlsym's contract: symbol is a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(symbol) };
    if routing::driver_row(&HOOKS, name.to_bytes()).is_none() {
        return std::ptr::null_mut();
    }
    if Gate::enter(Scope::Route, "dlsym").is_none() {
        return std::ptr::null_mut();
    }
    boundary("dlsym", || {
        // SAFETY: handle is the caller's dlopen handle (not a pseudo-handle, checked above).
        let real = unsafe { symbols::lookup(handle, name) };
        match routing::by_symbol(&HOOKS, name.to_bytes(), real) {
            Routed::Wrapper(w) => w as *mut c_void,
            _ => std::ptr::null_mut(),
        }
    })
    .unwrap_or(std::ptr::null_mut())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lookups_by_handle_of_wrapped_driver_symbols_are_ours() {
        // Pseudo-handles are caller-relative: always glibc's, with the caller's frame.
        assert!(dlsym_route(libc::RTLD_DEFAULT, c"cuMemcpyHtoDAsync_v2".as_ptr()).is_null());
        assert!(dlsym_route(libc::RTLD_NEXT, c"cuMemcpyHtoDAsync_v2".as_ptr()).is_null());
        assert!(!REAL_DLSYM.load(std::sync::atomic::Ordering::Acquire).is_null(), "the trampoline's target is set");
        // SAFETY: dlopen(NULL) returns the main program's handle.
        let main = unsafe { libc::dlopen(std::ptr::null(), libc::RTLD_LAZY) };
        assert!(dlsym_route(main, c"malloc".as_ptr()).is_null(), "not a CUDA symbol");
        assert!(dlsym_route(main, c"cuMemcpyHtoDAsync_v2".as_ptr()).is_null(), "no such symbol here: glibc says so");
    }
}
