//! What a row of the hook table is. The rows themselves are generated, one per hooked
//! symbol, from the declarations in `hooks.rs`.

use std::ffi::{CStr, c_void};

use pinguard_core::report::Layer;

use crate::base::sink::OnceNote;
use crate::base::symbols::{Library, RealSlot};

/// Our wrapper's address. Wrappers are `extern "C"` functions with static lifetime.
pub struct WrapperPtr(pub *const ());

// SAFETY: a function address is immutable and valid from every thread.
unsafe impl Sync for WrapperPtr {}

/// What a hook does with the call it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A copy, allocation or release: only the outermost pinguard frame on a thread
    /// acts (a runtime call that reaches our driver wrapper is seen once).
    Watch,
    /// An entry-point lookup (`cuGetProcAddress`, `cudaGetDriverEntryPoint*`): routed
    /// whatever frame it comes from, since a runtime initialising inside one of our
    /// copy hooks must still get our wrappers for everything it looks up.
    Route,
}

/// One hooked symbol.
pub struct HookRow {
    /// Exported symbol: ours, and the real function's in libcuda/libcudart.
    pub symbol: &'static CStr,
    /// The same name as text (for messages; kept so the hot path never converts it).
    name: &'static str,
    pub layer: Layer,
    pub scope: Scope,
    /// A `_ptsz` variant: a null stream is the per-thread default stream.
    pub per_thread: bool,
    pub wrapper: WrapperPtr,
    pub real: RealSlot,
    /// Said once if the real function cannot be found.
    pub missing: OnceNote,
}

impl HookRow {
    pub const fn new(symbol: &'static CStr, layer: Layer, scope: Scope, per_thread: bool, wrapper: *const ()) -> Self {
        let name = match symbol.to_str() {
            Ok(n) => n,
            Err(_) => panic!("symbol names are ASCII"),
        };
        HookRow {
            symbol,
            name,
            layer,
            scope,
            per_thread,
            wrapper: WrapperPtr(wrapper),
            real: RealSlot::new(),
            missing: OnceNote::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The name programs ask `cuGetProcAddress` for: the symbol without its `_ptsz` /
    /// `_ptds` and `_v2`/`_v3` suffixes (`cuMemcpyHtoDAsync_v2_ptsz` -> `cuMemcpyHtoDAsync`).
    pub fn base(&self) -> &'static str {
        let mut s = self.name();
        for suffix in ["_ptsz", "_ptds"] {
            s = s.strip_suffix(suffix).unwrap_or(s);
        }
        for suffix in ["_v2", "_v3"] {
            s = s.strip_suffix(suffix).unwrap_or(s);
        }
        s
    }

    fn library(&self) -> Library {
        match self.layer {
            Layer::Runtime => Library::Runtime,
            Layer::Driver => Library::Driver,
            Layer::Libc => Library::C,
        }
    }

    /// The real function as a typed pointer, resolving it on first use.
    ///
    /// # Safety
    /// `F` must be the `extern "C"` function-pointer type of this row's real function.
    pub unsafe fn real_fn<F: Copy>(&self) -> Option<F> {
        const { assert!(size_of::<F>() == size_of::<*mut c_void>()) };
        let p = self.real.get(self.library(), self.symbol);
        // SAFETY: p is non-null and, by the caller's contract, a function of type F.
        (!p.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }

    /// The real function's address, resolving it on first use (null if not found).
    pub fn real_ptr(&self) -> *mut c_void {
        self.real.get(self.library(), self.symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_drop_variant_suffixes() {
        let row = |s| HookRow::new(s, Layer::Driver, Scope::Watch, false, std::ptr::null());
        assert_eq!(row(c"cuMemcpyHtoDAsync_v2_ptsz").base(), "cuMemcpyHtoDAsync");
        assert_eq!(row(c"cuMemcpyBatchAsync_v2").base(), "cuMemcpyBatchAsync");
        assert_eq!(row(c"cuMemcpyAsync_ptsz").base(), "cuMemcpyAsync");
        assert_eq!(row(c"cuGetProcAddress_v2").base(), "cuGetProcAddress");
        assert_eq!(row(c"cuMemFreeHost").base(), "cuMemFreeHost");
    }
}
