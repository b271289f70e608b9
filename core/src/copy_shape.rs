//! From an API call's arguments to its sides (`CopySide`) and stated direction.
//! One function per argument shape; the hooks only read arguments and call these.

use crate::cuda_types::{
    CudaMemcpy2D, CudaMemcpy3D, CudaMemcpy3DParms, Memcpy3DBatchOp, MemcpyAttributes, memcpy_kind, memory_type,
    operand_type, src_access_order,
};
use crate::extent::{ExtentError, HostSpan, Pitched};
use crate::verdict::{CopySide, Direction};

/// One copy to classify: a whole call, or one element of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyElement {
    pub src: CopySide,
    pub dst: CopySide,
    /// The direction the call states; `None` when CUDA infers it from the pointers.
    pub declared: Option<Direction>,
    /// The call's attributes allow a pageable source (batch access order "any").
    pub allowed_by_attribute: bool,
}

/// Why a copy gets no verdict. The real call still runs untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum NoVerdict {
    /// Extent arithmetic overflowed.
    Overflow,
    /// A parameter block pinguard must read is a null pointer (CUDA will reject it).
    NullParameters,
    /// A 3D batch operand copies between a pointer and an array: the extent is in the
    /// array's elements, whose size pinguard does not look up.
    ArrayElementSize,
    /// A memory type or kind value this version does not know.
    UnknownKind,
    /// A batch larger than pinguard reads (a hostile or absurd count).
    BatchTooLarge,
    /// A batch CUDA rejects by its own rules (more attributes than copies).
    InvalidBatch,
}

impl NoVerdict {
    pub const ALL: [NoVerdict; 6] = [
        NoVerdict::Overflow,
        NoVerdict::NullParameters,
        NoVerdict::ArrayElementSize,
        NoVerdict::UnknownKind,
        NoVerdict::BatchTooLarge,
        NoVerdict::InvalidBatch,
    ];

    /// This reason's position in [`NoVerdict::ALL`] (for per-reason one-time notes).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Why, in words that complete "no verdict for a copy because ...".
    pub fn reason(self) -> &'static str {
        match self {
            NoVerdict::Overflow => "its host extent overflows the address space",
            NoVerdict::NullParameters => "its parameter block is a null pointer",
            NoVerdict::ArrayElementSize => {
                "it copies between a pointer and an array, whose element size pinguard does not look up"
            }
            NoVerdict::UnknownKind => "it names a memory kind or type this version of pinguard does not know",
            NoVerdict::BatchTooLarge => "its batch holds more copies than pinguard reads (65536)",
            NoVerdict::InvalidBatch => "its batch has more attributes than copies, which CUDA rejects",
        }
    }
}

impl From<ExtentError> for NoVerdict {
    fn from(_: ExtentError) -> Self {
        NoVerdict::Overflow
    }
}

fn side(span: Option<HostSpan>, make: fn(HostSpan) -> CopySide) -> CopySide {
    span.map(make).unwrap_or(CopySide::Empty)
}

/// `cudaMemcpyAsync`-style: two pointers, a byte count, a `cudaMemcpyKind`.
pub fn linear_by_kind(dst: usize, src: usize, bytes: usize, kind: u32) -> Result<CopyElement, NoVerdict> {
    let s = HostSpan::linear(src, bytes)?;
    let d = HostSpan::linear(dst, bytes)?;
    let (src, dst, declared) = match kind {
        memcpy_kind::HOST_TO_DEVICE => (side(s, CopySide::Host), CopySide::NotHost, Some(Direction::HostToDevice)),
        memcpy_kind::DEVICE_TO_HOST => (CopySide::NotHost, side(d, CopySide::Host), Some(Direction::DeviceToHost)),
        memcpy_kind::HOST_TO_HOST => (side(s, CopySide::Host), side(d, CopySide::Host), Some(Direction::HostToHost)),
        memcpy_kind::DEVICE_TO_DEVICE => (CopySide::NotHost, CopySide::NotHost, Some(Direction::DeviceToDevice)),
        memcpy_kind::DEFAULT => (side(s, CopySide::Unified), side(d, CopySide::Unified), None),
        _ => return Err(NoVerdict::UnknownKind),
    };
    // A zero-byte copy touches nothing: with a host side that side is Empty; a device-only
    // zero-byte copy is Device either way.
    let (src, dst) = if bytes == 0 { (CopySide::Empty, CopySide::Empty) } else { (src, dst) };
    Ok(CopyElement { src, dst, declared, allowed_by_attribute: false })
}

/// A linear copy with one host side of `bytes` at `host` and a device-side other end
/// (`cuMemcpyHtoDAsync`, `cuMemcpyAtoHAsync`, a symbol copy, ...).
pub fn linear_host(host: usize, bytes: usize, direction: Direction) -> Result<CopyElement, NoVerdict> {
    let h = side(HostSpan::linear(host, bytes)?, CopySide::Host);
    let (src, dst) = match direction {
        Direction::DeviceToHost => (CopySide::NotHost, h),
        _ => (h, CopySide::NotHost),
    };
    Ok(CopyElement { src, dst, declared: Some(direction), allowed_by_attribute: false })
}

/// `cudaMemcpyToSymbolAsync` (`to_symbol`) / `cudaMemcpyFromSymbolAsync`: the symbol is
/// device memory; the other pointer's role follows the kind.
pub fn symbol_copy(other: usize, bytes: usize, kind: u32, to_symbol: bool) -> Result<CopyElement, NoVerdict> {
    let span = HostSpan::linear(other, bytes)?;
    let (other_side, declared) = match kind {
        memcpy_kind::HOST_TO_DEVICE if to_symbol => (side(span, CopySide::Host), Some(Direction::HostToDevice)),
        memcpy_kind::DEVICE_TO_HOST if !to_symbol => (side(span, CopySide::Host), Some(Direction::DeviceToHost)),
        memcpy_kind::DEVICE_TO_DEVICE => (CopySide::NotHost, Some(Direction::DeviceToDevice)),
        memcpy_kind::DEFAULT => (side(span, CopySide::Unified), None),
        _ => return Err(NoVerdict::UnknownKind),
    };
    let symbol_side = if span.is_some() { CopySide::NotHost } else { CopySide::Empty };
    let (src, dst) = if to_symbol { (other_side, symbol_side) } else { (symbol_side, other_side) };
    Ok(CopyElement { src, dst, declared, allowed_by_attribute: false })
}

/// `cuMemcpyAsync` and batch elements: both pointers unified.
pub fn linear_unified(dst: usize, src: usize, bytes: usize) -> Result<CopyElement, NoVerdict> {
    Ok(CopyElement {
        src: side(HostSpan::linear(src, bytes)?, CopySide::Unified),
        dst: side(HostSpan::linear(dst, bytes)?, CopySide::Unified),
        declared: None,
        allowed_by_attribute: false,
    })
}

fn kind_sides(kind: u32) -> Result<(u32, u32, Option<Direction>), NoVerdict> {
    use memory_type::{DEVICE, HOST, UNIFIED};
    Ok(match kind {
        memcpy_kind::HOST_TO_DEVICE => (HOST, DEVICE, Some(Direction::HostToDevice)),
        memcpy_kind::DEVICE_TO_HOST => (DEVICE, HOST, Some(Direction::DeviceToHost)),
        memcpy_kind::HOST_TO_HOST => (HOST, HOST, Some(Direction::HostToHost)),
        memcpy_kind::DEVICE_TO_DEVICE => (DEVICE, DEVICE, Some(Direction::DeviceToDevice)),
        memcpy_kind::DEFAULT => (UNIFIED, UNIFIED, None),
        _ => return Err(NoVerdict::UnknownKind),
    })
}

/// One side of a pitched copy, by `CUmemorytype`.
fn pitched_side(memory: u32, host_ptr: usize, device_ptr: u64, p: Pitched) -> Result<CopySide, NoVerdict> {
    match memory {
        memory_type::HOST => Ok(side(HostSpan::pitched(Pitched { base: host_ptr, ..p })?, CopySide::Host)),
        memory_type::UNIFIED => {
            Ok(side(HostSpan::pitched(Pitched { base: device_ptr as usize, ..p })?, CopySide::Unified))
        }
        memory_type::DEVICE | memory_type::ARRAY => Ok(CopySide::NotHost),
        _ => Err(NoVerdict::UnknownKind),
    }
}

fn declared_by_types(src: u32, dst: u32) -> Option<Direction> {
    let host = |t| t == memory_type::HOST;
    let known = |t| t != memory_type::UNIFIED;
    (known(src) && known(dst)).then(|| match (host(src), host(dst)) {
        (true, true) => Direction::HostToHost,
        (true, false) => Direction::HostToDevice,
        (false, true) => Direction::DeviceToHost,
        (false, false) => Direction::DeviceToDevice,
    })
}

/// `cuMemcpy2DAsync` (`CUDA_MEMCPY2D`).
pub fn memcpy2d(c: &CudaMemcpy2D) -> Result<CopyElement, NoVerdict> {
    let shape =
        |x, y, pitch| Pitched { x, y, pitch, width: c.WidthInBytes, height: c.Height, depth: 1, ..Default::default() };
    Ok(CopyElement {
        src: pitched_side(c.srcMemoryType, c.srcHost, c.srcDevice, shape(c.srcXInBytes, c.srcY, c.srcPitch))?,
        dst: pitched_side(c.dstMemoryType, c.dstHost, c.dstDevice, shape(c.dstXInBytes, c.dstY, c.dstPitch))?,
        declared: declared_by_types(c.srcMemoryType, c.dstMemoryType),
        allowed_by_attribute: false,
    })
}

/// `cuMemcpy3DAsync` (`CUDA_MEMCPY3D`). A zero `srcHeight` is allowed for one slice.
pub fn memcpy3d(c: &CudaMemcpy3D) -> Result<CopyElement, NoVerdict> {
    let shape = |x, y, z, pitch, rows| Pitched {
        base: 0,
        x,
        y,
        z,
        pitch,
        slice_rows: rows,
        width: c.WidthInBytes,
        height: c.Height,
        depth: c.Depth,
    };
    Ok(CopyElement {
        src: pitched_side(
            c.srcMemoryType,
            c.srcHost,
            c.srcDevice,
            shape(c.srcXInBytes, c.srcY, c.srcZ, c.srcPitch, c.srcHeight),
        )?,
        dst: pitched_side(
            c.dstMemoryType,
            c.dstHost,
            c.dstDevice,
            shape(c.dstXInBytes, c.dstY, c.dstZ, c.dstPitch, c.dstHeight),
        )?,
        declared: declared_by_types(c.srcMemoryType, c.dstMemoryType),
        allowed_by_attribute: false,
    })
}

/// `cudaMemcpy2DAsync` and the array variants: the pitched host/device sides by kind;
/// an array side is passed as `None`.
pub fn runtime_2d(
    dst: Option<(usize, usize)>,
    src: Option<(usize, usize)>,
    width: usize,
    height: usize,
    kind: u32,
) -> Result<CopyElement, NoVerdict> {
    let (st, dt, declared) = kind_sides(kind)?;
    let one = |end: Option<(usize, usize)>, t: u32| match end {
        None => Ok(CopySide::NotHost),
        Some((ptr, pitch)) => {
            pitched_side(t, ptr, ptr as u64, Pitched { pitch, width, height, depth: 1, ..Default::default() })
        }
    };
    Ok(CopyElement { src: one(src, st)?, dst: one(dst, dt)?, declared, allowed_by_attribute: false })
}

/// `cudaMemcpy3DAsync` (`cudaMemcpy3DParms`). An array side is not host memory.
pub fn runtime_3d(p: &CudaMemcpy3DParms) -> Result<CopyElement, NoVerdict> {
    let (st, dt, declared) = kind_sides(p.kind)?;
    let one = |array: usize, pos: crate::cuda_types::Size3, ptr: crate::cuda_types::CudaPitchedPtr, t: u32| {
        if array != 0 {
            return Ok(CopySide::NotHost);
        }
        let shape = Pitched {
            base: 0,
            x: pos.x,
            y: pos.y,
            z: pos.z,
            pitch: ptr.pitch,
            slice_rows: ptr.ysize,
            width: p.extent.x,
            height: p.extent.y,
            depth: p.extent.z,
        };
        pitched_side(t, ptr.ptr, ptr.ptr as u64, shape)
    };
    Ok(CopyElement {
        src: one(p.srcArray, p.srcPos, p.srcPtr, st)?,
        dst: one(p.dstArray, p.dstPos, p.dstPtr, dt)?,
        declared,
        allowed_by_attribute: false,
    })
}

/// The attribute that applies to batch element `i`: `attrs[j]` for the last `j` whose
/// `attr_idxs[j] <= i` (CUDA: each attribute applies from its index to the next one's).
pub fn batch_attribute(attrs: &[MemcpyAttributes], attr_idxs: &[usize], i: usize) -> Option<MemcpyAttributes> {
    let n = attrs.len().min(attr_idxs.len());
    let j = attr_idxs[..n].partition_point(|&start| start <= i);
    (j > 0).then(|| attrs[j - 1])
}

/// One element of `cudaMemcpyBatchAsync` / `cuMemcpyBatchAsync`.
pub fn batch_element(
    dst: usize,
    src: usize,
    bytes: usize,
    attr: Option<MemcpyAttributes>,
) -> Result<CopyElement, NoVerdict> {
    let mut e = linear_unified(dst, src, bytes)?;
    e.allowed_by_attribute = attr.is_some_and(|a| a.srcAccessOrder == src_access_order::ANY);
    Ok(e)
}

/// One op of `cudaMemcpy3DBatchAsync` / `cuMemcpy3DBatchAsync`. Pointer-to-pointer ops
/// have 1-byte elements (CUDA docs), so extents are bytes; a row length or layer height
/// of 0 means tightly packed.
pub fn batch3d_op(op: &Memcpy3DBatchOp) -> Result<CopyElement, NoVerdict> {
    let src_ptr = op.src.kind == operand_type::POINTER;
    let dst_ptr = op.dst.kind == operand_type::POINTER;
    if src_ptr != dst_ptr {
        return Err(NoVerdict::ArrayElementSize);
    }
    let one = |is_ptr: bool, o: &crate::cuda_types::Memcpy3DPointerOperand| -> Result<CopySide, NoVerdict> {
        if !is_ptr {
            return Ok(CopySide::NotHost);
        }
        let row = if o.rowLength == 0 { op.extent.x } else { o.rowLength };
        let layer = if o.layerHeight == 0 { op.extent.y } else { o.layerHeight };
        let shape = Pitched {
            base: o.ptr,
            pitch: row,
            slice_rows: layer,
            width: op.extent.x,
            height: op.extent.y,
            depth: op.extent.z,
            ..Default::default()
        };
        Ok(side(HostSpan::pitched(shape)?, CopySide::Unified))
    };
    Ok(CopyElement {
        src: one(src_ptr, &op.src.op)?,
        dst: one(dst_ptr, &op.dst.op)?,
        declared: None,
        allowed_by_attribute: op.srcAccessOrder == src_access_order::ANY,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuda_types::{CudaPitchedPtr, Memcpy3DOperand, Memcpy3DPointerOperand, Size3};

    fn span(start: usize, len: usize) -> HostSpan {
        HostSpan { start, len }
    }

    #[test]
    fn linear_kinds() {
        let e = linear_by_kind(0x9000, 0x1000, 16, memcpy_kind::HOST_TO_DEVICE).unwrap();
        assert_eq!((e.src, e.dst), (CopySide::Host(span(0x1000, 16)), CopySide::NotHost));
        let e = linear_by_kind(0x9000, 0x1000, 16, memcpy_kind::DEVICE_TO_HOST).unwrap();
        assert_eq!((e.src, e.dst), (CopySide::NotHost, CopySide::Host(span(0x9000, 16))));
        let e = linear_by_kind(0x9000, 0x1000, 16, memcpy_kind::DEFAULT).unwrap();
        assert_eq!((e.src, e.declared), (CopySide::Unified(span(0x1000, 16)), None));
        assert_eq!(linear_by_kind(1, 2, 3, 77), Err(NoVerdict::UnknownKind));
        assert_eq!(linear_by_kind(1, usize::MAX, 3, memcpy_kind::HOST_TO_DEVICE), Err(NoVerdict::Overflow));
        assert_eq!(linear_by_kind(1, 2, 0, memcpy_kind::HOST_TO_DEVICE).unwrap().src, CopySide::Empty);
    }

    #[test]
    fn symbol_copies_follow_the_kind() {
        let e = symbol_copy(0x1000, 256, memcpy_kind::HOST_TO_DEVICE, true).unwrap();
        assert_eq!((e.src, e.dst), (CopySide::Host(span(0x1000, 256)), CopySide::NotHost));
        let e = symbol_copy(0x1000, 256, memcpy_kind::DEVICE_TO_HOST, false).unwrap();
        assert_eq!((e.src, e.dst), (CopySide::NotHost, CopySide::Host(span(0x1000, 256))));
        let e = symbol_copy(0x1000, 256, memcpy_kind::DEFAULT, true).unwrap();
        assert_eq!(e.src, CopySide::Unified(span(0x1000, 256)));
        assert_eq!(symbol_copy(0x1000, 256, memcpy_kind::DEVICE_TO_HOST, true), Err(NoVerdict::UnknownKind));
    }

    #[test]
    fn driver_2d_and_3d() {
        let c = CudaMemcpy2D {
            srcMemoryType: memory_type::HOST,
            srcHost: 0x10000,
            srcPitch: 1024,
            dstMemoryType: memory_type::ARRAY,
            WidthInBytes: 1000,
            Height: 64,
            ..Default::default()
        };
        let e = memcpy2d(&c).unwrap();
        assert_eq!(e.src, CopySide::Host(span(0x10000, 1024 * 63 + 1000)));
        assert_eq!((e.dst, e.declared), (CopySide::NotHost, Some(Direction::HostToDevice)));
        let c3 = CudaMemcpy3D {
            dstMemoryType: memory_type::HOST,
            dstHost: 0x20000,
            dstPitch: 256,
            dstHeight: 16,
            srcMemoryType: memory_type::DEVICE,
            WidthInBytes: 200,
            Height: 16,
            Depth: 4,
            ..Default::default()
        };
        let e = memcpy3d(&c3).unwrap();
        assert_eq!(e.dst, CopySide::Host(span(0x20000, 256 * 16 * 3 + 256 * 15 + 200)));
        assert_eq!(e.declared, Some(Direction::DeviceToHost));
        let bad = CudaMemcpy2D { srcMemoryType: 9, ..c };
        assert_eq!(memcpy2d(&bad), Err(NoVerdict::UnknownKind));
    }

    #[test]
    fn runtime_3d_reads_pitched_pointers() {
        let p = CudaMemcpy3DParms {
            srcPtr: CudaPitchedPtr { ptr: 0x40000, pitch: 256, xsize: 200, ysize: 16 },
            dstPtr: CudaPitchedPtr { ptr: 0x90000, pitch: 256, xsize: 200, ysize: 16 },
            extent: Size3 { x: 200, y: 16, z: 4 },
            kind: memcpy_kind::HOST_TO_DEVICE,
            ..Default::default()
        };
        let e = runtime_3d(&p).unwrap();
        assert_eq!(e.src, CopySide::Host(span(0x40000, 16328)));
        assert_eq!(e.dst, CopySide::NotHost);
    }

    #[test]
    fn batch_attributes_apply_from_their_index() {
        let a = |o| MemcpyAttributes { srcAccessOrder: o, ..Default::default() };
        let attrs = [a(1), a(3)];
        let idxs = [0, 2];
        assert_eq!(batch_attribute(&attrs, &idxs, 0).unwrap().srcAccessOrder, 1);
        assert_eq!(batch_attribute(&attrs, &idxs, 1).unwrap().srcAccessOrder, 1);
        assert_eq!(batch_attribute(&attrs, &idxs, 2).unwrap().srcAccessOrder, 3);
        assert_eq!(batch_attribute(&attrs, &idxs, 9).unwrap().srcAccessOrder, 3);
        assert!(batch_attribute(&[], &[], 0).is_none());
        assert!(batch_element(1, 2, 3, Some(a(3))).unwrap().allowed_by_attribute);
        assert!(!batch_element(1, 2, 3, Some(a(1))).unwrap().allowed_by_attribute);
    }

    #[test]
    fn batch3d_pointer_ops_are_bytes_and_array_ops_get_no_verdict() {
        let ptr = |p| Memcpy3DOperand {
            kind: operand_type::POINTER,
            op: Memcpy3DPointerOperand { ptr: p, rowLength: 64, layerHeight: 8, ..Default::default() },
        };
        let op = Memcpy3DBatchOp {
            src: ptr(0x1000),
            dst: ptr(0x9000),
            extent: Size3 { x: 64, y: 8, z: 2 },
            srcAccessOrder: 1,
            flags: 0,
        };
        let e = batch3d_op(&op).unwrap();
        assert_eq!(e.src, CopySide::Unified(span(0x1000, 1024)));
        let arr = Memcpy3DBatchOp { dst: Memcpy3DOperand { kind: 2, ..Default::default() }, ..op };
        assert_eq!(batch3d_op(&arr), Err(NoVerdict::ArrayElementSize));
    }
}
