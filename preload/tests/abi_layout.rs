//! The CUDA structures pinguard reads have the layouts of the real CUDA 13 headers:
//! compiled here with the C++ compiler, compared field by field.

#[path = "../../testing/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::process::Command;

use pinguard_core::cuda_types::*;

#[test]
fn layouts_and_constants_match_the_headers() {
    let dir = support::profile_dir().join("probes");
    std::fs::create_dir_all(&dir).unwrap();
    let inc = format!("-I{}", support::cuda_include());
    let src = support::repo_root().join("testing/probes/abi_layout.cpp");
    let prog = support::compile("g++", &["-std=c++17", &inc, &src.to_string_lossy()], &dir.join("abi_layout"));
    let out = Command::new(prog).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let c: BTreeMap<String, usize> = text
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            let (_, k, v) = (w.next(), w.next().unwrap(), w.next().unwrap());
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    let rust: Vec<(&str, usize)> = vec![
        ("CUDA_MEMCPY2D", size_of::<CudaMemcpy2D>()),
        ("CUDA_MEMCPY2D.srcMemoryType", offset_of!(CudaMemcpy2D, srcMemoryType)),
        ("CUDA_MEMCPY2D.srcHost", offset_of!(CudaMemcpy2D, srcHost)),
        ("CUDA_MEMCPY2D.srcDevice", offset_of!(CudaMemcpy2D, srcDevice)),
        ("CUDA_MEMCPY2D.srcPitch", offset_of!(CudaMemcpy2D, srcPitch)),
        ("CUDA_MEMCPY2D.dstMemoryType", offset_of!(CudaMemcpy2D, dstMemoryType)),
        ("CUDA_MEMCPY2D.dstHost", offset_of!(CudaMemcpy2D, dstHost)),
        ("CUDA_MEMCPY2D.dstDevice", offset_of!(CudaMemcpy2D, dstDevice)),
        ("CUDA_MEMCPY2D.dstPitch", offset_of!(CudaMemcpy2D, dstPitch)),
        ("CUDA_MEMCPY2D.WidthInBytes", offset_of!(CudaMemcpy2D, WidthInBytes)),
        ("CUDA_MEMCPY2D.Height", offset_of!(CudaMemcpy2D, Height)),
        ("CUDA_MEMCPY3D", size_of::<CudaMemcpy3D>()),
        ("CUDA_MEMCPY3D.srcZ", offset_of!(CudaMemcpy3D, srcZ)),
        ("CUDA_MEMCPY3D.srcMemoryType", offset_of!(CudaMemcpy3D, srcMemoryType)),
        ("CUDA_MEMCPY3D.srcHost", offset_of!(CudaMemcpy3D, srcHost)),
        ("CUDA_MEMCPY3D.srcDevice", offset_of!(CudaMemcpy3D, srcDevice)),
        ("CUDA_MEMCPY3D.srcPitch", offset_of!(CudaMemcpy3D, srcPitch)),
        ("CUDA_MEMCPY3D.srcHeight", offset_of!(CudaMemcpy3D, srcHeight)),
        ("CUDA_MEMCPY3D.dstMemoryType", offset_of!(CudaMemcpy3D, dstMemoryType)),
        ("CUDA_MEMCPY3D.dstHost", offset_of!(CudaMemcpy3D, dstHost)),
        ("CUDA_MEMCPY3D.dstDevice", offset_of!(CudaMemcpy3D, dstDevice)),
        ("CUDA_MEMCPY3D.dstPitch", offset_of!(CudaMemcpy3D, dstPitch)),
        ("CUDA_MEMCPY3D.dstHeight", offset_of!(CudaMemcpy3D, dstHeight)),
        ("CUDA_MEMCPY3D.WidthInBytes", offset_of!(CudaMemcpy3D, WidthInBytes)),
        ("CUDA_MEMCPY3D.Height", offset_of!(CudaMemcpy3D, Height)),
        ("CUDA_MEMCPY3D.Depth", offset_of!(CudaMemcpy3D, Depth)),
        ("cudaMemcpy3DParms", size_of::<CudaMemcpy3DParms>()),
        ("cudaMemcpy3DParms.srcPos", offset_of!(CudaMemcpy3DParms, srcPos)),
        ("cudaMemcpy3DParms.srcPtr", offset_of!(CudaMemcpy3DParms, srcPtr)),
        ("cudaMemcpy3DParms.dstArray", offset_of!(CudaMemcpy3DParms, dstArray)),
        ("cudaMemcpy3DParms.dstPos", offset_of!(CudaMemcpy3DParms, dstPos)),
        ("cudaMemcpy3DParms.dstPtr", offset_of!(CudaMemcpy3DParms, dstPtr)),
        ("cudaMemcpy3DParms.extent", offset_of!(CudaMemcpy3DParms, extent)),
        ("cudaMemcpy3DParms.kind", offset_of!(CudaMemcpy3DParms, kind)),
        ("CUmemcpyAttributes", size_of::<MemcpyAttributes>()),
        ("CUmemcpyAttributes.srcLocHint", offset_of!(MemcpyAttributes, srcLocHint)),
        ("CUmemcpyAttributes.dstLocHint", offset_of!(MemcpyAttributes, dstLocHint)),
        ("CUmemcpyAttributes.flags", offset_of!(MemcpyAttributes, flags)),
        ("cudaMemcpyAttributes", size_of::<MemcpyAttributes>()),
        ("cudaMemcpyAttributes.srcLocHint", offset_of!(MemcpyAttributes, srcLocHint)),
        ("cudaMemcpyAttributes.dstLocHint", offset_of!(MemcpyAttributes, dstLocHint)),
        ("cudaMemcpyAttributes.flags", offset_of!(MemcpyAttributes, flags)),
        ("CUDA_MEMCPY3D_BATCH_OP", size_of::<Memcpy3DBatchOp>()),
        ("CUDA_MEMCPY3D_BATCH_OP.dst", offset_of!(Memcpy3DBatchOp, dst)),
        ("CUDA_MEMCPY3D_BATCH_OP.extent", offset_of!(Memcpy3DBatchOp, extent)),
        ("CUDA_MEMCPY3D_BATCH_OP.srcAccessOrder", offset_of!(Memcpy3DBatchOp, srcAccessOrder)),
        ("CUDA_MEMCPY3D_BATCH_OP.flags", offset_of!(Memcpy3DBatchOp, flags)),
        ("cudaMemcpy3DBatchOp", size_of::<Memcpy3DBatchOp>()),
        ("cudaMemcpy3DBatchOp.dst", offset_of!(Memcpy3DBatchOp, dst)),
        ("cudaMemcpy3DBatchOp.extent", offset_of!(Memcpy3DBatchOp, extent)),
        ("cudaMemcpy3DBatchOp.srcAccessOrder", offset_of!(Memcpy3DBatchOp, srcAccessOrder)),
        ("cudaMemcpy3DBatchOp.flags", offset_of!(Memcpy3DBatchOp, flags)),
        ("CUmemcpy3DOperand", size_of::<Memcpy3DOperand>()),
        ("CUmemcpy3DOperand.op.ptr.ptr", offset_of!(Memcpy3DOperand, op) + offset_of!(Memcpy3DPointerOperand, ptr)),
        (
            "CUmemcpy3DOperand.op.ptr.rowLength",
            offset_of!(Memcpy3DOperand, op) + offset_of!(Memcpy3DPointerOperand, rowLength),
        ),
        (
            "CUmemcpy3DOperand.op.ptr.layerHeight",
            offset_of!(Memcpy3DOperand, op) + offset_of!(Memcpy3DPointerOperand, layerHeight),
        ),
        (
            "CUmemcpy3DOperand.op.ptr.locHint",
            offset_of!(Memcpy3DOperand, op) + offset_of!(Memcpy3DPointerOperand, locHint),
        ),
        ("cudaMemcpyDefault", memcpy_kind::DEFAULT as usize),
        ("CU_MEMORYTYPE_HOST", memory_type::HOST as usize),
        ("CU_MEMORYTYPE_UNIFIED", memory_type::UNIFIED as usize),
        ("CU_POINTER_ATTRIBUTE_MEMORY_TYPE", pointer_attribute::MEMORY_TYPE as usize),
        ("CU_POINTER_ATTRIBUTE_IS_MANAGED", pointer_attribute::IS_MANAGED as usize),
        ("CU_MEMCPY_SRC_ACCESS_ORDER_ANY", src_access_order::ANY as usize),
        ("CU_MEMCPY_OPERAND_TYPE_POINTER", operand_type::POINTER as usize),
        ("CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND", ERROR_SYMBOL_NOT_FOUND as usize),
        ("cudaErrorSharedObjectSymbolNotFound", ERROR_SYMBOL_NOT_FOUND as usize),
    ];
    assert_eq!(rust.len(), c.len(), "every line the C++ probe prints is checked");
    for (name, value) in rust {
        assert_eq!(Some(&value), c.get(name), "{name}: Rust {value}, headers {:?}", c.get(name));
    }
}
