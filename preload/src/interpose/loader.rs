//! The interposed `dlsym`: the one export that is not a hook-table row. It is how
//! programs that find driver functions by name at run time (JAX's
//! `dlopen("libcuda.so.1")` + `dlsym`, and every runtime's first lookup of
//! `cuGetProcAddress_v2`) reach our wrappers.

use std::ffi::{CStr, c_char, c_void};

use crate::base::symbols::{self, REAL_DLSYM};
use crate::finding::gate::{Gate, boundary};
use crate::interpose::hooks::{HOOK_NAMES, HOOKS};
use crate::table::hook_table::Scope;
use crate::table::routing::{self, Routed};

/// Interposed `dlsym`.
///
/// `RTLD_NEXT` and `RTLD_DEFAULT` are resolved by glibc relative to the *caller's*
/// return address, so they must reach glibc with the caller's frame intact: this is a
/// naked trampoline. It asks `dlsym_route` (with the caller's return address) whether the
/// lookup is one we answer; if not, it tail-jumps to glibc's `dlsym` with the original
/// arguments and return address, as if pinguard were not there.
///
/// # Safety
/// Called as `dlsym(3)`, under its contract.
#[unsafe(naked)]
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code, reason = "reached only through the dynamic linker"))]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void {
    core::arch::naked_asm!(
        // Entry: rsp = 8 mod 16, [rsp] = the caller's return address (third argument).
        // Save both arguments; two pushes and 8 bytes keep the call 16-byte aligned.
        "mov rdx, [rsp]",
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {route}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jz 2f",
        "cmp rax, 1",
        "je 3f",
        "ret",
        // Not ours: glibc's dlsym, entered with the caller's stack exactly as it was.
        // dlsym_route has stored REAL_DLSYM before returning null.
        "2:",
        "jmp qword ptr [rip + {real}]",
        // "Not found" (dlsym_route has set dlerror): null, as without pinguard.
        "3:",
        "xor eax, eax",
        "ret",
        route = sym dlsym_route,
        real = sym REAL_DLSYM,
    )
}

/// The trampoline's answers besides a symbol: let glibc answer, or "not found".
const ASK_GLIBC: *mut c_void = std::ptr::null_mut();
/// 1: the value the trampoline compares against (`cmp rax, 1`); never a symbol's address.
const NOT_FOUND: *mut c_void = std::ptr::without_provenance_mut(1);

/// Decides a `dlsym` call: `ASK_GLIBC` (the trampoline then jumps there), `NOT_FOUND`,
/// or our answer. Two kinds of lookup are ours:
/// - by a real handle, of driver symbols pinguard wraps: the real symbol is found first
///   (a lookup that would fail still fails, with glibc's own `dlerror`), then routed;
/// - by `RTLD_DEFAULT` / `RTLD_NEXT`, of a name pinguard exports, in a process where no
///   real CUDA library defines it: glibc would answer with pinguard's export, and a
///   program testing for CUDA would take its CUDA path. The answer is what it would be
///   without pinguard: not found.
extern "C" fn dlsym_route(handle: *mut c_void, symbol: *const c_char, caller: *const c_void) -> *mut c_void {
    // Ensure the trampoline has somewhere to jump to.
    let _ = symbols::real_dlsym();
    if symbol.is_null() {
        return ASK_GLIBC;
    }
    // SAFETY: dlsym's contract: symbol is a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(symbol) };
    if handle.is_null() || handle == libc::RTLD_NEXT {
        return boundary("dlsym", || pseudo_handle_lookup(handle, name, caller)).unwrap_or(ASK_GLIBC);
    }
    let Some(row) = routing::driver_row(&HOOKS, &HOOK_NAMES, name.to_bytes()) else {
        return ASK_GLIBC;
    };
    if Gate::enter(Scope::Route, "dlsym").is_none() {
        return ASK_GLIBC;
    }
    boundary("dlsym", || {
        // SAFETY: handle is the caller's dlopen handle (not a pseudo-handle, checked above).
        let real = unsafe { symbols::lookup(handle, name) };
        match routing::by_row(row, real) {
            Routed::Wrapper(w) => w as *mut c_void,
            _ => ASK_GLIBC,
        }
    })
    .unwrap_or(ASK_GLIBC)
}

/// `RTLD_DEFAULT` / `RTLD_NEXT` lookups: glibc's job, unless glibc would answer with
/// pinguard's own export of a CUDA name no real library defines (see `dlsym_route`).
fn pseudo_handle_lookup(handle: *mut c_void, name: &CStr, caller: *const c_void) -> *mut c_void {
    let Some(row) = routing::row_named(&HOOKS, &HOOK_NAMES, name.to_bytes()) else {
        return ASK_GLIBC; // not a name pinguard exports: nothing changes
    };
    if !row.real_ptr().is_null() {
        return ASK_GLIBC; // CUDA is here: our export is the hook, as intended
    }
    let ours = row.wrapper.0 as *mut c_void;
    let answer_would_be_ours = if handle.is_null() {
        // RTLD_DEFAULT: the global scope in order; the program itself may define the name.
        // Asked through the main program's handle, which searches the same global scope:
        // an RTLD_DEFAULT lookup made from inside this library would search it first (it
        // is linked -Bsymbolic), and find our own export where the program has its own.
        let main = symbols::main_program();
        if main.is_null() {
            return ASK_GLIBC;
        }
        // SAFETY: a live handle of the main program; name is NUL-terminated.
        let global = unsafe { symbols::lookup(main, name) };
        global == ours
    } else {
        // RTLD_NEXT: the objects after the caller's; ours is next for objects before us.
        symbols::loaded_before_us(caller)
    };
    if !answer_would_be_ours {
        return ASK_GLIBC;
    }
    symbols::set_not_found_error(name);
    NOT_FOUND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lookups_by_handle_of_wrapped_driver_symbols_are_ours() {
        let caller = only_lookups_by_handle_of_wrapped_driver_symbols_are_ours as *const c_void;
        // Pseudo-handles of names pinguard does not export: always glibc's.
        assert_eq!(dlsym_route(libc::RTLD_DEFAULT, c"malloc".as_ptr(), caller), ASK_GLIBC);
        assert_eq!(dlsym_route(libc::RTLD_NEXT, c"malloc".as_ptr(), caller), ASK_GLIBC);
        assert!(!REAL_DLSYM.load(std::sync::atomic::Ordering::Acquire).is_null(), "the trampoline's target is set");
        // SAFETY: dlopen(NULL) returns the main program's handle.
        let main = unsafe { libc::dlopen(std::ptr::null(), libc::RTLD_LAZY) };
        assert_eq!(dlsym_route(main, c"malloc".as_ptr(), caller), ASK_GLIBC, "not a CUDA symbol");
        assert_eq!(
            dlsym_route(main, c"cuMemcpyHtoDAsync_v2".as_ptr(), caller),
            ASK_GLIBC,
            "no such symbol here: glibc says so"
        );
    }
}
