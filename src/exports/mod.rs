//! Everything `libpinguard.so` exports: the CUDA runtime hooks, the driver hooks, and
//! the loader hooks (`dlsym`, `cuGetProcAddress`, `cudaGetDriverEntryPoint*`).
//! `api_table` lists them all; `scripts/check-exports.sh` checks the list against the
//! built library.

use std::ffi::c_void;

use pinguard_core::cuda_types::ERROR_SYMBOL_NOT_FOUND;
use pinguard_core::report::LINE_PREFIX;

use crate::api_table::{HOOK_COUNT, HOOKS, HookRow};
use crate::intercept::CopyCall;
use crate::state::Once;

/// Resolves the real function of `$hook` as type `$ty` (its ABI from cuda.h or
/// cuda_runtime_api.h), or returns the "missing" error from the hook.
macro_rules! real_or_return {
    ($hook:expr, $ty:ty) => {{
        let row = crate::api_table::hook($hook);
        // SAFETY: the type given at each use is the ABI of that row's real function.
        match unsafe { row.real_fn::<$ty>() } {
            Some(f) => (row, f),
            None => return crate::exports::missing_real(row),
        }
    }};
}

/// Two exports, the legacy-stream entry point and its `_ptsz` twin, sharing one
/// implementation `$imp(hook, args...)`. Both layers return a 4-byte error enum.
macro_rules! twins {
    ($legacy:ident, $ptsz:ident, ($($a:ident: $t:ty),*), $imp:ident) => {
        /// # Safety
        /// Called as the CUDA function of this name, under its contract; the arguments
        /// reach the real function untouched.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $legacy($($a: $t),*) -> i32 {
            // SAFETY: forwarded contract.
            unsafe { $imp(crate::api_table::Hook::$legacy, $($a),*) }
        }
        /// # Safety
        /// As the legacy-stream twin.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $ptsz($($a: $t),*) -> i32 {
            // SAFETY: forwarded contract.
            unsafe { $imp(crate::api_table::Hook::$ptsz, $($a),*) }
        }
    };
}

pub mod driver;
pub mod loader;
pub mod runtime;

pub use driver::*;
pub use loader::*;
pub use runtime::*;

/// Who is copying, from a hook's row and the call's stream.
pub(crate) fn call_of(row: &'static HookRow, stream: *mut c_void) -> CopyCall<'static> {
    CopyCall { api: row.name(), layer: row.layer, per_thread: row.per_thread, stream: stream as usize }
}

static MISSING: [Once; HOOK_COUNT] = [const { Once::new() }; HOOK_COUNT];

/// The real function cannot be found at all (no CUDA library in the process exports
/// it): say so once and return "symbol not found", the code both layers use for it.
pub(crate) fn missing_real(row: &'static HookRow) -> i32 {
    let i = HOOKS.iter().position(|h| std::ptr::eq(h, row)).unwrap_or(0);
    MISSING[i].say(|| {
        format!(
            "{LINE_PREFIX}cannot find the real {} in this process; returning error {ERROR_SYMBOL_NOT_FOUND} (symbol not found)",
            row.name()
        )
    });
    ERROR_SYMBOL_NOT_FOUND
}
