//! Driver-layer hooks (`cu*`). Exported by name for programs that link libcuda
//! directly, and handed out by our `dlsym` and `cuGetProcAddress` for everything else
//! (static-runtime programs, CuPy, JAX): see `api_table` for the routing.
//!
//! Every wrapper reads only what it needs to find the host side, then calls the real
//! function with the caller's arguments untouched and returns its result as is.

use std::ffi::c_void;

use pinguard_core::copy_shape::{self, NoVerdict};
use pinguard_core::cuda_types::{CudaMemcpy2D, CudaMemcpy3D, Memcpy3DBatchOp, MemcpyAttributes};
use pinguard_core::registry::PinOrigin;
use pinguard_core::verdict::Direction;

use crate::api_table::Hook;
use crate::exports::call_of;
use crate::intercept::{self, Elements};

type CuResult = i32;
type Stream = *mut c_void;
type DevicePtr = u64;
type Array = *mut c_void;

// ---- pinned memory --------------------------------------------------------------------

/// # Safety
/// Called as `cuMemAllocHost_v2`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuMemAllocHost_v2(pp: *mut *mut c_void, size: usize) -> CuResult {
    let (row, real) =
        real_or_return!(Hook::cuMemAllocHost_v2, unsafe extern "C" fn(*mut *mut c_void, usize) -> CuResult);
    // SAFETY: the caller's arguments, forwarded unchanged.
    intercept::pin(row.name(), PinOrigin::MallocHost, pp, size, || unsafe { real(pp, size) })
}

/// # Safety
/// Called as `cuMemHostAlloc`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuMemHostAlloc(pp: *mut *mut c_void, size: usize, flags: u32) -> CuResult {
    let (row, real) =
        real_or_return!(Hook::cuMemHostAlloc, unsafe extern "C" fn(*mut *mut c_void, usize, u32) -> CuResult);
    // SAFETY: the caller's arguments, forwarded unchanged.
    intercept::pin(row.name(), PinOrigin::HostAlloc, pp, size, || unsafe { real(pp, size, flags) })
}

/// # Safety
/// Called as `cuMemFreeHost`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuMemFreeHost(p: *mut c_void) -> CuResult {
    let (row, real) = real_or_return!(Hook::cuMemFreeHost, unsafe extern "C" fn(*mut c_void) -> CuResult);
    // SAFETY: the caller's argument, forwarded unchanged.
    intercept::unpin(row.name(), p, || unsafe { real(p) })
}

/// # Safety
/// Called as `cuMemHostRegister_v2`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuMemHostRegister_v2(p: *mut c_void, size: usize, flags: u32) -> CuResult {
    let (row, real) =
        real_or_return!(Hook::cuMemHostRegister_v2, unsafe extern "C" fn(*mut c_void, usize, u32) -> CuResult);
    // SAFETY: the caller's arguments, forwarded unchanged.
    intercept::pin_registered(row.name(), p, size, || unsafe { real(p, size, flags) })
}

/// # Safety
/// Called as `cuMemHostUnregister`, under its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cuMemHostUnregister(p: *mut c_void) -> CuResult {
    let (row, real) = real_or_return!(Hook::cuMemHostUnregister, unsafe extern "C" fn(*mut c_void) -> CuResult);
    // SAFETY: the caller's argument, forwarded unchanged.
    intercept::unpin(row.name(), p, || unsafe { real(p) })
}

// ---- 1D copies ------------------------------------------------------------------------

unsafe fn htod(h: Hook, dst: DevicePtr, src: *const c_void, n: usize, stream: Stream) -> CuResult {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(DevicePtr, *const c_void, usize, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::linear_host(src as usize, n, Direction::HostToDevice)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, src, n, stream) },
    )
}
twins!(cuMemcpyHtoDAsync_v2, cuMemcpyHtoDAsync_v2_ptsz, (dst: DevicePtr, src: *const c_void, n: usize, stream: Stream), htod);

unsafe fn dtoh(h: Hook, dst: *mut c_void, src: DevicePtr, n: usize, stream: Stream) -> CuResult {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(*mut c_void, DevicePtr, usize, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::linear_host(dst as usize, n, Direction::DeviceToHost)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, src, n, stream) },
    )
}
twins!(cuMemcpyDtoHAsync_v2, cuMemcpyDtoHAsync_v2_ptsz, (dst: *mut c_void, src: DevicePtr, n: usize, stream: Stream), dtoh);

unsafe fn unified(h: Hook, dst: DevicePtr, src: DevicePtr, n: usize, stream: Stream) -> CuResult {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(DevicePtr, DevicePtr, usize, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::linear_unified(dst as usize, src as usize, n)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, src, n, stream) },
    )
}
twins!(cuMemcpyAsync, cuMemcpyAsync_ptsz, (dst: DevicePtr, src: DevicePtr, n: usize, stream: Stream), unified);

unsafe fn htoa(h: Hook, dst: Array, offset: usize, src: *const c_void, n: usize, stream: Stream) -> CuResult {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(Array, usize, *const c_void, usize, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::linear_host(src as usize, n, Direction::HostToDevice)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, offset, src, n, stream) },
    )
}
twins!(cuMemcpyHtoAAsync_v2, cuMemcpyHtoAAsync_v2_ptsz, (dst: Array, offset: usize, src: *const c_void, n: usize, stream: Stream), htoa);

unsafe fn atoh(h: Hook, dst: *mut c_void, src: Array, offset: usize, n: usize, stream: Stream) -> CuResult {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(*mut c_void, Array, usize, usize, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        || Elements::One(copy_shape::linear_host(dst as usize, n, Direction::DeviceToHost)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dst, src, offset, n, stream) },
    )
}
twins!(cuMemcpyAtoHAsync_v2, cuMemcpyAtoHAsync_v2_ptsz, (dst: *mut c_void, src: Array, offset: usize, n: usize, stream: Stream), atoh);

// ---- 2D / 3D copies -------------------------------------------------------------------

unsafe fn copy2d(h: Hook, p: *const CudaMemcpy2D, stream: Stream) -> CuResult {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(*const CudaMemcpy2D, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        // SAFETY: a non-null parameter block is a CUDA_MEMCPY2D the caller owns for the call.
        || Elements::One(unsafe { p.as_ref() }.ok_or(NoVerdict::NullParameters).and_then(copy_shape::memcpy2d)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(p, stream) },
    )
}
twins!(cuMemcpy2DAsync_v2, cuMemcpy2DAsync_v2_ptsz, (p: *const CudaMemcpy2D, stream: Stream), copy2d);

unsafe fn copy3d(h: Hook, p: *const CudaMemcpy3D, stream: Stream) -> CuResult {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(*const CudaMemcpy3D, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        // SAFETY: a non-null parameter block is a CUDA_MEMCPY3D the caller owns for the call.
        || Elements::One(unsafe { p.as_ref() }.ok_or(NoVerdict::NullParameters).and_then(copy_shape::memcpy3d)),
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(p, stream) },
    )
}
twins!(cuMemcpy3DAsync_v2, cuMemcpy3DAsync_v2_ptsz, (p: *const CudaMemcpy3D, stream: Stream), copy3d);

// ---- batches --------------------------------------------------------------------------

/// The elements of a 1D batch.
///
/// # Safety
/// Non-null arrays hold `count` (`num_attrs`) elements, as the batch API requires.
pub(crate) unsafe fn batch_elements(
    dsts: *const usize,
    srcs: *const usize,
    sizes: *const usize,
    count: usize,
    attrs: *const MemcpyAttributes,
    attr_idxs: *const usize,
    num_attrs: usize,
) -> Elements {
    if dsts.is_null() || srcs.is_null() || sizes.is_null() {
        return Elements::One(Err(NoVerdict::NullParameters));
    }
    // SAFETY: the batch API's contract: each array holds `count` elements.
    let (d, s, n) = unsafe {
        (
            std::slice::from_raw_parts(dsts, count),
            std::slice::from_raw_parts(srcs, count),
            std::slice::from_raw_parts(sizes, count),
        )
    };
    let (a, i): (&[MemcpyAttributes], &[usize]) = if attrs.is_null() || attr_idxs.is_null() {
        (&[], &[])
    } else {
        // SAFETY: as above, `num_attrs` attributes and indices.
        unsafe { (std::slice::from_raw_parts(attrs, num_attrs), std::slice::from_raw_parts(attr_idxs, num_attrs)) }
    };
    Elements::Batch(
        (0..count).map(|k| copy_shape::batch_element(d[k], s[k], n[k], copy_shape::batch_attribute(a, i, k))).collect(),
    )
}

/// The elements of a 3D batch.
///
/// # Safety
/// A non-null `ops` holds `count` operations.
pub(crate) unsafe fn batch3d_elements(ops: *const Memcpy3DBatchOp, count: usize) -> Elements {
    if ops.is_null() {
        return Elements::One(Err(NoVerdict::NullParameters));
    }
    // SAFETY: the batch API's contract: `count` operations.
    let ops = unsafe { std::slice::from_raw_parts(ops, count) };
    Elements::Batch(ops.iter().map(copy_shape::batch3d_op).collect())
}

type Batch128 = unsafe extern "C" fn(
    *mut DevicePtr,
    *mut DevicePtr,
    *mut usize,
    usize,
    *mut MemcpyAttributes,
    *mut usize,
    usize,
    *mut usize,
    Stream,
) -> CuResult;
type Batch130 = unsafe extern "C" fn(
    *mut DevicePtr,
    *mut DevicePtr,
    *mut usize,
    usize,
    *mut MemcpyAttributes,
    *mut usize,
    usize,
    Stream,
) -> CuResult;

#[allow(clippy::too_many_arguments, reason = "the CUDA 12.8 signature")]
unsafe fn batch128(
    h: Hook,
    dsts: *mut DevicePtr,
    srcs: *mut DevicePtr,
    sizes: *mut usize,
    count: usize,
    attrs: *mut MemcpyAttributes,
    idxs: *mut usize,
    nattrs: usize,
    fail: *mut usize,
    stream: Stream,
) -> CuResult {
    let (row, real) = real_or_return!(h, Batch128);
    intercept::copy(
        call_of(row, stream),
        // SAFETY: the batch contract (see batch_elements).
        || unsafe { batch_elements(dsts.cast(), srcs.cast(), sizes, count, attrs, idxs, nattrs) },
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dsts, srcs, sizes, count, attrs, idxs, nattrs, fail, stream) },
    )
}
twins!(cuMemcpyBatchAsync, cuMemcpyBatchAsync_ptsz,
    (dsts: *mut DevicePtr, srcs: *mut DevicePtr, sizes: *mut usize, count: usize, attrs: *mut MemcpyAttributes,
     idxs: *mut usize, nattrs: usize, fail: *mut usize, stream: Stream), batch128);

#[allow(clippy::too_many_arguments, reason = "the CUDA 13.0 signature")]
unsafe fn batch130(
    h: Hook,
    dsts: *mut DevicePtr,
    srcs: *mut DevicePtr,
    sizes: *mut usize,
    count: usize,
    attrs: *mut MemcpyAttributes,
    idxs: *mut usize,
    nattrs: usize,
    stream: Stream,
) -> CuResult {
    let (row, real) = real_or_return!(h, Batch130);
    intercept::copy(
        call_of(row, stream),
        // SAFETY: the batch contract (see batch_elements).
        || unsafe { batch_elements(dsts.cast(), srcs.cast(), sizes, count, attrs, idxs, nattrs) },
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(dsts, srcs, sizes, count, attrs, idxs, nattrs, stream) },
    )
}
twins!(cuMemcpyBatchAsync_v2, cuMemcpyBatchAsync_v2_ptsz,
    (dsts: *mut DevicePtr, srcs: *mut DevicePtr, sizes: *mut usize, count: usize, attrs: *mut MemcpyAttributes,
     idxs: *mut usize, nattrs: usize, stream: Stream), batch130);

unsafe fn batch3d128(
    h: Hook,
    n: usize,
    ops: *mut Memcpy3DBatchOp,
    fail: *mut usize,
    flags: u64,
    stream: Stream,
) -> CuResult {
    let (row, real) =
        real_or_return!(h, unsafe extern "C" fn(usize, *mut Memcpy3DBatchOp, *mut usize, u64, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        // SAFETY: the batch contract (see batch3d_elements).
        || unsafe { batch3d_elements(ops, n) },
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(n, ops, fail, flags, stream) },
    )
}
twins!(cuMemcpy3DBatchAsync, cuMemcpy3DBatchAsync_ptsz,
    (n: usize, ops: *mut Memcpy3DBatchOp, fail: *mut usize, flags: u64, stream: Stream), batch3d128);

unsafe fn batch3d130(h: Hook, n: usize, ops: *mut Memcpy3DBatchOp, flags: u64, stream: Stream) -> CuResult {
    let (row, real) = real_or_return!(h, unsafe extern "C" fn(usize, *mut Memcpy3DBatchOp, u64, Stream) -> CuResult);
    intercept::copy(
        call_of(row, stream),
        // SAFETY: the batch contract (see batch3d_elements).
        || unsafe { batch3d_elements(ops, n) },
        // SAFETY: the caller's arguments, forwarded unchanged.
        || unsafe { real(n, ops, flags, stream) },
    )
}
twins!(cuMemcpy3DBatchAsync_v2, cuMemcpy3DBatchAsync_v2_ptsz,
    (n: usize, ops: *mut Memcpy3DBatchOp, flags: u64, stream: Stream), batch3d130);
