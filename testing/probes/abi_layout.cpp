// Prints sizeof/offsetof of the CUDA structures pinguard reads, from the real headers.
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <cstddef>
#include <cstdio>
#define S(t) printf("size %s %zu\n", #t, sizeof(t))
#define O(t, f) printf("offset %s.%s %zu\n", #t, #f, offsetof(t, f))
int main() {
    S(CUDA_MEMCPY2D); O(CUDA_MEMCPY2D, srcMemoryType); O(CUDA_MEMCPY2D, srcHost); O(CUDA_MEMCPY2D, srcDevice);
    O(CUDA_MEMCPY2D, srcPitch); O(CUDA_MEMCPY2D, dstMemoryType); O(CUDA_MEMCPY2D, dstHost);
    O(CUDA_MEMCPY2D, dstDevice); O(CUDA_MEMCPY2D, dstPitch); O(CUDA_MEMCPY2D, WidthInBytes); O(CUDA_MEMCPY2D, Height);
    S(CUDA_MEMCPY3D); O(CUDA_MEMCPY3D, srcZ); O(CUDA_MEMCPY3D, srcMemoryType); O(CUDA_MEMCPY3D, srcHost);
    O(CUDA_MEMCPY3D, srcDevice); O(CUDA_MEMCPY3D, srcPitch); O(CUDA_MEMCPY3D, srcHeight);
    O(CUDA_MEMCPY3D, dstMemoryType); O(CUDA_MEMCPY3D, dstHost); O(CUDA_MEMCPY3D, dstDevice);
    O(CUDA_MEMCPY3D, dstPitch); O(CUDA_MEMCPY3D, dstHeight); O(CUDA_MEMCPY3D, WidthInBytes);
    O(CUDA_MEMCPY3D, Height); O(CUDA_MEMCPY3D, Depth);
    S(cudaMemcpy3DParms); O(cudaMemcpy3DParms, srcPos); O(cudaMemcpy3DParms, srcPtr); O(cudaMemcpy3DParms, dstArray);
    O(cudaMemcpy3DParms, dstPos); O(cudaMemcpy3DParms, dstPtr); O(cudaMemcpy3DParms, extent); O(cudaMemcpy3DParms, kind);
    S(CUmemcpyAttributes); O(CUmemcpyAttributes, srcLocHint); O(CUmemcpyAttributes, dstLocHint); O(CUmemcpyAttributes, flags);
    S(cudaMemcpyAttributes); O(cudaMemcpyAttributes, srcLocHint); O(cudaMemcpyAttributes, dstLocHint); O(cudaMemcpyAttributes, flags);
    S(CUDA_MEMCPY3D_BATCH_OP); O(CUDA_MEMCPY3D_BATCH_OP, dst); O(CUDA_MEMCPY3D_BATCH_OP, extent);
    O(CUDA_MEMCPY3D_BATCH_OP, srcAccessOrder); O(CUDA_MEMCPY3D_BATCH_OP, flags);
    S(cudaMemcpy3DBatchOp); O(cudaMemcpy3DBatchOp, dst); O(cudaMemcpy3DBatchOp, extent);
    O(cudaMemcpy3DBatchOp, srcAccessOrder); O(cudaMemcpy3DBatchOp, flags);
    S(CUmemcpy3DOperand); O(CUmemcpy3DOperand, op.ptr.ptr); O(CUmemcpy3DOperand, op.ptr.rowLength);
    O(CUmemcpy3DOperand, op.ptr.layerHeight); O(CUmemcpy3DOperand, op.ptr.locHint);
    printf("value cudaMemcpyDefault %d\n", (int)cudaMemcpyDefault);
    printf("value CU_MEMORYTYPE_HOST %d\n", (int)CU_MEMORYTYPE_HOST);
    printf("value CU_MEMORYTYPE_UNIFIED %d\n", (int)CU_MEMORYTYPE_UNIFIED);
    printf("value CU_POINTER_ATTRIBUTE_MEMORY_TYPE %d\n", (int)CU_POINTER_ATTRIBUTE_MEMORY_TYPE);
    printf("value CU_POINTER_ATTRIBUTE_IS_MANAGED %d\n", (int)CU_POINTER_ATTRIBUTE_IS_MANAGED);
    printf("value CU_MEMCPY_SRC_ACCESS_ORDER_ANY %d\n", (int)CU_MEMCPY_SRC_ACCESS_ORDER_ANY);
    printf("value CU_MEMCPY_OPERAND_TYPE_POINTER %d\n", (int)CU_MEMCPY_OPERAND_TYPE_POINTER);
    printf("value CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND %d\n", (int)CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND);
    printf("value cudaErrorSharedObjectSymbolNotFound %d\n", (int)cudaErrorSharedObjectSymbolNotFound);
    return 0;
}
