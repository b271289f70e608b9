// testkit.h: the thin layer that lets one scenario source build four ways.
//
//   (default)        CUDA runtime API: linked with -lcudart (dynamic runtime) or with the
//                    runtime inside the program (static runtime: nvcc -cudart static, or
//                    fakecuda's libfakecudart_static.a)
//   TK_DRIVER        the driver API called directly, linked with -lcuda
//   TK_DLSYM         dlopen("libcuda.so.1") + dlsym(handle, "cu..._v2"), as JAX/XLA do
//
// Define CUDA_API_PER_THREAD_DEFAULT_STREAM before including it to get the _ptsz /
// per-thread-default-stream variants in every backend.
//
// Each scenario prints what it does on stdout; any unexpected CUDA error exits with 3 and
// a message, so a broken app never passes for a silent one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(TK_DRIVER) || defined(TK_DLSYM)
#define TK_USES_DRIVER 1
#include <cuda.h>
#include <dlfcn.h>
#else
#include <cuda_runtime_api.h>
#endif

enum tk_kind { TK_H2H = 0, TK_H2D = 1, TK_D2H = 2, TK_D2D = 3, TK_DEFAULT = 4 };
typedef void *tk_stream;
typedef void *tk_array;

#define TK_FAIL(...)                                   \
    do {                                               \
        fprintf(stderr, "testkit: FAILED: " __VA_ARGS__); \
        fprintf(stderr, "\n");                         \
        exit(3);                                       \
    } while (0)

#define TK_CHECK(expr)                                                         \
    do {                                                                       \
        int tk_rc_ = (int)(expr);                                              \
        if (tk_rc_ != 0) TK_FAIL("%s returned %d (%s:%d)", #expr, tk_rc_, __FILE__, __LINE__); \
    } while (0)

static inline const char *tk_backend_name() {
#if defined(TK_DLSYM)
    return "dlsym";
#elif defined(TK_DRIVER)
    return "driver";
#else
    return "runtime";
#endif
}

#ifdef CUDA_API_PER_THREAD_DEFAULT_STREAM
#define TK_PT(name) name "_ptsz"
#else
#define TK_PT(name) name
#endif

// ---------------------------------------------------------------- driver backends ----
#ifdef TK_USES_DRIVER

struct tk_driver_fns {
    CUresult (*init)(unsigned int);
    CUresult (*device_get)(CUdevice *, int);
    CUresult (*primary_retain)(CUcontext *, CUdevice);
    CUresult (*ctx_set_current)(CUcontext);
    CUresult (*mem_alloc)(CUdeviceptr *, size_t);
    CUresult (*mem_free)(CUdeviceptr);
    CUresult (*mem_alloc_managed)(CUdeviceptr *, size_t, unsigned int);
    CUresult (*mem_alloc_host)(void **, size_t);
    CUresult (*mem_host_alloc)(void **, size_t, unsigned int);
    CUresult (*mem_free_host)(void *);
    CUresult (*mem_host_register)(void *, size_t, unsigned int);
    CUresult (*mem_host_unregister)(void *);
    CUresult (*stream_create)(CUstream *, unsigned int);
    CUresult (*stream_sync)(CUstream);
    CUresult (*htod)(CUdeviceptr, const void *, size_t, CUstream);
    CUresult (*dtoh)(void *, CUdeviceptr, size_t, CUstream);
    CUresult (*dtod)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*unified)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*copy2d)(const CUDA_MEMCPY2D *, CUstream);
    CUresult (*copy3d)(const CUDA_MEMCPY3D *, CUstream);
    CUresult (*htoa)(CUarray, size_t, const void *, size_t, CUstream);
    CUresult (*atoh)(void *, CUarray, size_t, size_t, CUstream);
    CUresult (*array_create)(CUarray *, const CUDA_ARRAY_DESCRIPTOR *);
    CUresult (*batch)(CUdeviceptr *, CUdeviceptr *, size_t *, size_t, CUmemcpyAttributes *, size_t *, size_t,
                      CUstream);
    CUresult (*batch3d)(size_t, CUDA_MEMCPY3D_BATCH_OP *, unsigned long long, CUstream);
    CUresult (*get_proc_address)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
    CUresult (*htod_sync)(CUdeviceptr, const void *, size_t);
    CUresult (*ctx_sync)(void);
    CUresult (*dtoh_sync)(void *, CUdeviceptr, size_t);
    CUresult (*begin_capture)(CUstream, CUstreamCaptureMode);
    CUresult (*end_capture)(CUstream, CUgraph *);
    CUresult (*graph_instantiate)(CUgraphExec *, CUgraph, unsigned long long);
    CUresult (*graph_launch)(CUgraphExec, CUstream);
    CUresult (*graph_exec_destroy)(CUgraphExec);
    CUresult (*graph_destroy)(CUgraph);
};

static tk_driver_fns tk_drv;
static CUcontext tk_ctx;  // the primary context, made current on each thread that copies

#ifdef TK_DLSYM
template <typename F>
static void tk_sym(void *h, F &slot, const char *name) {
    slot = reinterpret_cast<F>(dlsym(h, name));
    if (!slot) TK_FAIL("dlsym(libcuda, %s) failed", name);
}
#endif

static inline void tk_init() {
#ifdef TK_DLSYM
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) TK_FAIL("dlopen(libcuda.so.1): %s", dlerror());
    tk_sym(h, tk_drv.init, "cuInit");
    tk_sym(h, tk_drv.device_get, "cuDeviceGet");
    tk_sym(h, tk_drv.primary_retain, "cuDevicePrimaryCtxRetain");
    tk_sym(h, tk_drv.ctx_set_current, "cuCtxSetCurrent");
    tk_sym(h, tk_drv.mem_alloc, "cuMemAlloc_v2");
    tk_sym(h, tk_drv.mem_free, "cuMemFree_v2");
    tk_sym(h, tk_drv.mem_alloc_managed, "cuMemAllocManaged");
    tk_sym(h, tk_drv.mem_alloc_host, "cuMemAllocHost_v2");
    tk_sym(h, tk_drv.mem_host_alloc, "cuMemHostAlloc");
    tk_sym(h, tk_drv.mem_free_host, "cuMemFreeHost");
    tk_sym(h, tk_drv.mem_host_register, "cuMemHostRegister_v2");
    tk_sym(h, tk_drv.mem_host_unregister, "cuMemHostUnregister");
    tk_sym(h, tk_drv.stream_create, "cuStreamCreate");
    tk_sym(h, tk_drv.stream_sync, TK_PT("cuStreamSynchronize"));
    tk_sym(h, tk_drv.htod, TK_PT("cuMemcpyHtoDAsync_v2"));
    tk_sym(h, tk_drv.dtoh, TK_PT("cuMemcpyDtoHAsync_v2"));
    tk_sym(h, tk_drv.dtod, TK_PT("cuMemcpyDtoDAsync_v2"));
    tk_sym(h, tk_drv.unified, TK_PT("cuMemcpyAsync"));
    tk_sym(h, tk_drv.copy2d, TK_PT("cuMemcpy2DAsync_v2"));
    tk_sym(h, tk_drv.copy3d, TK_PT("cuMemcpy3DAsync_v2"));
    tk_sym(h, tk_drv.htoa, TK_PT("cuMemcpyHtoAAsync_v2"));
    tk_sym(h, tk_drv.atoh, TK_PT("cuMemcpyAtoHAsync_v2"));
    tk_sym(h, tk_drv.array_create, "cuArrayCreate_v2");
    tk_sym(h, tk_drv.batch, TK_PT("cuMemcpyBatchAsync_v2"));
    tk_sym(h, tk_drv.batch3d, TK_PT("cuMemcpy3DBatchAsync_v2"));
    tk_sym(h, tk_drv.get_proc_address, "cuGetProcAddress_v2");
    tk_sym(h, tk_drv.htod_sync, "cuMemcpyHtoD_v2");
    tk_sym(h, tk_drv.ctx_sync, "cuCtxSynchronize");
    tk_sym(h, tk_drv.dtoh_sync, "cuMemcpyDtoH_v2");
    tk_sym(h, tk_drv.begin_capture, TK_PT("cuStreamBeginCapture_v2"));
    tk_sym(h, tk_drv.end_capture, TK_PT("cuStreamEndCapture"));
    tk_sym(h, tk_drv.graph_instantiate, "cuGraphInstantiateWithFlags");
    tk_sym(h, tk_drv.graph_launch, TK_PT("cuGraphLaunch"));
    tk_sym(h, tk_drv.graph_exec_destroy, "cuGraphExecDestroy");
    tk_sym(h, tk_drv.graph_destroy, "cuGraphDestroy");
#else
    tk_drv.init = cuInit;
    tk_drv.device_get = cuDeviceGet;
    tk_drv.primary_retain = cuDevicePrimaryCtxRetain;
    tk_drv.ctx_set_current = cuCtxSetCurrent;
    tk_drv.mem_alloc = cuMemAlloc;
    tk_drv.mem_free = cuMemFree;
    tk_drv.mem_alloc_managed = cuMemAllocManaged;
    tk_drv.mem_alloc_host = cuMemAllocHost;
    tk_drv.mem_host_alloc = cuMemHostAlloc;
    tk_drv.mem_free_host = cuMemFreeHost;
    tk_drv.mem_host_register = cuMemHostRegister;
    tk_drv.mem_host_unregister = cuMemHostUnregister;
    tk_drv.stream_create = cuStreamCreate;
    tk_drv.stream_sync = cuStreamSynchronize;
    tk_drv.htod = cuMemcpyHtoDAsync;
    tk_drv.dtoh = cuMemcpyDtoHAsync;
    tk_drv.dtod = cuMemcpyDtoDAsync;
    tk_drv.unified = cuMemcpyAsync;
    tk_drv.copy2d = cuMemcpy2DAsync;
    tk_drv.copy3d = cuMemcpy3DAsync;
    tk_drv.htoa = cuMemcpyHtoAAsync;
    tk_drv.atoh = cuMemcpyAtoHAsync;
    tk_drv.array_create = cuArrayCreate;
    tk_drv.batch = cuMemcpyBatchAsync;
    tk_drv.batch3d = cuMemcpy3DBatchAsync;
    tk_drv.get_proc_address = cuGetProcAddress;
    tk_drv.htod_sync = cuMemcpyHtoD;
    tk_drv.ctx_sync = cuCtxSynchronize;
    tk_drv.dtoh_sync = cuMemcpyDtoH;
    tk_drv.begin_capture = cuStreamBeginCapture;
    tk_drv.end_capture = cuStreamEndCapture;
    tk_drv.graph_instantiate = cuGraphInstantiate;
    tk_drv.graph_launch = cuGraphLaunch;
    tk_drv.graph_exec_destroy = cuGraphExecDestroy;
    tk_drv.graph_destroy = cuGraphDestroy;
#endif
    TK_CHECK(tk_drv.init(0));
    CUdevice dev;
    TK_CHECK(tk_drv.device_get(&dev, 0));
    TK_CHECK(tk_drv.primary_retain(&tk_ctx, dev));
    TK_CHECK(tk_drv.ctx_set_current(tk_ctx));
}

// A new thread has no current context in the driver API: make the primary one current.
static inline void tk_thread_init() { TK_CHECK(tk_drv.ctx_set_current(tk_ctx)); }

#define TK_DPTR(p) static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p))
#define TK_S(s) reinterpret_cast<CUstream>(s)

static inline void *tk_device_alloc(size_t n) { CUdeviceptr d; TK_CHECK(tk_drv.mem_alloc(&d, n)); return reinterpret_cast<void *>(d); }
static inline void tk_device_free(void *p) { TK_CHECK(tk_drv.mem_free(TK_DPTR(p))); }
static inline void *tk_managed_alloc(size_t n) { CUdeviceptr d; TK_CHECK(tk_drv.mem_alloc_managed(&d, n, CU_MEM_ATTACH_GLOBAL)); return reinterpret_cast<void *>(d); }
static inline void *tk_malloc_host(size_t n) { void *p; TK_CHECK(tk_drv.mem_alloc_host(&p, n)); return p; }
static inline void *tk_host_alloc(size_t n, unsigned f) { void *p; TK_CHECK(tk_drv.mem_host_alloc(&p, n, f)); return p; }
static inline void tk_free_host(void *p) { TK_CHECK(tk_drv.mem_free_host(p)); }
static inline void tk_register(void *p, size_t n, unsigned f) { TK_CHECK(tk_drv.mem_host_register(p, n, f)); }
static inline void tk_unregister(void *p) { TK_CHECK(tk_drv.mem_host_unregister(p)); }
static inline tk_stream tk_stream_create() { CUstream s; TK_CHECK(tk_drv.stream_create(&s, CU_STREAM_NON_BLOCKING)); return s; }
static inline void tk_stream_sync(tk_stream s) { TK_CHECK(tk_drv.stream_sync(TK_S(s))); }

static inline int tk_memcpy_async(void *dst, const void *src, size_t n, tk_kind k, tk_stream s) {
    switch (k) {
    case TK_H2D: return tk_drv.htod(TK_DPTR(dst), src, n, TK_S(s));
    case TK_D2H: return tk_drv.dtoh(dst, TK_DPTR(src), n, TK_S(s));
    case TK_D2D: return tk_drv.dtod(TK_DPTR(dst), TK_DPTR(src), n, TK_S(s));
    default: return tk_drv.unified(TK_DPTR(dst), TK_DPTR(src), n, TK_S(s));
    }
}

static inline void tk_side(tk_kind k, bool src, CUmemorytype *t) {
    if (k == TK_DEFAULT) { *t = CU_MEMORYTYPE_UNIFIED; return; }
    bool host = src ? (k == TK_H2D || k == TK_H2H) : (k == TK_D2H || k == TK_H2H);
    *t = host ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
}

static inline int tk_memcpy2d_async(void *dst, size_t dpitch, const void *src, size_t spitch, size_t w, size_t h,
                                    tk_kind k, tk_stream s) {
    CUDA_MEMCPY2D c;
    memset(&c, 0, sizeof c);
    tk_side(k, true, &c.srcMemoryType);
    tk_side(k, false, &c.dstMemoryType);
    if (c.srcMemoryType == CU_MEMORYTYPE_HOST) c.srcHost = src; else c.srcDevice = TK_DPTR(src);
    if (c.dstMemoryType == CU_MEMORYTYPE_HOST) c.dstHost = dst; else c.dstDevice = TK_DPTR(dst);
    c.srcPitch = spitch; c.dstPitch = dpitch; c.WidthInBytes = w; c.Height = h;
    return tk_drv.copy2d(&c, TK_S(s));
}

// 3D copy between pitched allocations: rows of `pitch` bytes, `rows` rows per slice.
static inline int tk_memcpy3d_async(void *dst, const void *src, size_t pitch, size_t rows, size_t w, size_t h,
                                    size_t d, tk_kind k, tk_stream s) {
    CUDA_MEMCPY3D c;
    memset(&c, 0, sizeof c);
    tk_side(k, true, &c.srcMemoryType);
    tk_side(k, false, &c.dstMemoryType);
    if (c.srcMemoryType == CU_MEMORYTYPE_HOST) c.srcHost = src; else c.srcDevice = TK_DPTR(src);
    if (c.dstMemoryType == CU_MEMORYTYPE_HOST) c.dstHost = dst; else c.dstDevice = TK_DPTR(dst);
    c.srcPitch = pitch; c.dstPitch = pitch; c.srcHeight = rows; c.dstHeight = rows;
    c.WidthInBytes = w; c.Height = h; c.Depth = d;
    return tk_drv.copy3d(&c, TK_S(s));
}

static inline tk_array tk_array_create(size_t width_bytes, size_t height) {
    CUDA_ARRAY_DESCRIPTOR d;
    d.Width = width_bytes; d.Height = height; d.Format = CU_AD_FORMAT_UNSIGNED_INT8; d.NumChannels = 1;
    CUarray a;
    TK_CHECK(tk_drv.array_create(&a, &d));
    return a;
}

static inline int tk_memcpy_to_array_async(tk_array a, const void *src, size_t spitch, size_t w, size_t h,
                                           tk_stream s) {
    CUDA_MEMCPY2D c;
    memset(&c, 0, sizeof c);
    c.srcMemoryType = CU_MEMORYTYPE_HOST; c.srcHost = src; c.srcPitch = spitch;
    c.dstMemoryType = CU_MEMORYTYPE_ARRAY; c.dstArray = static_cast<CUarray>(a);
    c.WidthInBytes = w; c.Height = h;
    return tk_drv.copy2d(&c, TK_S(s));
}

static inline int tk_memcpy_from_array_async(void *dst, size_t dpitch, tk_array a, size_t w, size_t h,
                                             tk_stream s) {
    CUDA_MEMCPY2D c;
    memset(&c, 0, sizeof c);
    c.srcMemoryType = CU_MEMORYTYPE_ARRAY; c.srcArray = static_cast<CUarray>(a);
    c.dstMemoryType = CU_MEMORYTYPE_HOST; c.dstHost = dst; c.dstPitch = dpitch;
    c.WidthInBytes = w; c.Height = h;
    return tk_drv.copy2d(&c, TK_S(s));
}

// Batch of 1D copies; order[i] is the source access order of copy i (1 stream, 3 any).
static inline int tk_memcpy_batch_async(void **dsts, const void **srcs, size_t *sizes, size_t count,
                                        const int *order, tk_stream s) {
    std::vector<CUmemcpyAttributes> attrs(count);
    std::vector<size_t> idxs(count);
    for (size_t i = 0; i < count; ++i) {
        memset(&attrs[i], 0, sizeof attrs[i]);
        attrs[i].srcAccessOrder = static_cast<CUmemcpySrcAccessOrder>(order[i]);
        attrs[i].srcLocHint.type = CU_MEM_LOCATION_TYPE_HOST;
        attrs[i].dstLocHint.type = CU_MEM_LOCATION_TYPE_DEVICE;
        idxs[i] = i;
    }
    return tk_drv.batch(reinterpret_cast<CUdeviceptr *>(dsts), reinterpret_cast<CUdeviceptr *>(srcs), sizes,
                        count, attrs.data(), idxs.data(), count, TK_S(s));
}

// A batch call with caller-chosen (possibly hostile) counts: `count` copies described by
// the three arrays, `num_attrs` attributes described by one attribute and one index.
static inline int tk_memcpy_batch_raw(void **dsts, const void **srcs, size_t *sizes, size_t count,
                                      size_t num_attrs, tk_stream s) {
    CUmemcpyAttributes attr;
    memset(&attr, 0, sizeof attr);
    attr.srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
    attr.srcLocHint.type = CU_MEM_LOCATION_TYPE_HOST;
    attr.dstLocHint.type = CU_MEM_LOCATION_TYPE_DEVICE;
    size_t idx = 0;
    return tk_drv.batch(reinterpret_cast<CUdeviceptr *>(dsts), reinterpret_cast<CUdeviceptr *>(const_cast<void **>(srcs)),
                        sizes, count, &attr, &idx, num_attrs, TK_S(s));
}

// One pointer-to-pointer 3D batch op (element size 1: extents are bytes).
static inline int tk_memcpy3d_batch_async(void *dst, const void *src, size_t w, size_t h, size_t d, int order,
                                          tk_stream s) {
    CUDA_MEMCPY3D_BATCH_OP op;
    memset(&op, 0, sizeof op);
    op.src.type = CU_MEMCPY_OPERAND_TYPE_POINTER;
    op.src.op.ptr.ptr = TK_DPTR(src); op.src.op.ptr.rowLength = w; op.src.op.ptr.layerHeight = h;
    op.src.op.ptr.locHint.type = CU_MEM_LOCATION_TYPE_HOST;
    op.dst.type = CU_MEMCPY_OPERAND_TYPE_POINTER;
    op.dst.op.ptr.ptr = TK_DPTR(dst); op.dst.op.ptr.rowLength = w; op.dst.op.ptr.layerHeight = h;
    op.dst.op.ptr.locHint.type = CU_MEM_LOCATION_TYPE_DEVICE;
    op.extent.width = w; op.extent.height = h; op.extent.depth = d;
    op.srcAccessOrder = static_cast<CUmemcpySrcAccessOrder>(order);
    return tk_drv.batch3d(1, &op, 0, TK_S(s));
}

// A driver function obtained through cuGetProcAddress with an explicit version: the
// way a library pins memory by a path that pinguard may not wrap.
static inline void *tk_proc_address(const char *name, int version) {
    void *fp = nullptr;
    CUdriverProcAddressQueryResult st;
    TK_CHECK(tk_drv.get_proc_address(name, &fp, version, 0, &st));
    return fp;
}

// A driver entry point as a program asks for it at run time; per_thread asks for the
// per-thread-default-stream (_ptsz) variant.
static inline void *tk_entry_point(const char *name, bool per_thread) {
    void *fp = nullptr;
    CUdriverProcAddressQueryResult st;
    TK_CHECK(tk_drv.get_proc_address(name, &fp, 13000, per_thread ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM : 0, &st));
    return fp;
}

static inline int tk_error_invalid_value() { return CUDA_ERROR_INVALID_VALUE; }

// Synchronous copies (not watched by pinguard): how the apps check the data. A
// "synchronous" copy from pageable memory may return once the data is staged, before
// the DMA to the device ends, and the apps' streams are non-blocking (no order with the
// legacy stream): the context is synchronised after it, or an async copy on such a stream
// could read the old bytes (seen once on an H100: "data mismatch after D2D").
static inline void tk_htod_sync(void *dst, const void *src, size_t n) {
    TK_CHECK(tk_drv.htod_sync(TK_DPTR(dst), src, n));
    TK_CHECK(tk_drv.ctx_sync());
}
static inline void tk_dtoh_sync(void *dst, const void *src, size_t n) { TK_CHECK(tk_drv.dtoh_sync(dst, TK_DPTR(src), n)); }

// Stream capture: mode 0 global, 1 thread-local, 2 relaxed (the same values in both APIs).
typedef void *tk_graph;
static inline int tk_begin_capture(tk_stream s, int mode) {
    return tk_drv.begin_capture(TK_S(s), static_cast<CUstreamCaptureMode>(mode));
}
static inline int tk_end_capture(tk_stream s, tk_graph *g) {
    return tk_drv.end_capture(TK_S(s), reinterpret_cast<CUgraph *>(g));
}
// An executable graph of `g`, which is destroyed.
static inline tk_graph tk_instantiate(tk_graph g) {
    CUgraphExec e;
    TK_CHECK(tk_drv.graph_instantiate(&e, static_cast<CUgraph>(g), 0));
    TK_CHECK(tk_drv.graph_destroy(static_cast<CUgraph>(g)));
    return e;
}
static inline void tk_launch(tk_graph e, tk_stream s) { TK_CHECK(tk_drv.graph_launch(static_cast<CUgraphExec>(e), TK_S(s))); }
static inline void tk_graph_exec_destroy(tk_graph e) { TK_CHECK(tk_drv.graph_exec_destroy(static_cast<CUgraphExec>(e))); }

// ---------------------------------------------------------------- runtime backend ----
#else

static inline void tk_init() { TK_CHECK(cudaSetDevice(0)); }
// The runtime binds the primary context to each thread by itself.
static inline void tk_thread_init() {}
static inline void *tk_device_alloc(size_t n) { void *p; TK_CHECK(cudaMalloc(&p, n)); return p; }
static inline void tk_device_free(void *p) { TK_CHECK(cudaFree(p)); }
static inline void *tk_managed_alloc(size_t n) { void *p; TK_CHECK(cudaMallocManaged(&p, n, cudaMemAttachGlobal)); return p; }
static inline void *tk_malloc_host(size_t n) { void *p; TK_CHECK(cudaMallocHost(&p, n)); return p; }
static inline void *tk_host_alloc(size_t n, unsigned f) { void *p; TK_CHECK(cudaHostAlloc(&p, n, f)); return p; }
static inline void tk_free_host(void *p) { TK_CHECK(cudaFreeHost(p)); }
static inline void tk_register(void *p, size_t n, unsigned f) { TK_CHECK(cudaHostRegister(p, n, f)); }
static inline void tk_unregister(void *p) { TK_CHECK(cudaHostUnregister(p)); }
static inline tk_stream tk_stream_create() { cudaStream_t s; TK_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); return s; }
static inline void tk_stream_sync(tk_stream s) { TK_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(s))); }

static inline int tk_memcpy_async(void *dst, const void *src, size_t n, tk_kind k, tk_stream s) {
    return cudaMemcpyAsync(dst, src, n, static_cast<cudaMemcpyKind>(k), static_cast<cudaStream_t>(s));
}
static inline int tk_memcpy2d_async(void *dst, size_t dpitch, const void *src, size_t spitch, size_t w, size_t h,
                                    tk_kind k, tk_stream s) {
    return cudaMemcpy2DAsync(dst, dpitch, src, spitch, w, h, static_cast<cudaMemcpyKind>(k),
                             static_cast<cudaStream_t>(s));
}
static inline int tk_memcpy3d_async(void *dst, const void *src, size_t pitch, size_t rows, size_t w, size_t h,
                                    size_t d, tk_kind k, tk_stream s) {
    cudaMemcpy3DParms p;
    memset(&p, 0, sizeof p);
    p.srcPtr.ptr = const_cast<void *>(src); p.srcPtr.pitch = pitch; p.srcPtr.xsize = w; p.srcPtr.ysize = rows;
    p.dstPtr.ptr = dst; p.dstPtr.pitch = pitch; p.dstPtr.xsize = w; p.dstPtr.ysize = rows;
    p.extent.width = w; p.extent.height = h; p.extent.depth = d;
    p.kind = static_cast<cudaMemcpyKind>(k);
    return cudaMemcpy3DAsync(&p, static_cast<cudaStream_t>(s));
}
static inline tk_array tk_array_create(size_t width_bytes, size_t height) {
    cudaChannelFormatDesc d = cudaCreateChannelDesc(8, 0, 0, 0, cudaChannelFormatKindUnsigned);
    cudaArray_t a;
    TK_CHECK(cudaMallocArray(&a, &d, width_bytes, height, 0));
    return a;
}
static inline int tk_memcpy_to_array_async(tk_array a, const void *src, size_t spitch, size_t w, size_t h,
                                           tk_stream s) {
    return cudaMemcpy2DToArrayAsync(static_cast<cudaArray_t>(a), 0, 0, src, spitch, w, h, cudaMemcpyHostToDevice,
                                    static_cast<cudaStream_t>(s));
}
static inline int tk_memcpy_from_array_async(void *dst, size_t dpitch, tk_array a, size_t w, size_t h,
                                             tk_stream s) {
    return cudaMemcpy2DFromArrayAsync(dst, dpitch, static_cast<cudaArray_t>(a), 0, 0, w, h, cudaMemcpyDeviceToHost,
                                      static_cast<cudaStream_t>(s));
}
static inline int tk_memcpy_batch_async(void **dsts, const void **srcs, size_t *sizes, size_t count,
                                        const int *order, tk_stream s) {
    std::vector<cudaMemcpyAttributes> attrs(count);
    std::vector<size_t> idxs(count);
    for (size_t i = 0; i < count; ++i) {
        memset(&attrs[i], 0, sizeof attrs[i]);
        attrs[i].srcAccessOrder = static_cast<cudaMemcpySrcAccessOrder>(order[i]);
        attrs[i].srcLocHint.type = cudaMemLocationTypeHost;
        attrs[i].dstLocHint.type = cudaMemLocationTypeDevice;
        idxs[i] = i;
    }
#if CUDART_VERSION >= 13000
    return cudaMemcpyBatchAsync(dsts, srcs, sizes, count, attrs.data(), idxs.data(), count,
                                static_cast<cudaStream_t>(s));
#else  // CUDA 12.8/12.9: a failIdx argument before the stream
    size_t fail = 0;
    return cudaMemcpyBatchAsync(dsts, const_cast<void **>(srcs), sizes, count, attrs.data(), idxs.data(), count,
                                &fail, static_cast<cudaStream_t>(s));
#endif
}
static inline int tk_memcpy_batch_raw(void **dsts, const void **srcs, size_t *sizes, size_t count,
                                      size_t num_attrs, tk_stream s) {
    cudaMemcpyAttributes attr;
    memset(&attr, 0, sizeof attr);
    attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
    attr.srcLocHint.type = cudaMemLocationTypeHost;
    attr.dstLocHint.type = cudaMemLocationTypeDevice;
    size_t idx = 0;
#if CUDART_VERSION >= 13000
    return cudaMemcpyBatchAsync(dsts, const_cast<void **>(srcs), sizes, count, &attr, &idx, num_attrs,
                                static_cast<cudaStream_t>(s));
#else
    size_t fail = 0;
    return cudaMemcpyBatchAsync(dsts, const_cast<void **>(srcs), sizes, count, &attr, &idx, num_attrs, &fail,
                                static_cast<cudaStream_t>(s));
#endif
}
static inline int tk_memcpy3d_batch_async(void *dst, const void *src, size_t w, size_t h, size_t d, int order,
                                          tk_stream s) {
    cudaMemcpy3DBatchOp op;
    memset(&op, 0, sizeof op);
    op.src.type = cudaMemcpyOperandTypePointer;
    op.src.op.ptr.ptr = const_cast<void *>(src); op.src.op.ptr.rowLength = w; op.src.op.ptr.layerHeight = h;
    op.src.op.ptr.locHint.type = cudaMemLocationTypeHost;
    op.dst.type = cudaMemcpyOperandTypePointer;
    op.dst.op.ptr.ptr = dst; op.dst.op.ptr.rowLength = w; op.dst.op.ptr.layerHeight = h;
    op.dst.op.ptr.locHint.type = cudaMemLocationTypeDevice;
    op.extent.width = w; op.extent.height = h; op.extent.depth = d;
    op.srcAccessOrder = static_cast<cudaMemcpySrcAccessOrder>(order);
#if CUDART_VERSION >= 13000
    return cudaMemcpy3DBatchAsync(1, &op, 0, static_cast<cudaStream_t>(s));
#else
    size_t fail = 0;
    return cudaMemcpy3DBatchAsync(1, &op, &fail, 0, static_cast<cudaStream_t>(s));
#endif
}
static inline void *tk_proc_address(const char *name, int version) {
    void *fp = nullptr;
    cudaDriverEntryPointQueryResult st;
    TK_CHECK(cudaGetDriverEntryPointByVersion(name, &fp, version, cudaEnableDefault, &st));
    return fp;
}

// A driver entry point through the runtime: cudaGetDriverEntryPoint for the default
// variant, cudaGetDriverEntryPointByVersion for the per-thread one.
static inline void *tk_entry_point(const char *name, bool per_thread) {
    void *fp = nullptr;
    cudaDriverEntryPointQueryResult st;
    if (per_thread)
        TK_CHECK(cudaGetDriverEntryPointByVersion(name, &fp, 13000, cudaEnablePerThreadDefaultStream, &st));
    else
        TK_CHECK(cudaGetDriverEntryPoint(name, &fp, cudaEnableDefault, &st));
    return fp;
}
static inline int tk_error_invalid_value() { return cudaErrorInvalidValue; }

// Stream capture: mode 0 global, 1 thread-local, 2 relaxed (the same values in both APIs).
typedef void *tk_graph;
static inline int tk_begin_capture(tk_stream s, int mode) {
    return cudaStreamBeginCapture(static_cast<cudaStream_t>(s), static_cast<cudaStreamCaptureMode>(mode));
}
static inline int tk_end_capture(tk_stream s, tk_graph *g) {
    return cudaStreamEndCapture(static_cast<cudaStream_t>(s), reinterpret_cast<cudaGraph_t *>(g));
}
// An executable graph of `g`, which is destroyed.
static inline tk_graph tk_instantiate(tk_graph g) {
    cudaGraphExec_t e;
    TK_CHECK(cudaGraphInstantiate(&e, static_cast<cudaGraph_t>(g), 0));
    TK_CHECK(cudaGraphDestroy(static_cast<cudaGraph_t>(g)));
    return e;
}
static inline void tk_launch(tk_graph e, tk_stream s) {
    TK_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(e), static_cast<cudaStream_t>(s)));
}
static inline void tk_graph_exec_destroy(tk_graph e) { TK_CHECK(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(e))); }

// Synchronous copies (not watched by pinguard): how the apps check the data. The device
// is synchronised after an upload: see the driver backend's tk_htod_sync.
static inline void tk_htod_sync(void *dst, const void *src, size_t n) {
    TK_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
    TK_CHECK(cudaDeviceSynchronize());
}
static inline void tk_dtoh_sync(void *dst, const void *src, size_t n) { TK_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost)); }

#endif

// ---------------------------------------------------------------- shared helpers -----

// Fills a host buffer with a pattern derived from `seed`.
static inline void tk_fill(void *p, size_t n, unsigned seed) {
    unsigned char *b = static_cast<unsigned char *>(p);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>((i * 31u + seed) & 0xff);
}

// Exits with 4 unless the two host buffers are equal: the copies must deliver the data
// unchanged under pinguard.
static inline void tk_expect_equal(const void *a, const void *b, size_t n, const char *what) {
    if (memcmp(a, b, n) != 0) {
        fprintf(stderr, "testkit: FAILED: data mismatch after %s\n", what);
        exit(4);
    }
}

static inline void tk_done(const char *app) { printf("%s: ok (%s backend)\n", app, tk_backend_name()); }
