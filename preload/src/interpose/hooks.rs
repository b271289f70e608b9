//! THE hook declarations: every function pinguard hooks, declared once.
//!
//! A declaration reads
//!
//! ```text
//! watch runtime cudaMemcpyAsync | cudaMemcpyAsync_ptsz
//!     (dst: *mut c_void, src: *const c_void, count: usize, kind: u32, stream: Stream) -> CudaError
//!     => |call| call.copy(stream, || One(copy_shape::linear_by_kind(dst as usize, src as usize, count, kind)));
//! ```
//!
//! - the scope: `watch` (copies, allocations, releases: only the outermost pinguard
//!   frame on a thread acts) or `route` (entry-point lookups, routed from any frame);
//! - the layer (`runtime`, `driver`) and the exported symbol, with its `_ptsz`
//!   per-thread-default-stream twin after `|` where it has one;
//! - the C signature, written once, from `cuda.h` / `cuda_runtime_api.h`;
//! - what the hook does, as an action of [`Call`] given the call's own arguments: for a
//!   copy, how to read its host ranges.
//!
//! From that one declaration come the export(s) (`#[no_mangle]`, outside unit tests),
//! the type of the real function (the same signature, so a mismatch cannot compile),
//! the [`Hook`] variant and the row of [`HOOKS`] that routing matches pointers against.
//! Searching for a CUDA symbol lands on its declaration.
//!
//! # Adding a hooked API
//!
//! 1. Its declaration below, with the C signature copied from the CUDA header.
//! 2. If its arguments have a new shape, a function in `core/src/copy_shape.rs` that
//!    turns them into `CopyElement`s (with unit tests), or a reader in `describe.rs` if
//!    it points into caller memory.
//! 3. A test app in `testing/apps/` that makes the call in each build it exists in, and its
//!    line in `testing/apps/manifest.txt` with the findings it must produce.
//! 4. If it is a struct CUDA defines, its layout in `core/src/cuda_types.rs` and a
//!    check in `preload/tests/abi_layout.rs`.

use std::ffi::{c_char, c_void};

use pinguard_core::copy_shape;
use pinguard_core::cuda_types::{CudaMemcpy2D, CudaMemcpy3D, CudaMemcpy3DParms, Memcpy3DBatchOp, MemcpyAttributes};
use pinguard_core::registry::PinOrigin;
use pinguard_core::report::Layer;
use pinguard_core::verdict::Direction;

use crate::finding::describe::{self, Elements::One, RuntimeBatchAbi};
use crate::finding::intercept::{self, Call};
use crate::finding::pinning;
use crate::table::hook_table::{HookRow, Scope};
use crate::table::name_index::NameIndex;

type CudaError = i32;
type CuResult = i32;
type Stream = *mut c_void;
type DevicePtr = u64;
type Array = *mut c_void;

/// Expands the declarations into the `Hook` enum, the `HOOKS` table and the exports.
macro_rules! declare_hooks {
    ($(
        $(#[doc = $doc:literal])*
        $scope:ident $layer:ident $name:ident $(| $twin:ident)?
            ($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty
            => |$call:ident| $body:expr;
    )*) => {
        /// One variant per exported hook (a declaration with a twin has two).
        #[allow(non_camel_case_types, reason = "variants are the CUDA symbol names")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Hook { $( $name, $($twin,)? )* }

        impl Hook {
            pub const COUNT: usize = [$( stringify!($name), $(stringify!($twin),)? )*].len();

            /// This hook's row of [`HOOKS`].
            pub fn row(self) -> &'static HookRow {
                &HOOKS[self as usize]
            }
        }

        /// Every hook, in declaration order.
        pub static HOOKS: [HookRow; Hook::COUNT] = [$(
            declare_hooks!(@row $scope $layer $name false),
            $( declare_hooks!(@row $scope $layer $twin true), )?
        )*];

        /// The rows of [`HOOKS`] by exported name, one probe each (`dlsym` asks it).
        pub static HOOK_NAMES: NameIndex = NameIndex::build(&[$(
            declare_hooks!(@cstr $name),
            $( declare_hooks!(@cstr $twin), )?
        )*]);

        $(
            declare_hooks!(@each [$($doc)*] [$name $($twin)?] ($($arg: $ty),*) -> $ret, $call, $body);
        )*
    };

    (@each $docs:tt [$($fname:ident)+] $sig:tt -> $ret:ty, $call:ident, $body:expr) => {
        $( declare_hooks!(@export $docs $fname $sig -> $ret, $call, $body); )+
    };

    (@cstr $name:ident) => {
        match ::std::ffi::CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
            Ok(s) => s,
            Err(_) => panic!("symbol names are NUL-terminated"),
        }
    };
    (@row $scope:ident $layer:ident $name:ident $per_thread:literal) => {
        HookRow::new(
            declare_hooks!(@cstr $name),
            declare_hooks!(@layer $layer),
            declare_hooks!(@scope $scope),
            $per_thread,
            $name as *const (),
        )
    };
    (@layer runtime) => { Layer::Runtime };
    (@layer driver) => { Layer::Driver };
    (@scope watch) => { Scope::Watch };
    (@scope route) => { Scope::Route };

    (@export [$($doc:literal)*] $name:ident ($($arg:ident : $ty:ty),*) -> $ret:ty, $call:ident, $body:expr) => {
        $(#[doc = $doc])*
        ///
        /// # Safety
        /// Called as the CUDA function of this name, under its contract: the arguments
        /// reach the real function untouched and its return code comes back as is.
        #[cfg_attr(not(test), unsafe(no_mangle))]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            /// The real function's type: this declaration's own signature.
            type Real = unsafe extern "C" fn($($ty),*) -> $ret;
            let row = Hook::$name.row();
            // SAFETY: `Real` is written from the same declaration as this export, which
            // is the C signature of the real function of the same name.
            let Some(real) = (unsafe { row.real_fn::<Real>() }) else {
                return intercept::missing_real(row);
            };
            // SAFETY: the caller's arguments, forwarded unchanged, exactly once (FnOnce).
            let real = move || unsafe { real($($arg),*) };
            let $call = match Call::enter(row, real) {
                Ok(call) => call,
                Err(real) => return real(),
            };
            $body
        }
    };
}

declare_hooks! {
    // ---- runtime: pinned memory ------------------------------------------------------

    /// `cudaMallocHost`: pinned allocation.
    watch runtime cudaMallocHost (ptr: *mut *mut c_void, size: usize) -> CudaError
        // SAFETY: `ptr` is the call's out-parameter.
        => |call| unsafe { pinning::pin(call, PinOrigin::MallocHost, ptr, size) };
    /// `cudaHostAlloc`: pinned allocation with flags.
    watch runtime cudaHostAlloc (ptr: *mut *mut c_void, size: usize, flags: u32) -> CudaError
        // SAFETY: `ptr` is the call's out-parameter.
        => |call| unsafe { pinning::pin(call, PinOrigin::HostAlloc, ptr, size) };
    /// `cudaFreeHost`.
    watch runtime cudaFreeHost (ptr: *mut c_void) -> CudaError
        => |call| pinning::unpin(call, ptr);
    /// `cudaHostRegister`: pins memory the program owns.
    watch runtime cudaHostRegister (ptr: *mut c_void, size: usize, flags: u32) -> CudaError
        => |call| pinning::pin_registered(call, ptr, size);
    /// `cudaHostUnregister`.
    watch runtime cudaHostUnregister (ptr: *mut c_void) -> CudaError
        => |call| pinning::unpin(call, ptr);

    // ---- runtime: stream capture -------------------------------------------------------

    /// `cudaStreamBeginCapture`: where a capture begins (its captured copies name it).
    watch runtime cudaStreamBeginCapture | cudaStreamBeginCapture_ptsz (stream: Stream, mode: u32) -> CudaError
        => |call| call.capture_begun(stream, Some(mode));
    /// `cudaStreamBeginCaptureToGraph` (CUDA 12.3): a capture into an existing graph.
    watch runtime cudaStreamBeginCaptureToGraph | cudaStreamBeginCaptureToGraph_ptsz
        (stream: Stream, graph: *mut c_void, dependencies: *const *mut c_void, dependency_data: *const c_void,
         count: usize, mode: u32) -> CudaError
        => |call| call.capture_begun(stream, Some(mode));

    // ---- runtime: the async copy family ----------------------------------------------

    /// `cudaMemcpyAsync`: `kind` says which side is host memory.
    watch runtime cudaMemcpyAsync | cudaMemcpyAsync_ptsz
        (dst: *mut c_void, src: *const c_void, count: usize, kind: u32, stream: Stream) -> CudaError
        => |call| call.copy(stream, || One(copy_shape::linear_by_kind(dst as usize, src as usize, count, kind)));
    /// `cudaMemcpy2DAsync`: pitched on both sides.
    watch runtime cudaMemcpy2DAsync | cudaMemcpy2DAsync_ptsz
        (dst: *mut c_void, dpitch: usize, src: *const c_void, spitch: usize, width: usize, height: usize,
         kind: u32, stream: Stream) -> CudaError
        => |call| call.copy(stream, || {
            let (d, s) = (Some((dst as usize, dpitch)), Some((src as usize, spitch)));
            One(copy_shape::runtime_2d(d, s, width, height, kind))
        });
    /// `cudaMemcpy3DAsync`: a `cudaMemcpy3DParms` block.
    watch runtime cudaMemcpy3DAsync | cudaMemcpy3DAsync_ptsz
        (p: *const CudaMemcpy3DParms, stream: Stream) -> CudaError
        // SAFETY: a non-null `p` is the caller's parameter block for the call.
        => |call| call.copy(stream, || unsafe { describe::param_block(p, copy_shape::runtime_3d) });
    /// `cudaMemcpyToSymbolAsync`: the symbol is device memory; `src` follows `kind`.
    watch runtime cudaMemcpyToSymbolAsync | cudaMemcpyToSymbolAsync_ptsz
        (symbol: *const c_void, src: *const c_void, count: usize, offset: usize, kind: u32, stream: Stream)
        -> CudaError
        => |call| call.copy(stream, || One(copy_shape::symbol_copy(src as usize, count, kind, true)));
    /// `cudaMemcpyFromSymbolAsync`: the symbol is device memory; `dst` follows `kind`.
    watch runtime cudaMemcpyFromSymbolAsync | cudaMemcpyFromSymbolAsync_ptsz
        (dst: *mut c_void, symbol: *const c_void, count: usize, offset: usize, kind: u32, stream: Stream)
        -> CudaError
        => |call| call.copy(stream, || One(copy_shape::symbol_copy(dst as usize, count, kind, false)));
    /// `cudaMemcpy2DToArrayAsync`: pitched source, array destination.
    watch runtime cudaMemcpy2DToArrayAsync | cudaMemcpy2DToArrayAsync_ptsz
        (dst: *mut c_void, w_offset: usize, h_offset: usize, src: *const c_void, spitch: usize, width: usize,
         height: usize, kind: u32, stream: Stream) -> CudaError
        => |call| call.copy(stream, || One(copy_shape::runtime_2d(None, Some((src as usize, spitch)), width, height, kind)));
    /// `cudaMemcpy2DFromArrayAsync`: array source, pitched destination.
    watch runtime cudaMemcpy2DFromArrayAsync | cudaMemcpy2DFromArrayAsync_ptsz
        (dst: *mut c_void, dpitch: usize, src: *const c_void, w_offset: usize, h_offset: usize, width: usize,
         height: usize, kind: u32, stream: Stream) -> CudaError
        => |call| call.copy(stream, || One(copy_shape::runtime_2d(Some((dst as usize, dpitch)), None, width, height, kind)));
    /// `cudaMemcpyBatchAsync`, both ABIs behind one name (see [`RuntimeBatchAbi`]):
    /// CUDA 13 `(..., numAttrs, stream)`, CUDA 12.8 `(..., numAttrs, failIdx, stream)`.
    watch runtime cudaMemcpyBatchAsync | cudaMemcpyBatchAsync_ptsz
        (dsts: *mut c_void, srcs: *mut c_void, sizes: *mut usize, count: usize, attrs: *mut MemcpyAttributes,
         attr_idxs: *mut usize, num_attrs: usize, after_attrs: usize, last: usize) -> CudaError
        => |call| {
            let stream = RuntimeBatchAbi::of(call.real_ptr()).stream(after_attrs, last);
            // SAFETY: the batch contract: the arrays hold `count` (`num_attrs`) elements.
            call.copy(stream, || unsafe { describe::batch(dsts, srcs, sizes, count, attrs, attr_idxs, num_attrs) })
        };
    /// `cudaMemcpy3DBatchAsync`, both ABIs behind one name (see [`RuntimeBatchAbi`]):
    /// CUDA 13 `(n, ops, flags, stream)`, CUDA 12.8 `(n, ops, failIdx, flags, stream)`.
    watch runtime cudaMemcpy3DBatchAsync | cudaMemcpy3DBatchAsync_ptsz
        (count: usize, ops: *mut Memcpy3DBatchOp, third: usize, fourth: usize, fifth: usize) -> CudaError
        => |call| {
            let stream = RuntimeBatchAbi::of(call.real_ptr()).stream(fourth, fifth);
            // SAFETY: the batch contract: `ops` holds `count` operations.
            call.copy(stream, || unsafe { describe::batch3d(ops, count) })
        };

    // ---- runtime: driver entry points handed out by the runtime ----------------------

    /// `cudaGetDriverEntryPoint`: no version is named; the pointer decides the variant.
    route runtime cudaGetDriverEntryPoint | cudaGetDriverEntryPoint_ptsz
        (symbol: *const c_char, pfn: *mut *mut c_void, flags: u64, status: *mut i32) -> CudaError
        // SAFETY: the lookup contract: `symbol` is a C string, `pfn` the out-parameter.
        => |call| unsafe { call.route_entry_point(&HOOKS, symbol, pfn, 0) };
    /// `cudaGetDriverEntryPointByVersion`.
    route runtime cudaGetDriverEntryPointByVersion | cudaGetDriverEntryPointByVersion_ptsz
        (symbol: *const c_char, pfn: *mut *mut c_void, version: u32, flags: u64, status: *mut i32) -> CudaError
        // SAFETY: the lookup contract: `symbol` is a C string, `pfn` the out-parameter.
        => |call| unsafe { call.route_entry_point(&HOOKS, symbol, pfn, i64::from(version)) };

    // ---- driver: the loader ------------------------------------------------------------

    /// `cuGetProcAddress` (CUDA 11.3 ABI). Its self-lookup is routed like any other, so a
    /// static runtime keeps asking through our wrapper (without it pinguard sees 4 calls).
    route driver cuGetProcAddress (symbol: *const c_char, pfn: *mut *mut c_void, version: i32, flags: u64) -> CuResult
        // SAFETY: the lookup contract: `symbol` is a C string, `pfn` the out-parameter.
        => |call| unsafe { call.route_entry_point(&HOOKS, symbol, pfn, i64::from(version)) };
    /// `cuGetProcAddress_v2` (CUDA 12.0 ABI).
    route driver cuGetProcAddress_v2
        (symbol: *const c_char, pfn: *mut *mut c_void, version: i32, flags: u64, status: *mut i32) -> CuResult
        // SAFETY: the lookup contract: `symbol` is a C string, `pfn` the out-parameter.
        => |call| unsafe { call.route_entry_point(&HOOKS, symbol, pfn, i64::from(version)) };

    // ---- driver: pinned memory ---------------------------------------------------------

    /// `cuMemAllocHost_v2`.
    watch driver cuMemAllocHost_v2 (pp: *mut *mut c_void, size: usize) -> CuResult
        // SAFETY: `pp` is the call's out-parameter.
        => |call| unsafe { pinning::pin(call, PinOrigin::MallocHost, pp, size) };
    /// `cuMemHostAlloc`.
    watch driver cuMemHostAlloc (pp: *mut *mut c_void, size: usize, flags: u32) -> CuResult
        // SAFETY: `pp` is the call's out-parameter.
        => |call| unsafe { pinning::pin(call, PinOrigin::HostAlloc, pp, size) };
    /// `cuMemFreeHost`.
    watch driver cuMemFreeHost (p: *mut c_void) -> CuResult
        => |call| pinning::unpin(call, p);
    /// `cuMemHostRegister_v2`.
    watch driver cuMemHostRegister_v2 (p: *mut c_void, size: usize, flags: u32) -> CuResult
        => |call| pinning::pin_registered(call, p, size);
    /// `cuMemHostUnregister`.
    watch driver cuMemHostUnregister (p: *mut c_void) -> CuResult
        => |call| pinning::unpin(call, p);

    // ---- driver: stream capture --------------------------------------------------------

    /// `cuStreamBeginCapture` (CUDA 10.0 ABI: no mode argument, global mode).
    watch driver cuStreamBeginCapture | cuStreamBeginCapture_ptsz (stream: Stream) -> CuResult
        => |call| call.capture_begun(stream, Some(0));
    /// `cuStreamBeginCapture_v2` (CUDA 10.1 ABI, with the mode).
    watch driver cuStreamBeginCapture_v2 | cuStreamBeginCapture_v2_ptsz (stream: Stream, mode: u32) -> CuResult
        => |call| call.capture_begun(stream, Some(mode));
    /// `cuStreamBeginCaptureToGraph` (CUDA 12.3).
    watch driver cuStreamBeginCaptureToGraph | cuStreamBeginCaptureToGraph_ptsz
        (stream: Stream, graph: *mut c_void, dependencies: *const *mut c_void, dependency_data: *const c_void,
         count: usize, mode: u32) -> CuResult
        => |call| call.capture_begun(stream, Some(mode));

    // ---- driver: the async copy family -------------------------------------------------

    /// `cuMemcpyHtoDAsync_v2`.
    watch driver cuMemcpyHtoDAsync_v2 | cuMemcpyHtoDAsync_v2_ptsz
        (dst: DevicePtr, src: *const c_void, count: usize, stream: Stream) -> CuResult
        => |call| call.copy(stream, || One(copy_shape::linear_host(src as usize, count, Direction::HostToDevice)));
    /// `cuMemcpyDtoHAsync_v2`.
    watch driver cuMemcpyDtoHAsync_v2 | cuMemcpyDtoHAsync_v2_ptsz
        (dst: *mut c_void, src: DevicePtr, count: usize, stream: Stream) -> CuResult
        => |call| call.copy(stream, || One(copy_shape::linear_host(dst as usize, count, Direction::DeviceToHost)));
    /// `cuMemcpyAsync`: unified addressing, CUDA infers each side.
    watch driver cuMemcpyAsync | cuMemcpyAsync_ptsz
        (dst: DevicePtr, src: DevicePtr, count: usize, stream: Stream) -> CuResult
        => |call| call.copy(stream, || One(copy_shape::linear_unified(dst as usize, src as usize, count)));
    /// `cuMemcpy2DAsync_v2`: a `CUDA_MEMCPY2D` block.
    watch driver cuMemcpy2DAsync_v2 | cuMemcpy2DAsync_v2_ptsz
        (p: *const CudaMemcpy2D, stream: Stream) -> CuResult
        // SAFETY: a non-null `p` is the caller's parameter block for the call.
        => |call| call.copy(stream, || unsafe { describe::param_block(p, copy_shape::memcpy2d) });
    /// `cuMemcpy3DAsync_v2`: a `CUDA_MEMCPY3D` block.
    watch driver cuMemcpy3DAsync_v2 | cuMemcpy3DAsync_v2_ptsz
        (p: *const CudaMemcpy3D, stream: Stream) -> CuResult
        // SAFETY: a non-null `p` is the caller's parameter block for the call.
        => |call| call.copy(stream, || unsafe { describe::param_block(p, copy_shape::memcpy3d) });
    /// `cuMemcpyHtoAAsync_v2`.
    watch driver cuMemcpyHtoAAsync_v2 | cuMemcpyHtoAAsync_v2_ptsz
        (dst: Array, offset: usize, src: *const c_void, count: usize, stream: Stream) -> CuResult
        => |call| call.copy(stream, || One(copy_shape::linear_host(src as usize, count, Direction::HostToDevice)));
    /// `cuMemcpyAtoHAsync_v2`.
    watch driver cuMemcpyAtoHAsync_v2 | cuMemcpyAtoHAsync_v2_ptsz
        (dst: *mut c_void, src: Array, offset: usize, count: usize, stream: Stream) -> CuResult
        => |call| call.copy(stream, || One(copy_shape::linear_host(dst as usize, count, Direction::DeviceToHost)));
    /// `cuMemcpyBatchAsync`, CUDA 12.8 signature (with `failIdx`).
    watch driver cuMemcpyBatchAsync | cuMemcpyBatchAsync_ptsz
        (dsts: *mut DevicePtr, srcs: *mut DevicePtr, sizes: *mut usize, count: usize,
         attrs: *mut MemcpyAttributes, attr_idxs: *mut usize, num_attrs: usize, fail_idx: *mut usize,
         stream: Stream) -> CuResult
        // SAFETY: the batch contract: the arrays hold `count` (`num_attrs`) elements.
        => |call| call.copy(stream, || unsafe {
            describe::batch(dsts.cast(), srcs.cast(), sizes, count, attrs, attr_idxs, num_attrs)
        });
    /// `cuMemcpy3DBatchAsync`, CUDA 12.8 signature (with `failIdx`).
    watch driver cuMemcpy3DBatchAsync | cuMemcpy3DBatchAsync_ptsz
        (count: usize, ops: *mut Memcpy3DBatchOp, fail_idx: *mut usize, flags: u64, stream: Stream) -> CuResult
        // SAFETY: the batch contract: `ops` holds `count` operations.
        => |call| call.copy(stream, || unsafe { describe::batch3d(ops, count) });
    /// `cuMemcpyBatchAsync_v2`, CUDA 13.0 signature (without `failIdx`).
    watch driver cuMemcpyBatchAsync_v2 | cuMemcpyBatchAsync_v2_ptsz
        (dsts: *mut DevicePtr, srcs: *mut DevicePtr, sizes: *mut usize, count: usize,
         attrs: *mut MemcpyAttributes, attr_idxs: *mut usize, num_attrs: usize, stream: Stream) -> CuResult
        // SAFETY: the batch contract: the arrays hold `count` (`num_attrs`) elements.
        => |call| call.copy(stream, || unsafe {
            describe::batch(dsts.cast(), srcs.cast(), sizes, count, attrs, attr_idxs, num_attrs)
        });
    /// `cuMemcpy3DBatchAsync_v2`, CUDA 13.0 signature (without `failIdx`).
    watch driver cuMemcpy3DBatchAsync_v2 | cuMemcpy3DBatchAsync_v2_ptsz
        (count: usize, ops: *mut Memcpy3DBatchOp, flags: u64, stream: Stream) -> CuResult
        // SAFETY: the batch contract: `ops` holds `count` operations.
        => |call| call.copy(stream, || unsafe { describe::batch3d(ops, count) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::sink::capture;
    use crate::table::routing::{self, Routed};
    use std::hint::black_box;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // Three distinct functions standing in for the driver's variants.
    extern "C" fn fake_a() -> i32 {
        black_box(1)
    }
    extern "C" fn fake_b() -> i32 {
        black_box(2)
    }
    extern "C" fn fake_c() -> i32 {
        black_box(3)
    }

    fn ptr(f: extern "C" fn() -> i32) -> *mut c_void {
        f as *mut c_void
    }

    #[test]
    fn every_declaration_is_a_row_with_its_own_wrapper() {
        assert_eq!(HOOKS.len(), Hook::COUNT);
        assert_eq!(Hook::cuMemcpyHtoDAsync_v2_ptsz.row().name(), "cuMemcpyHtoDAsync_v2_ptsz");
        assert!(Hook::cuMemcpyHtoDAsync_v2_ptsz.row().per_thread);
        assert!(!Hook::cuMemcpyHtoDAsync_v2.row().per_thread);
        assert_eq!(Hook::cuGetProcAddress_v2.row().scope, Scope::Route);
        assert_eq!(Hook::cudaFreeHost.row().scope, Scope::Watch);
        let mut wrappers: Vec<_> = HOOKS.iter().map(|h| h.wrapper.0 as usize).collect();
        wrappers.sort();
        wrappers.dedup();
        assert_eq!(wrappers.len(), HOOKS.len(), "two rows share a wrapper");
    }

    /// The name index finds every row by its exported name, in a probe or two (the hash
    /// spreads CUDA's look-alike names), and nothing for a name no row has.
    #[test]
    fn every_row_is_found_by_name_in_a_short_probe() {
        let name_of = |row: usize| HOOKS[row].symbol.to_bytes();
        for (i, row) in HOOKS.iter().enumerate() {
            let found = routing::row_named(&HOOKS, &HOOK_NAMES, row.symbol.to_bytes());
            assert!(found.is_some_and(|f| std::ptr::eq(f, &HOOKS[i])), "{}", row.name());
        }
        let longest = HOOK_NAMES.longest_probe(HOOKS.len(), name_of);
        assert!(longest <= 3, "a name takes {longest} probes");
        for absent in
            [&b"cuMemAlloc_v2"[..], b"cuMemcpyHtoDAsync", b"cudaMemcpy", b"cuMemcpyHtoDAsync_v2_ptds", b"malloc"]
        {
            assert!(routing::row_named(&HOOKS, &HOOK_NAMES, absent).is_none(), "{absent:?}");
        }
        let driver = |s: &[u8]| routing::driver_row(&HOOKS, &HOOK_NAMES, s).map(|r| r.name());
        assert_eq!(driver(b"cuMemcpyHtoDAsync_v2_ptsz"), Some("cuMemcpyHtoDAsync_v2_ptsz"));
        assert_eq!(driver(b"cudaMemcpyAsync"), None, "a runtime row is not a driver row");
    }

    #[test]
    fn routing_by_pointer_picks_the_exact_variant() {
        let legacy = Hook::cuMemcpyDtoHAsync_v2.row();
        let per_thread = Hook::cuMemcpyDtoHAsync_v2_ptsz.row();
        legacy.real.set_if_empty(ptr(fake_a));
        per_thread.real.set_if_empty(ptr(fake_b));
        let base = "cuMemcpyDtoHAsync";
        assert_eq!(routing::by_pointer(&HOOKS, base, ptr(fake_a)), Routed::Wrapper(legacy.wrapper.0));
        assert_eq!(routing::by_pointer(&HOOKS, base, ptr(fake_b)), Routed::Wrapper(per_thread.wrapper.0));
        assert_eq!(routing::by_pointer(&HOOKS, base, ptr(fake_c)), Routed::Unknown, "a variant with no row");
        assert_eq!(routing::by_pointer(&HOOKS, "cuMemAlloc", ptr(fake_c)), Routed::NotHooked);
        assert_eq!(routing::by_pointer(&HOOKS, base, std::ptr::null_mut()), Routed::NotHooked);
        let wrapper = legacy.wrapper.0 as *mut c_void;
        assert_eq!(routing::by_pointer(&HOOKS, base, wrapper), Routed::AlreadyWrapped);
    }

    #[test]
    fn routing_tells_the_two_batch_signatures_apart_by_pointer() {
        let v128 = Hook::cuMemcpy3DBatchAsync.row();
        let v130 = Hook::cuMemcpy3DBatchAsync_v2.row();
        v128.real.set_if_empty(ptr(fake_b));
        v130.real.set_if_empty(ptr(fake_c));
        let base = "cuMemcpy3DBatchAsync";
        assert_eq!(routing::by_pointer(&HOOKS, base, ptr(fake_b)), Routed::Wrapper(v128.wrapper.0));
        assert_eq!(routing::by_pointer(&HOOKS, base, ptr(fake_c)), Routed::Wrapper(v130.wrapper.0));
    }

    #[test]
    fn routing_by_symbol_records_the_pointer_and_refuses_a_second_one() {
        let row = Hook::cuMemcpyAtoHAsync_v2.row();
        let name = b"cuMemcpyAtoHAsync_v2";
        assert_eq!(routing::by_symbol(&HOOKS, &HOOK_NAMES, name, ptr(fake_a)), Routed::Wrapper(row.wrapper.0));
        assert_eq!(row.real.peek(), ptr(fake_a));
        assert_eq!(
            routing::by_symbol(&HOOKS, &HOOK_NAMES, name, ptr(fake_b)),
            Routed::Unknown,
            "another library's function"
        );
        assert_eq!(
            routing::by_symbol(&HOOKS, &HOOK_NAMES, b"cudaMemcpyAsync", ptr(fake_a)),
            Routed::NotHooked,
            "runtime symbol"
        );
        assert_eq!(routing::by_symbol(&HOOKS, &HOOK_NAMES, b"cuMemAlloc_v2", ptr(fake_a)), Routed::NotHooked);
    }

    static HTOA_CALLS: AtomicUsize = AtomicUsize::new(0);
    static HTOA_SRC: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn fake_htoa(_dst: Array, _offset: usize, src: *const c_void, _n: usize, _s: Stream) -> CuResult {
        HTOA_CALLS.fetch_add(1, Ordering::SeqCst);
        HTOA_SRC.store(src as usize, Ordering::SeqCst);
        7
    }

    /// Through a generated export: the real function gets the caller's arguments once,
    /// its code comes back, and the pageable copy is reported.
    #[test]
    fn a_generated_export_forwards_and_reports() {
        Hook::cuMemcpyHtoAAsync_v2.row().real.set_if_empty(fake_htoa as *mut c_void);
        let host = vec![0u8; 4096];
        // SAFETY: the fake real function reads nothing through its arguments.
        let rc = unsafe {
            cuMemcpyHtoAAsync_v2(std::ptr::null_mut(), 0, host.as_ptr().cast(), host.len(), std::ptr::null_mut())
        };
        assert_eq!(rc, 7);
        assert_eq!(HTOA_CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(HTOA_SRC.load(Ordering::SeqCst), host.as_ptr() as usize);
        let lines = capture::lines_containing("api=cuMemcpyHtoAAsync_v2 ");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("[verdict=pageable") && lines[0].contains("bytes=4096") && lines[0].contains("result=7")
        );
    }

    #[test]
    fn a_missing_real_function_returns_symbol_not_found_and_says_so_once() {
        // SAFETY: no real function exists in the test process, so nothing is called.
        let rc = unsafe {
            cuMemcpyAtoHAsync_v2_ptsz(std::ptr::null_mut(), std::ptr::null_mut(), 0, 8, std::ptr::null_mut())
        };
        // SAFETY: as above.
        let again = unsafe {
            cuMemcpyAtoHAsync_v2_ptsz(std::ptr::null_mut(), std::ptr::null_mut(), 0, 8, std::ptr::null_mut())
        };
        assert_eq!((rc, again), (302, 302));
        assert_eq!(capture::lines_containing("cannot find the real cuMemcpyAtoHAsync_v2_ptsz").len(), 1);
    }
}
