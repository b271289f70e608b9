//! Runtime-layer hooks (`cuda*`). They fire in programs that link `libcudart.so`
//! dynamically (PyTorch); an unversioned export satisfies the program's versioned
//! reference (`cudaMemcpyAsync@libcudart.so.13`). Statically linked runtimes never call
//! them; their copies arrive in the driver hooks instead.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, Ordering};

use pinguard_core::copy_shape::{self, NoVerdict};
use pinguard_core::cuda_types::{CudaMemcpy3DParms, Memcpy3DBatchOp, MemcpyAttributes};
use pinguard_core::registry::PinOrigin;

use crate::api_table::Hook;
use crate::exports::call_of;
use crate::exports::driver::{batch_elements, batch3d_elements};
use crate::intercept::{self, Elements};
use crate::symbols;

type CudaError = i32;
type Stream = *mut c_void;

// ---- pinned memory --------------------------------------------------------------------

/// # Safety
/// Called as `cudaMallocHost`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cudaMallocHost(ptr: *mut *mut c_void, size: usize) -> CudaError {
    let (row, real) = real_or_return!(Hook::cudaMallocHost, unsafe extern "C" fn(*mut *mut c_void, usize) -> CudaError);
    // SAFETY: the caller's arguments, forwarded unchanged.
    intercept::pin(row.name(), PinOrigin::MallocHost, ptr, size, || unsafe { real(ptr, size) })
}

/// # Safety
/// Called as `cudaHostAlloc`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cudaHostAlloc(ptr: *mut *mut c_void, size: usize, flags: u32) -> CudaError {
    let (row, real) =
        real_or_return!(Hook::cudaHostAlloc, unsafe extern "C" fn(*mut *mut c_void, usize, u32) -> CudaError);
    // SAFETY: the caller's arguments, forwarded unchanged.
    intercept::pin(row.name(), PinOrigin::HostAlloc, ptr, size, || unsafe { real(ptr, size, flags) })
}

/// # Safety
/// Called as `cudaFreeHost`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cudaFreeHost(ptr: *mut c_void) -> CudaError {
    let (row, real) = real_or_return!(Hook::cudaFreeHost, unsafe extern "C" fn(*mut c_void) -> CudaError);
    // SAFETY: the caller's argument, forwarded unchanged.
    intercept::unpin(row.name(), ptr, || unsafe { real(ptr) })
}

/// # Safety
/// Called as `cudaHostRegister`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cudaHostRegister(ptr: *mut c_void, size: usize, flags: u32) -> CudaError {
    let (row, real) =
        real_or_return!(Hook::cudaHostRegister, unsafe extern "C" fn(*mut c_void, usize, u32) -> CudaError);
    // SAFETY: the caller's arguments, forwarded unchanged.
    intercept::pin_registered(row.name(), ptr, size, || unsafe { real(ptr, size, flags) })
}

/// # Safety
/// Called as `cudaHostUnregister`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cudaHostUnregister(ptr: *mut c_void) -> CudaError {
    let (row, real) = real_or_return!(Hook::cudaHostUnregister, unsafe extern "C" fn(*mut c_void) -> CudaError);
    // SAFETY: the caller's argument, forwarded unchanged.
    intercept::unpin(row.name(), ptr, || unsafe { real(ptr) })
}

// ---- copies ---------------------------------------------------------------------------

unsafe fn memcpy(h: Hook, dst: *mut c_void, src: *const c_void, n: usize, kind: u32, stream: Stream) -> CudaError {
    let (row, real) =
        real_or_return!(h, unsafe extern "C" fn(*mut c_void, *const c_void, usize, u32, Stream) -> CudaError);
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::linear_by_kind(dst as usize, src as usize, n, kind)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, src, n, kind, stream) },
    )
}
twins!(cudaMemcpyAsync, cudaMemcpyAsync_ptsz,
    (dst: *mut c_void, src: *const c_void, n: usize, kind: u32, stream: Stream), memcpy);

#[allow(clippy::too_many_arguments, reason = "the CUDA signature")]
unsafe fn memcpy2d(
    h: Hook,
    dst: *mut c_void,
    dpitch: usize,
    src: *const c_void,
    spitch: usize,
    width: usize,
    height: usize,
    kind: u32,
    stream: Stream,
) -> CudaError {
    let (row, real) = real_or_return!(
        h,
        unsafe extern "C" fn(*mut c_void, usize, *const c_void, usize, usize, usize, u32, Stream) -> CudaError
    );
    intercept::copy(
        call_of(row, stream),
        || {
            let d = Some((dst as usize, dpitch));
            let s = Some((src as usize, spitch));
            Elements::One(copy_shape::runtime_2d(d, s, width, height, kind))
        },
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, dpitch, src, spitch, width, height, kind, stream) },
    )
}
twins!(cudaMemcpy2DAsync, cudaMemcpy2DAsync_ptsz,
    (dst: *mut c_void, dpitch: usize, src: *const c_void, spitch: usize, width: usize, height: usize, kind: u32,
     stream: Stream), memcpy2d);

unsafe fn memcpy3d(h: Hook, p: *const CudaMemcpy3DParms, stream: Stream) -> CudaError {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(*const CudaMemcpy3DParms, Stream) -> CudaError);
    intercept::copy(
        call_of(row, stream),
        // SAFETY: a non-null parameter block is a cudaMemcpy3DParms the caller owns for the call.
        || Elements::One(unsafe { p.as_ref() }.ok_or(NoVerdict::NullParameters).and_then(copy_shape::runtime_3d)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(p, stream) },
    )
}
twins!(cudaMemcpy3DAsync, cudaMemcpy3DAsync_ptsz, (p: *const CudaMemcpy3DParms, stream: Stream), memcpy3d);

unsafe fn to_symbol(
    h: Hook,
    symbol: *const c_void,
    src: *const c_void,
    n: usize,
    offset: usize,
    kind: u32,
    stream: Stream,
) -> CudaError {
    let (row, real) =
        real_or_return!(h, unsafe extern "C" fn(*const c_void, *const c_void, usize, usize, u32, Stream) -> CudaError);
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::symbol_copy(src as usize, n, kind, true)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(symbol, src, n, offset, kind, stream) },
    )
}
twins!(cudaMemcpyToSymbolAsync, cudaMemcpyToSymbolAsync_ptsz,
    (symbol: *const c_void, src: *const c_void, n: usize, offset: usize, kind: u32, stream: Stream), to_symbol);

unsafe fn from_symbol(
    h: Hook,
    dst: *mut c_void,
    symbol: *const c_void,
    n: usize,
    offset: usize,
    kind: u32,
    stream: Stream,
) -> CudaError {
    let (row, real) =
        real_or_return!(h, unsafe extern "C" fn(*mut c_void, *const c_void, usize, usize, u32, Stream) -> CudaError);
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::symbol_copy(dst as usize, n, kind, false)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, symbol, n, offset, kind, stream) },
    )
}
twins!(cudaMemcpyFromSymbolAsync, cudaMemcpyFromSymbolAsync_ptsz,
    (dst: *mut c_void, symbol: *const c_void, n: usize, offset: usize, kind: u32, stream: Stream), from_symbol);

#[allow(clippy::too_many_arguments, reason = "the CUDA signature")]
unsafe fn to_array(
    h: Hook,
    dst: *mut c_void,
    w_off: usize,
    h_off: usize,
    src: *const c_void,
    spitch: usize,
    width: usize,
    height: usize,
    kind: u32,
    stream: Stream,
) -> CudaError {
    let (row, real) = real_or_return!(
        h,
        unsafe extern "C" fn(*mut c_void, usize, usize, *const c_void, usize, usize, usize, u32, Stream) -> CudaError
    );
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::runtime_2d(None, Some((src as usize, spitch)), width, height, kind)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, w_off, h_off, src, spitch, width, height, kind, stream) },
    )
}
twins!(cudaMemcpy2DToArrayAsync, cudaMemcpy2DToArrayAsync_ptsz,
    (dst: *mut c_void, w_off: usize, h_off: usize, src: *const c_void, spitch: usize, width: usize, height: usize,
     kind: u32, stream: Stream), to_array);

#[allow(clippy::too_many_arguments, reason = "the CUDA signature")]
unsafe fn from_array(
    h: Hook,
    dst: *mut c_void,
    dpitch: usize,
    src: *const c_void,
    w_off: usize,
    h_off: usize,
    width: usize,
    height: usize,
    kind: u32,
    stream: Stream,
) -> CudaError {
    let (row, real) = real_or_return!(
        h,
        unsafe extern "C" fn(*mut c_void, usize, *const c_void, usize, usize, usize, usize, u32, Stream) -> CudaError
    );
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::runtime_2d(Some((dst as usize, dpitch)), None, width, height, kind)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, dpitch, src, w_off, h_off, width, height, kind, stream) },
    )
}
twins!(cudaMemcpy2DFromArrayAsync, cudaMemcpy2DFromArrayAsync_ptsz,
    (dst: *mut c_void, dpitch: usize, src: *const c_void, w_off: usize, h_off: usize, width: usize, height: usize,
     kind: u32, stream: Stream), from_array);

// ---- batches: two ABIs behind one name -------------------------------------------------
//
// libcudart.so.13 exports the CUDA 13 signatures; libcudart.so.12 (12.8+) the ones with a
// `failIdx` argument. Our export takes the longer argument list and forwards every
// argument, which is sound for both under the SysV ABI (an extra trailing argument is
// ignored by the callee); which arguments mean what is decided by the library that
// holds the real function.

/// 0: not yet known, 1: CUDA 13 ABI, 2: CUDA 12.8 ABI (with failIdx).
static RUNTIME_BATCH_ABI: AtomicU8 = AtomicU8::new(0);

fn runtime_has_fail_idx(real: *const c_void) -> bool {
    let mut abi = RUNTIME_BATCH_ABI.load(Ordering::Relaxed);
    if abi == 0 {
        let path = symbols::object_path_of(real).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        abi = if path.contains("libcudart.so.12") { 2 } else { 1 };
        RUNTIME_BATCH_ABI.store(abi, Ordering::Relaxed);
    }
    abi == 2
}

type BatchAny = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *mut usize,
    usize,
    *mut MemcpyAttributes,
    *mut usize,
    usize,
    usize,
    usize,
) -> CudaError;

#[allow(clippy::too_many_arguments, reason = "the CUDA signature")]
unsafe fn batch(
    h: Hook,
    dsts: *mut c_void,
    srcs: *mut c_void,
    sizes: *mut usize,
    count: usize,
    attrs: *mut MemcpyAttributes,
    idxs: *mut usize,
    nattrs: usize,
    a8: usize,
    a9: usize,
) -> CudaError {
    let (row, real) = real_or_return!(h, BatchAny);
    // CUDA 13: a8 is the stream. CUDA 12.8: a8 is failIdx, a9 the stream.
    let stream = if runtime_has_fail_idx(real as *const c_void) { a9 } else { a8 };
    intercept::copy(
        call_of(row, stream as Stream),
        // SAFETY: the batch contract (see batch_elements).
        || unsafe { batch_elements(dsts.cast(), srcs.cast(), sizes, count, attrs, idxs, nattrs) },
        // SAFETY: every argument forwarded unchanged (see the section comment).
        || unsafe { real(dsts, srcs, sizes, count, attrs, idxs, nattrs, a8, a9) },
    )
}
twins!(cudaMemcpyBatchAsync, cudaMemcpyBatchAsync_ptsz,
    (dsts: *mut c_void, srcs: *mut c_void, sizes: *mut usize, count: usize, attrs: *mut MemcpyAttributes,
     idxs: *mut usize, nattrs: usize, a8: usize, a9: usize), batch);

unsafe fn batch3d(h: Hook, n: usize, ops: *mut Memcpy3DBatchOp, a3: usize, a4: usize, a5: usize) -> CudaError {
    let (row, real) =
        real_or_return!(h, unsafe extern "C" fn(usize, *mut Memcpy3DBatchOp, usize, usize, usize) -> CudaError);
    // CUDA 13: (flags, stream) in a3, a4. CUDA 12.8: (failIdx, flags, stream) in a3..a5.
    let stream = if runtime_has_fail_idx(real as *const c_void) { a5 } else { a4 };
    intercept::copy(
        call_of(row, stream as Stream),
        // SAFETY: the batch contract (see batch3d_elements).
        || unsafe { batch3d_elements(ops, n) },
        // SAFETY: every argument forwarded unchanged (see the section comment).
        || unsafe { real(n, ops, a3, a4, a5) },
    )
}
twins!(cudaMemcpy3DBatchAsync, cudaMemcpy3DBatchAsync_ptsz,
    (n: usize, ops: *mut Memcpy3DBatchOp, a3: usize, a4: usize, a5: usize), batch3d);
