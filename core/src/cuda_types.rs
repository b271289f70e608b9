//! The CUDA 13 structures and constants pinguard reads, with the layouts of `cuda.h`
//! and `driver_types.h`. Pointers are `usize` here: pinguard only reads addresses, it
//! never dereferences host buffers. `preload/tests/abi_layout.rs` checks every size and offset
//! against the real headers, compiled by the C++ compiler.
#![allow(non_snake_case, reason = "field names follow the CUDA headers, so a reviewer can compare them")]

/// `cudaMemcpyKind`.
pub mod memcpy_kind {
    pub const HOST_TO_HOST: u32 = 0;
    pub const HOST_TO_DEVICE: u32 = 1;
    pub const DEVICE_TO_HOST: u32 = 2;
    pub const DEVICE_TO_DEVICE: u32 = 3;
    pub const DEFAULT: u32 = 4;
}

/// `CUmemorytype`.
pub mod memory_type {
    pub const HOST: u32 = 1;
    pub const DEVICE: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const UNIFIED: u32 = 4;
}

/// `CUpointer_attribute` values the oracle asks for.
pub mod pointer_attribute {
    pub const MEMORY_TYPE: u32 = 2;
    pub const IS_MANAGED: u32 = 8;
}

/// `CUmemcpySrcAccessOrder` / `cudaMemcpySrcAccessOrder`.
pub mod src_access_order {
    pub const ANY: u32 = 3;
}

/// `CUmemcpy3DOperandType` / `cudaMemcpy3DOperandType`.
pub mod operand_type {
    pub const POINTER: u32 = 1;
}

/// `CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND` and `cudaErrorSharedObjectSymbolNotFound`
/// share the value 302: returned when the real function cannot be found at all.
pub const ERROR_SYMBOL_NOT_FOUND: i32 = 302;

/// `CUDA_MEMCPY2D_v2`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CudaMemcpy2D {
    pub srcXInBytes: usize,
    pub srcY: usize,
    pub srcMemoryType: u32,
    pub srcHost: usize,
    pub srcDevice: u64,
    pub srcArray: usize,
    pub srcPitch: usize,
    pub dstXInBytes: usize,
    pub dstY: usize,
    pub dstMemoryType: u32,
    pub dstHost: usize,
    pub dstDevice: u64,
    pub dstArray: usize,
    pub dstPitch: usize,
    pub WidthInBytes: usize,
    pub Height: usize,
}

/// `CUDA_MEMCPY3D_v2`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CudaMemcpy3D {
    pub srcXInBytes: usize,
    pub srcY: usize,
    pub srcZ: usize,
    pub srcLOD: usize,
    pub srcMemoryType: u32,
    pub srcHost: usize,
    pub srcDevice: u64,
    pub srcArray: usize,
    pub reserved0: usize,
    pub srcPitch: usize,
    pub srcHeight: usize,
    pub dstXInBytes: usize,
    pub dstY: usize,
    pub dstZ: usize,
    pub dstLOD: usize,
    pub dstMemoryType: u32,
    pub dstHost: usize,
    pub dstDevice: u64,
    pub dstArray: usize,
    pub reserved1: usize,
    pub dstPitch: usize,
    pub dstHeight: usize,
    pub WidthInBytes: usize,
    pub Height: usize,
    pub Depth: usize,
}

/// `cudaPos` / `cudaExtent` / `CUoffset3D` / `CUextent3D`: three `size_t`s.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Size3 {
    pub x: usize,
    pub y: usize,
    pub z: usize,
}

/// `cudaPitchedPtr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CudaPitchedPtr {
    pub ptr: usize,
    pub pitch: usize,
    pub xsize: usize,
    pub ysize: usize,
}

/// `cudaMemcpy3DParms`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CudaMemcpy3DParms {
    pub srcArray: usize,
    pub srcPos: Size3,
    pub srcPtr: CudaPitchedPtr,
    pub dstArray: usize,
    pub dstPos: Size3,
    pub dstPtr: CudaPitchedPtr,
    pub extent: Size3,
    pub kind: u32,
}

/// `CUmemLocation` / `cudaMemLocation`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MemLocation {
    pub kind: u32,
    pub id: i32,
}

/// `CUmemcpyAttributes_v1` / `cudaMemcpyAttributes` (same layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MemcpyAttributes {
    pub srcAccessOrder: u32,
    pub srcLocHint: MemLocation,
    pub dstLocHint: MemLocation,
    pub flags: u32,
}

/// The pointer arm of `CUmemcpy3DOperand_v1::op` / `cudaMemcpy3DOperand::op`. The array
/// arm (`CUarray` + offset) has the same size; pinguard reads this arm only when `kind`
/// says pointer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Memcpy3DPointerOperand {
    pub ptr: usize,
    pub rowLength: usize,
    pub layerHeight: usize,
    pub locHint: MemLocation,
}

/// `CUmemcpy3DOperand_v1` / `cudaMemcpy3DOperand`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Memcpy3DOperand {
    pub kind: u32,
    pub op: Memcpy3DPointerOperand,
}

/// `CUDA_MEMCPY3D_BATCH_OP_v1` / `cudaMemcpy3DBatchOp`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Memcpy3DBatchOp {
    pub src: Memcpy3DOperand,
    pub dst: Memcpy3DOperand,
    pub extent: Size3,
    pub srcAccessOrder: u32,
    pub flags: u32,
}
