//! THE table: every function pinguard hooks, one row each. A row names the exported
//! symbol (which is also the real function's symbol), the name programs ask
//! `cuGetProcAddress` for, the layer, whether it is a per-thread-default-stream
//! (`_ptsz`) variant, our wrapper, and the slot that holds the real function.
//!
//! Adding an API = one row here plus its wrapper in `exports::runtime` or
//! `exports::driver` (the wrapper says how to read the call's host ranges).
//!
//! Routing (`route_by_pointer`, `route_by_symbol`) is how static-runtime programs,
//! CuPy and JAX reach our driver wrappers: `cuGetProcAddress` or `dlsym(handle, ...)`
//! returns the real pointer, and we hand back the wrapper whose row holds that exact
//! pointer, so each variant (`_v2`, `_ptsz`, the CUDA 12.8 and 13.0 batch signatures)
//! gets a wrapper of its own ABI that calls that very function. A pointer that matches
//! no row is passed through untouched and counted.

use std::ffi::{CStr, c_void};

use pinguard_core::report::Layer;

use crate::symbols::{Library, RealSlot};

/// Our wrapper's address. Wrappers are `extern "C"` functions with static lifetime.
pub struct WrapperPtr(pub *const ());

// SAFETY: a function address is immutable and valid from every thread.
unsafe impl Sync for WrapperPtr {}

pub struct HookRow {
    /// Exported symbol: ours, and the real function's in libcuda/libcudart.
    pub symbol: &'static CStr,
    /// The name asked of `cuGetProcAddress` (no `_v2`/`_ptsz` suffix).
    pub base: &'static str,
    pub layer: Layer,
    /// A `_ptsz` variant: a null stream is the per-thread default stream.
    pub per_thread: bool,
    pub wrapper: WrapperPtr,
    pub real: RealSlot,
}

impl HookRow {
    pub fn name(&self) -> &'static str {
        self.symbol.to_str().unwrap_or("?")
    }

    fn library(&self) -> Library {
        match self.layer {
            Layer::Runtime => Library::Runtime,
            Layer::Driver => Library::Driver,
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

    /// The real function's address without resolving it (null if not yet known).
    pub fn real_ptr(&self) -> *mut c_void {
        self.real.get(self.library(), self.symbol)
    }
}

const fn cstr(with_nul: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(with_nul.as_bytes()) {
        Ok(s) => s,
        Err(_) => panic!("symbol names are NUL-terminated"),
    }
}

macro_rules! hook_table {
    ($( $name:ident : $base:literal, $layer:ident $(, $ptsz:ident)? ; )*) => {
        /// One variant per row of [`HOOKS`].
        #[allow(non_camel_case_types, reason = "variants are the CUDA symbol names")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Hook { $($name),* }

        /// Number of rows.
        pub const HOOK_COUNT: usize = [$(stringify!($name)),*].len();

        pub static HOOKS: [HookRow; HOOK_COUNT] = [$(
            HookRow {
                symbol: cstr(concat!(stringify!($name), "\0")),
                base: $base,
                layer: Layer::$layer,
                per_thread: hook_table!(@pt $($ptsz)?),
                wrapper: WrapperPtr(crate::exports::$name as *const ()),
                real: RealSlot::new(),
            }
        ),*];
    };
    (@pt ptsz) => { true };
    (@pt) => { false };
}

hook_table! {
    // ---- runtime: pinned memory
    cudaMallocHost: "cudaMallocHost", Runtime;
    cudaHostAlloc: "cudaHostAlloc", Runtime;
    cudaFreeHost: "cudaFreeHost", Runtime;
    cudaHostRegister: "cudaHostRegister", Runtime;
    cudaHostUnregister: "cudaHostUnregister", Runtime;
    // ---- runtime: the async copy family
    cudaMemcpyAsync: "cudaMemcpyAsync", Runtime;
    cudaMemcpyAsync_ptsz: "cudaMemcpyAsync", Runtime, ptsz;
    cudaMemcpy2DAsync: "cudaMemcpy2DAsync", Runtime;
    cudaMemcpy2DAsync_ptsz: "cudaMemcpy2DAsync", Runtime, ptsz;
    cudaMemcpy3DAsync: "cudaMemcpy3DAsync", Runtime;
    cudaMemcpy3DAsync_ptsz: "cudaMemcpy3DAsync", Runtime, ptsz;
    cudaMemcpyToSymbolAsync: "cudaMemcpyToSymbolAsync", Runtime;
    cudaMemcpyToSymbolAsync_ptsz: "cudaMemcpyToSymbolAsync", Runtime, ptsz;
    cudaMemcpyFromSymbolAsync: "cudaMemcpyFromSymbolAsync", Runtime;
    cudaMemcpyFromSymbolAsync_ptsz: "cudaMemcpyFromSymbolAsync", Runtime, ptsz;
    cudaMemcpy2DToArrayAsync: "cudaMemcpy2DToArrayAsync", Runtime;
    cudaMemcpy2DToArrayAsync_ptsz: "cudaMemcpy2DToArrayAsync", Runtime, ptsz;
    cudaMemcpy2DFromArrayAsync: "cudaMemcpy2DFromArrayAsync", Runtime;
    cudaMemcpy2DFromArrayAsync_ptsz: "cudaMemcpy2DFromArrayAsync", Runtime, ptsz;
    cudaMemcpyBatchAsync: "cudaMemcpyBatchAsync", Runtime;
    cudaMemcpyBatchAsync_ptsz: "cudaMemcpyBatchAsync", Runtime, ptsz;
    cudaMemcpy3DBatchAsync: "cudaMemcpy3DBatchAsync", Runtime;
    cudaMemcpy3DBatchAsync_ptsz: "cudaMemcpy3DBatchAsync", Runtime, ptsz;
    // ---- runtime: driver entry points handed out by the runtime
    cudaGetDriverEntryPoint: "cudaGetDriverEntryPoint", Runtime;
    cudaGetDriverEntryPoint_ptsz: "cudaGetDriverEntryPoint", Runtime, ptsz;
    cudaGetDriverEntryPointByVersion: "cudaGetDriverEntryPointByVersion", Runtime;
    cudaGetDriverEntryPointByVersion_ptsz: "cudaGetDriverEntryPointByVersion", Runtime, ptsz;
    // ---- driver: the loader
    cuGetProcAddress: "cuGetProcAddress", Driver;
    cuGetProcAddress_v2: "cuGetProcAddress", Driver;
    // ---- driver: pinned memory
    cuMemAllocHost_v2: "cuMemAllocHost", Driver;
    cuMemHostAlloc: "cuMemHostAlloc", Driver;
    cuMemFreeHost: "cuMemFreeHost", Driver;
    cuMemHostRegister_v2: "cuMemHostRegister", Driver;
    cuMemHostUnregister: "cuMemHostUnregister", Driver;
    // ---- driver: the async copy family
    cuMemcpyHtoDAsync_v2: "cuMemcpyHtoDAsync", Driver;
    cuMemcpyHtoDAsync_v2_ptsz: "cuMemcpyHtoDAsync", Driver, ptsz;
    cuMemcpyDtoHAsync_v2: "cuMemcpyDtoHAsync", Driver;
    cuMemcpyDtoHAsync_v2_ptsz: "cuMemcpyDtoHAsync", Driver, ptsz;
    cuMemcpyAsync: "cuMemcpyAsync", Driver;
    cuMemcpyAsync_ptsz: "cuMemcpyAsync", Driver, ptsz;
    cuMemcpy2DAsync_v2: "cuMemcpy2DAsync", Driver;
    cuMemcpy2DAsync_v2_ptsz: "cuMemcpy2DAsync", Driver, ptsz;
    cuMemcpy3DAsync_v2: "cuMemcpy3DAsync", Driver;
    cuMemcpy3DAsync_v2_ptsz: "cuMemcpy3DAsync", Driver, ptsz;
    cuMemcpyHtoAAsync_v2: "cuMemcpyHtoAAsync", Driver;
    cuMemcpyHtoAAsync_v2_ptsz: "cuMemcpyHtoAAsync", Driver, ptsz;
    cuMemcpyAtoHAsync_v2: "cuMemcpyAtoHAsync", Driver;
    cuMemcpyAtoHAsync_v2_ptsz: "cuMemcpyAtoHAsync", Driver, ptsz;
    // CUDA 12.8 signature (with failIdx) ...
    cuMemcpyBatchAsync: "cuMemcpyBatchAsync", Driver;
    cuMemcpyBatchAsync_ptsz: "cuMemcpyBatchAsync", Driver, ptsz;
    cuMemcpy3DBatchAsync: "cuMemcpy3DBatchAsync", Driver;
    cuMemcpy3DBatchAsync_ptsz: "cuMemcpy3DBatchAsync", Driver, ptsz;
    // ... and CUDA 13.0's (without).
    cuMemcpyBatchAsync_v2: "cuMemcpyBatchAsync", Driver;
    cuMemcpyBatchAsync_v2_ptsz: "cuMemcpyBatchAsync", Driver, ptsz;
    cuMemcpy3DBatchAsync_v2: "cuMemcpy3DBatchAsync", Driver;
    cuMemcpy3DBatchAsync_v2_ptsz: "cuMemcpy3DBatchAsync", Driver, ptsz;
}

/// The row of a hook.
pub fn hook(h: Hook) -> &'static HookRow {
    &HOOKS[h as usize]
}

/// Is `p` one of our wrappers?
pub fn is_wrapper(p: *const c_void) -> bool {
    HOOKS.iter().any(|h| h.wrapper.0 == p.cast())
}

/// What to hand back for a driver entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Not a function pinguard hooks: hand back the real pointer.
    NotHooked,
    /// Already one of our wrappers (the runtime asked through our own cuGetProcAddress).
    AlreadyWrapped,
    /// Hand back this wrapper.
    Wrapper(*const ()),
    /// A hooked name, but a variant no row matches: hand back the real pointer, count it.
    Unknown,
}

/// Routes a pointer returned by `cuGetProcAddress` for `base` (the name asked for).
pub fn route_by_pointer(base: &str, p: *mut c_void) -> Routed {
    if p.is_null() {
        return Routed::NotHooked;
    }
    if is_wrapper(p) {
        return Routed::AlreadyWrapped;
    }
    let mut candidates = HOOKS.iter().filter(|h| h.layer == Layer::Driver && h.base == base).peekable();
    if candidates.peek().is_none() {
        return Routed::NotHooked;
    }
    match candidates.find(|h| h.real_ptr() == p) {
        Some(h) => Routed::Wrapper(h.wrapper.0),
        None => Routed::Unknown,
    }
}

/// Routes `dlsym(handle, symbol)` that returned `p`: the symbol names the variant.
pub fn route_by_symbol(symbol: &str, p: *mut c_void) -> Routed {
    if p.is_null() {
        return Routed::NotHooked;
    }
    if is_wrapper(p) {
        return Routed::AlreadyWrapped;
    }
    let Some(h) = HOOKS.iter().find(|h| h.layer == Layer::Driver && h.name() == symbol) else {
        return Routed::NotHooked;
    };
    h.real.set_if_empty(p);
    if h.real.peek() == p { Routed::Wrapper(h.wrapper.0) } else { Routed::Unknown }
}

/// Is `symbol` a driver symbol `dlsym` should route? (A cheap filter run on every
/// `dlsym` by handle, before anything is resolved.)
pub fn is_routed_driver_symbol(symbol: &[u8]) -> bool {
    symbol.starts_with(b"cu") && HOOKS.iter().any(|h| h.layer == Layer::Driver && h.symbol.to_bytes() == symbol)
}
