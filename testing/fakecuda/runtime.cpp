// fakecuda runtime: a stand-in for libcudart.so.13 on machines without a GPU.
//
// TEST DOUBLE ONLY (see driver.cpp). Built twice from this one file:
// - libcudart.so.13: the "dynamic runtime" a program links with -lcudart;
// - libfakecudart_static.a (FAKE_STATIC): the "static runtime" linked into the program,
//   exporting nothing, exactly like nvcc's default `-cudart static`.
//
// Either way it reaches the driver only as the real CUDA 13 runtime does
// (docs/cuda-facts.md, section 2): dlopen("libcuda.so.1"), one dlsym of cuGetProcAddress_v2,
// then "" / cuInit / the cuGetProcAddress self-lookup (11030 and 12000), and every other
// entry point through the pointer that self-lookup returned.

#include <cuda.h>
#include <cuda_runtime_api.h>

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#ifdef FAKE_STATIC
#define RT_API extern "C" __attribute__((visibility("hidden")))
#else
#define RT_API extern "C" __attribute__((visibility("default")))
#endif

namespace cudart {  // as the real runtime names its internals (static builds show them in stacks)

using PFN_gpa_v2 = CUresult (*)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);

// Driver entry points the runtime uses, as handed out by cuGetProcAddress.
struct Driver {
    PFN_gpa_v2 gpa = nullptr;
    CUresult (*init)(unsigned int) = nullptr;
    CUresult (*primary_retain)(CUcontext *, CUdevice) = nullptr;
    CUresult (*ctx_set_current)(CUcontext) = nullptr;
    CUresult (*mem_alloc)(CUdeviceptr *, size_t) = nullptr;
    CUresult (*mem_free)(CUdeviceptr) = nullptr;
    CUresult (*mem_alloc_managed)(CUdeviceptr *, size_t, unsigned int) = nullptr;
    CUresult (*mem_alloc_host)(void **, size_t) = nullptr;
    CUresult (*mem_host_alloc)(void **, size_t, unsigned int) = nullptr;
    CUresult (*mem_free_host)(void *) = nullptr;
    CUresult (*mem_host_register)(void *, size_t, unsigned int) = nullptr;
    CUresult (*mem_host_unregister)(void *) = nullptr;
    CUresult (*array_create)(CUarray *, const CUDA_ARRAY_DESCRIPTOR *) = nullptr;
    CUresult (*array_destroy)(CUarray) = nullptr;
    CUresult (*pointer_get_attributes)(unsigned int, CUpointer_attribute *, void **, CUdeviceptr) = nullptr;
    CUresult (*stream_create)(CUstream *, unsigned int) = nullptr;
    CUresult (*stream_destroy)(CUstream) = nullptr;
    CUresult (*stream_sync[2])(CUstream) = {};
    CUresult (*ctx_sync)(void) = nullptr;
    CUresult (*htod_sync)(CUdeviceptr, const void *, size_t) = nullptr;
    CUresult (*dtoh_sync)(void *, CUdeviceptr, size_t) = nullptr;
    // [0]: legacy default stream semantics, [1]: per-thread default stream (_ptsz)
    CUresult (*htod[2])(CUdeviceptr, const void *, size_t, CUstream) = {};
    CUresult (*dtoh[2])(void *, CUdeviceptr, size_t, CUstream) = {};
    CUresult (*dtod[2])(CUdeviceptr, CUdeviceptr, size_t, CUstream) = {};
    CUresult (*unified[2])(CUdeviceptr, CUdeviceptr, size_t, CUstream) = {};
    CUresult (*copy2d[2])(const CUDA_MEMCPY2D *, CUstream) = {};
    CUresult (*copy3d[2])(const CUDA_MEMCPY3D *, CUstream) = {};
    CUresult (*batch[2])(CUdeviceptr *, CUdeviceptr *, size_t *, size_t, CUmemcpyAttributes *, size_t *,
                         size_t, CUstream) = {};
    CUresult (*batch3d[2])(size_t, CUDA_MEMCPY3D_BATCH_OP *, unsigned long long, CUstream) = {};
    CUresult (*begin_capture[2])(CUstream, CUstreamCaptureMode) = {};
    CUresult (*end_capture[2])(CUstream, CUgraph *) = {};
    CUresult (*is_capturing)(CUstream, CUstreamCaptureStatus *) = nullptr;
    CUresult (*graph_instantiate)(CUgraphExec *, CUgraph, unsigned long long) = nullptr;
    CUresult (*graph_launch[2])(CUgraphExec, CUstream) = {};
    CUresult (*graph_exec_destroy)(CUgraphExec) = nullptr;
    CUresult (*graph_destroy)(CUgraph) = nullptr;
};

Driver g_drv;
std::once_flag g_once;
cudaError_t g_init_error = cudaSuccess;
thread_local cudaError_t g_last_error = cudaSuccess;

template <typename F>
void want(F &slot, const char *name, int version, cuuint64_t flags) {
    void *fp = nullptr;
    CUdriverProcAddressQueryResult st;
    if (g_drv.gpa(name, &fp, version, flags, &st) == CUDA_SUCCESS) slot = reinterpret_cast<F>(fp);
}

// The legacy-stream entry point and its per-thread twin; per-thread variants exist from
// CUDA 7.0 on, so they are asked for at version 7000 at the earliest.
template <typename F>
void want_twins(F (&slots)[2], const char *name, int version) {
    want(slots[0], name, version, CU_GET_PROC_ADDRESS_DEFAULT);
    want(slots[1], name, version < 7000 ? 7000 : version, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
}

void load_driver() {
    void *h = dlopen("libcuda.so.1", RTLD_NOW);
    if (!h) {
        g_init_error = cudaErrorInsufficientDriver;
        return;
    }
    auto gpa0 = reinterpret_cast<PFN_gpa_v2>(dlsym(h, "cuGetProcAddress_v2"));
    if (!gpa0) {
        g_init_error = cudaErrorInsufficientDriver;
        return;
    }
    void *fp = nullptr;
    CUdriverProcAddressQueryResult st;
    gpa0("", &fp, 13000, 0, &st);
    gpa0("cuInit", &fp, 2000, 0, &st);
    auto init = reinterpret_cast<CUresult (*)(unsigned int)>(fp);
    gpa0("cuGetProcAddress", &fp, 11030, 0, &st);
    if (gpa0("cuGetProcAddress", &fp, 12000, 0, &st) != CUDA_SUCCESS || !fp) {
        g_init_error = cudaErrorInsufficientDriver;
        return;
    }
    // From here on, only the pointer the self-lookup returned is used.
    g_drv.gpa = reinterpret_cast<PFN_gpa_v2>(fp);
    g_drv.init = init;
    if (!init || init(0) != CUDA_SUCCESS) {
        g_init_error = cudaErrorInitializationError;
        return;
    }
    want(g_drv.primary_retain, "cuDevicePrimaryCtxRetain", 7000, 0);
    want(g_drv.ctx_set_current, "cuCtxSetCurrent", 4000, 0);
    want(g_drv.mem_alloc, "cuMemAlloc", 3020, 0);
    want(g_drv.mem_free, "cuMemFree", 3020, 0);
    want(g_drv.mem_alloc_managed, "cuMemAllocManaged", 6000, 0);
    want(g_drv.mem_alloc_host, "cuMemAllocHost", 3020, 0);
    want(g_drv.mem_host_alloc, "cuMemHostAlloc", 2020, 0);
    want(g_drv.mem_free_host, "cuMemFreeHost", 2000, 0);
    want(g_drv.mem_host_register, "cuMemHostRegister", 6050, 0);
    want(g_drv.mem_host_unregister, "cuMemHostUnregister", 4000, 0);
    want(g_drv.array_create, "cuArrayCreate", 3020, 0);
    want(g_drv.array_destroy, "cuArrayDestroy", 2000, 0);
    want(g_drv.pointer_get_attributes, "cuPointerGetAttributes", 7000, 0);
    want(g_drv.stream_create, "cuStreamCreate", 2000, 0);
    want(g_drv.stream_destroy, "cuStreamDestroy", 4000, 0);
    want_twins(g_drv.stream_sync, "cuStreamSynchronize", 2000);
    want(g_drv.ctx_sync, "cuCtxSynchronize", 2000, 0);
    want(g_drv.htod_sync, "cuMemcpyHtoD", 3020, 0);
    want(g_drv.dtoh_sync, "cuMemcpyDtoH", 3020, 0);
    want_twins(g_drv.htod, "cuMemcpyHtoDAsync", 3020);
    want_twins(g_drv.dtoh, "cuMemcpyDtoHAsync", 3020);
    want_twins(g_drv.dtod, "cuMemcpyDtoDAsync", 3020);
    want_twins(g_drv.unified, "cuMemcpyAsync", 4000);
    want_twins(g_drv.copy2d, "cuMemcpy2DAsync", 3020);
    want_twins(g_drv.copy3d, "cuMemcpy3DAsync", 3020);
    // The real runtime asks for both batch signatures (12080 and 13000) and uses 13000's.
    void *unused_batch128 = nullptr;
    want(unused_batch128, "cuMemcpyBatchAsync", 12080, 0);
    want_twins(g_drv.batch, "cuMemcpyBatchAsync", 13000);
    want_twins(g_drv.batch3d, "cuMemcpy3DBatchAsync", 13000);
    want_twins(g_drv.begin_capture, "cuStreamBeginCapture", 10010);
    want_twins(g_drv.end_capture, "cuStreamEndCapture", 10000);
    want(g_drv.is_capturing, "cuStreamIsCapturing", 10000, 0);
    want(g_drv.graph_instantiate, "cuGraphInstantiate", 11040, 0);
    want_twins(g_drv.graph_launch, "cuGraphLaunch", 10000);
    want(g_drv.graph_exec_destroy, "cuGraphExecDestroy", 10000, 0);
    want(g_drv.graph_destroy, "cuGraphDestroy", 10000, 0);
}

// Like the real runtime, binds the primary context to each thread on its first call.
thread_local bool t_bound = false;

cudaError_t ensure_init() {
    std::call_once(g_once, load_driver);
    if (g_init_error != cudaSuccess || t_bound) return g_init_error;
    CUcontext ctx = nullptr;
    if (!g_drv.primary_retain || g_drv.primary_retain(&ctx, 0) != CUDA_SUCCESS ||
        g_drv.ctx_set_current(ctx) != CUDA_SUCCESS)
        return cudaErrorInitializationError;
    t_bound = true;
    return cudaSuccess;
}

cudaError_t ret(CUresult r) {
    cudaError_t e = static_cast<cudaError_t>(r);  // the codes used here share their values
    if (e != cudaSuccess) g_last_error = e;
    return e;
}

#define INIT_OR_RETURN()                          \
    do {                                          \
        cudaError_t e_ = ensure_init();           \
        if (e_ != cudaSuccess) return e_;         \
    } while (0)

#define D(p) static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p))

// Host-side shadows of __device__ symbols: with g++ a __device__ variable is an ordinary
// global, so the fake gives each symbol a device block of its own on first use.
constexpr size_t kSymbolBytes = 1 << 16;
std::mutex g_sym_mu;
std::map<const void *, CUdeviceptr> &g_symbols = *new std::map<const void *, CUdeviceptr>;  // never destroyed (see driver.cpp)

cudaError_t symbol_address(const void *symbol, size_t offset, size_t count, CUdeviceptr *out) {
    if (offset > kSymbolBytes || count > kSymbolBytes - offset) return cudaErrorInvalidValue;
    std::lock_guard<std::mutex> lock(g_sym_mu);
    auto it = g_symbols.find(symbol);
    if (it == g_symbols.end()) {
        CUdeviceptr p = 0;
        CUresult r = g_drv.mem_alloc(&p, kSymbolBytes);
        if (r != CUDA_SUCCESS) return static_cast<cudaError_t>(r);
        it = g_symbols.emplace(symbol, p).first;
    }
    *out = it->second + offset;
    return cudaSuccess;
}

// Like the real runtime, a copy holds the runtime's teardown lock for reading while it
// runs, and the runtime's exit handler (the real one's __cudaUnregisterBinaryUtil,
// registered when the program starts, so it runs after every handler registered later)
// takes it for writing: a signal handler that calls exit while its thread is inside a
// copy deadlocks in the runtime's own teardown, as on an H100 (a hang of CUDA's, with or
// without pinguard: the harness must tell it from pinguard's). After the teardown, copies
// fail with cudaErrorCudartUnloading.
// TEST-ONLY SWITCH: only with FAKECUDA_TEST_TEARDOWN_LOCK=1 (then about 3 in 4 runs of
// sigterm_exit hang here, without pinguard too).
pthread_rwlock_t g_teardown = PTHREAD_RWLOCK_INITIALIZER;
bool g_torn_down = false;
const bool g_teardown_lock = getenv("FAKECUDA_TEST_TEARDOWN_LOCK") != nullptr;

struct InCopy {
    InCopy() {
        if (g_teardown_lock) pthread_rwlock_rdlock(&g_teardown);
    }
    ~InCopy() {
        if (g_teardown_lock) pthread_rwlock_unlock(&g_teardown);
    }
};

__attribute__((constructor)) void register_teardown() {
    if (!getenv("FAKECUDA_TEST_TEARDOWN_LOCK")) return;
    atexit([] {
        pthread_rwlock_wrlock(&g_teardown);
        g_torn_down = true;
        pthread_rwlock_unlock(&g_teardown);
    });
}

cudaError_t memcpy_async(int pt, void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s) {
    INIT_OR_RETURN();
    InCopy in_copy;
    if (g_torn_down) return cudaErrorCudartUnloading;
    CUstream cs = reinterpret_cast<CUstream>(s);
    switch (kind) {
    case cudaMemcpyHostToDevice: return ret(g_drv.htod[pt](D(dst), src, n, cs));
    case cudaMemcpyDeviceToHost: return ret(g_drv.dtoh[pt](dst, D(src), n, cs));
    case cudaMemcpyDeviceToDevice: return ret(g_drv.dtod[pt](D(dst), D(src), n, cs));
    case cudaMemcpyHostToHost:
    case cudaMemcpyDefault: return ret(g_drv.unified[pt](D(dst), D(src), n, cs));
    }
    return ret(CUDA_ERROR_INVALID_VALUE);
}

void side_types(cudaMemcpyKind kind, CUmemorytype *src, CUmemorytype *dst) {
    switch (kind) {
    case cudaMemcpyHostToHost: *src = CU_MEMORYTYPE_HOST; *dst = CU_MEMORYTYPE_HOST; return;
    case cudaMemcpyHostToDevice: *src = CU_MEMORYTYPE_HOST; *dst = CU_MEMORYTYPE_DEVICE; return;
    case cudaMemcpyDeviceToHost: *src = CU_MEMORYTYPE_DEVICE; *dst = CU_MEMORYTYPE_HOST; return;
    case cudaMemcpyDeviceToDevice: *src = CU_MEMORYTYPE_DEVICE; *dst = CU_MEMORYTYPE_DEVICE; return;
    default: *src = CU_MEMORYTYPE_UNIFIED; *dst = CU_MEMORYTYPE_UNIFIED; return;
    }
}

void set_side(CUmemorytype t, void *p, CUmemorytype *type, const void **host, CUdeviceptr *dev) {
    *type = t;
    if (t == CU_MEMORYTYPE_HOST) *host = p; else *dev = D(p);
}

cudaError_t memcpy2d_async(int pt, void *dst, size_t dpitch, CUarray dst_array, size_t dx, size_t dy,
                           const void *src, size_t spitch, CUarray src_array, size_t sx, size_t sy,
                           size_t width, size_t height, cudaMemcpyKind kind, cudaStream_t s) {
    INIT_OR_RETURN();
    CUDA_MEMCPY2D c;
    memset(&c, 0, sizeof c);
    CUmemorytype st, dt;
    side_types(kind, &st, &dt);
    if (src_array) { c.srcMemoryType = CU_MEMORYTYPE_ARRAY; c.srcArray = src_array; }
    else set_side(st, const_cast<void *>(src), &c.srcMemoryType, &c.srcHost, &c.srcDevice);
    if (dst_array) { c.dstMemoryType = CU_MEMORYTYPE_ARRAY; c.dstArray = dst_array; }
    else {
        const void *h = nullptr;
        set_side(dt, dst, &c.dstMemoryType, &h, &c.dstDevice);
        c.dstHost = const_cast<void *>(h);
    }
    c.srcPitch = spitch; c.dstPitch = dpitch;
    c.srcXInBytes = sx; c.srcY = sy; c.dstXInBytes = dx; c.dstY = dy;
    c.WidthInBytes = width; c.Height = height;
    return ret(g_drv.copy2d[pt](&c, reinterpret_cast<CUstream>(s)));
}

cudaError_t memcpy3d_async(int pt, const cudaMemcpy3DParms *p, cudaStream_t s) {
    INIT_OR_RETURN();
    if (!p) return ret(CUDA_ERROR_INVALID_VALUE);
    CUDA_MEMCPY3D c;
    memset(&c, 0, sizeof c);
    CUmemorytype st, dt;
    side_types(p->kind, &st, &dt);
    set_side(st, p->srcPtr.ptr, &c.srcMemoryType, &c.srcHost, &c.srcDevice);
    const void *h = nullptr;
    set_side(dt, p->dstPtr.ptr, &c.dstMemoryType, &h, &c.dstDevice);
    c.dstHost = const_cast<void *>(h);
    c.srcXInBytes = p->srcPos.x; c.srcY = p->srcPos.y; c.srcZ = p->srcPos.z;
    c.dstXInBytes = p->dstPos.x; c.dstY = p->dstPos.y; c.dstZ = p->dstPos.z;
    c.srcPitch = p->srcPtr.pitch; c.srcHeight = p->srcPtr.ysize;
    c.dstPitch = p->dstPtr.pitch; c.dstHeight = p->dstPtr.ysize;
    c.WidthInBytes = p->extent.width; c.Height = p->extent.height; c.Depth = p->extent.depth;
    return ret(g_drv.copy3d[pt](&c, reinterpret_cast<CUstream>(s)));
}

cudaError_t to_symbol(int pt, const void *symbol, const void *src, size_t count, size_t offset,
                      cudaMemcpyKind kind, cudaStream_t s) {
    INIT_OR_RETURN();
    CUdeviceptr d = 0;
    cudaError_t e = symbol_address(symbol, offset, count, &d);
    if (e != cudaSuccess) return e;
    CUstream cs = reinterpret_cast<CUstream>(s);
    switch (kind) {
    case cudaMemcpyHostToDevice: return ret(g_drv.htod[pt](d, src, count, cs));
    case cudaMemcpyDeviceToDevice: return ret(g_drv.dtod[pt](d, D(src), count, cs));
    case cudaMemcpyDefault: return ret(g_drv.unified[pt](d, D(src), count, cs));
    default: return ret(CUDA_ERROR_INVALID_VALUE);
    }
}

cudaError_t from_symbol(int pt, void *dst, const void *symbol, size_t count, size_t offset,
                        cudaMemcpyKind kind, cudaStream_t s) {
    INIT_OR_RETURN();
    CUdeviceptr d = 0;
    cudaError_t e = symbol_address(symbol, offset, count, &d);
    if (e != cudaSuccess) return e;
    CUstream cs = reinterpret_cast<CUstream>(s);
    switch (kind) {
    case cudaMemcpyDeviceToHost: return ret(g_drv.dtoh[pt](dst, d, count, cs));
    case cudaMemcpyDeviceToDevice: return ret(g_drv.dtod[pt](D(dst), d, count, cs));
    case cudaMemcpyDefault: return ret(g_drv.unified[pt](D(dst), d, count, cs));
    default: return ret(CUDA_ERROR_INVALID_VALUE);
    }
}

}  // namespace cudart
using namespace cudart;

// ---- errors --------------------------------------------------------------------------

RT_API const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorHostMemoryAlreadyRegistered: return "part or all of the requested memory range is already mapped";
    case cudaErrorHostMemoryNotRegistered: return "pointer does not correspond to a registered memory region";
    default: return "unknown error";
    }
}
RT_API const char *cudaGetErrorName(cudaError_t e) { return cudaGetErrorString(e); }
RT_API cudaError_t cudaGetLastError(void) {
    cudaError_t e = g_last_error;
    g_last_error = cudaSuccess;
    return e;
}
RT_API cudaError_t cudaRuntimeGetVersion(int *v) { if (!v) return cudaErrorInvalidValue; *v = 13000; return cudaSuccess; }
RT_API cudaError_t cudaDriverGetVersion(int *v) { if (!v) return cudaErrorInvalidValue; *v = 13000; return cudaSuccess; }
RT_API cudaError_t cudaSetDevice(int d) { INIT_OR_RETURN(); return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
RT_API cudaError_t cudaFree(void *p) { INIT_OR_RETURN(); return p ? ret(g_drv.mem_free(D(p))) : cudaSuccess; }

// ---- memory --------------------------------------------------------------------------

RT_API cudaError_t cudaMalloc(void **p, size_t n) {
    INIT_OR_RETURN();
    if (!p) return ret(CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr d = 0;
    CUresult r = g_drv.mem_alloc(&d, n);
    *p = reinterpret_cast<void *>(d);
    return ret(r);
}
RT_API cudaError_t cudaMallocManaged(void **p, size_t n, unsigned int flags) {
    INIT_OR_RETURN();
    if (!p) return ret(CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr d = 0;
    CUresult r = g_drv.mem_alloc_managed(&d, n, flags);
    *p = reinterpret_cast<void *>(d);
    return ret(r);
}
RT_API cudaError_t cudaMallocHost(void **p, size_t n) { INIT_OR_RETURN(); return ret(g_drv.mem_alloc_host(p, n)); }
RT_API cudaError_t cudaHostAlloc(void **p, size_t n, unsigned int f) { INIT_OR_RETURN(); return ret(g_drv.mem_host_alloc(p, n, f)); }
RT_API cudaError_t cudaFreeHost(void *p) { INIT_OR_RETURN(); return ret(g_drv.mem_free_host(p)); }
RT_API cudaError_t cudaHostRegister(void *p, size_t n, unsigned int f) { INIT_OR_RETURN(); return ret(g_drv.mem_host_register(p, n, f)); }
RT_API cudaError_t cudaHostUnregister(void *p) { INIT_OR_RETURN(); return ret(g_drv.mem_host_unregister(p)); }

RT_API cudaError_t cudaMallocArray(cudaArray_t *arr, const cudaChannelFormatDesc *desc, size_t w, size_t h,
                                   unsigned int) {
    INIT_OR_RETURN();
    if (!arr || !desc) return ret(CUDA_ERROR_INVALID_VALUE);
    CUDA_ARRAY_DESCRIPTOR d;
    int bits = desc->x + desc->y + desc->z + desc->w;
    d.Width = w;
    d.Height = h;
    d.Format = CU_AD_FORMAT_UNSIGNED_INT8;
    d.NumChannels = bits > 0 ? static_cast<unsigned>(bits / 8) : 1;
    CUarray a = nullptr;
    CUresult r = g_drv.array_create(&a, &d);
    *arr = reinterpret_cast<cudaArray_t>(a);
    return ret(r);
}
RT_API cudaChannelFormatDesc cudaCreateChannelDesc(int x, int y, int z, int w, cudaChannelFormatKind f) {
    cudaChannelFormatDesc d;
    d.x = x; d.y = y; d.z = z; d.w = w; d.f = f;
    return d;
}
RT_API cudaError_t cudaFreeArray(cudaArray_t a) { INIT_OR_RETURN(); return ret(g_drv.array_destroy(reinterpret_cast<CUarray>(a))); }

RT_API cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p) {
    INIT_OR_RETURN();
    if (!a) return ret(CUDA_ERROR_INVALID_VALUE);
    unsigned int type = 0, managed = 0;
    int ordinal = -2;
    CUpointer_attribute attrs[3] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_IS_MANAGED,
                                    CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL};
    void *data[3] = {&type, &managed, &ordinal};
    CUresult r = g_drv.pointer_get_attributes(3, attrs, data, D(p));
    if (r != CUDA_SUCCESS) return ret(r);
    memset(a, 0, sizeof *a);
    if (managed) a->type = cudaMemoryTypeManaged;
    else if (type == CU_MEMORYTYPE_HOST) a->type = cudaMemoryTypeHost;
    else if (type == CU_MEMORYTYPE_DEVICE) a->type = cudaMemoryTypeDevice;
    else a->type = cudaMemoryTypeUnregistered;
    a->device = ordinal < 0 ? -2 : ordinal;
    if (a->type != cudaMemoryTypeUnregistered) {
        a->devicePointer = const_cast<void *>(p);
        a->hostPointer = a->type == cudaMemoryTypeDevice ? nullptr : const_cast<void *>(p);
    }
    return cudaSuccess;
}

// ---- streams and synchronisation -----------------------------------------------------

RT_API cudaError_t cudaStreamCreate(cudaStream_t *s) {
    INIT_OR_RETURN();
    return ret(g_drv.stream_create(reinterpret_cast<CUstream *>(s), 0));
}
RT_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int f) {
    INIT_OR_RETURN();
    return ret(g_drv.stream_create(reinterpret_cast<CUstream *>(s), f));
}
RT_API cudaError_t cudaStreamDestroy(cudaStream_t s) { INIT_OR_RETURN(); return ret(g_drv.stream_destroy(reinterpret_cast<CUstream>(s))); }
RT_API cudaError_t cudaStreamSynchronize(cudaStream_t s) { INIT_OR_RETURN(); return ret(g_drv.stream_sync[0](reinterpret_cast<CUstream>(s))); }
RT_API cudaError_t cudaStreamSynchronize_ptsz(cudaStream_t s) { INIT_OR_RETURN(); return ret(g_drv.stream_sync[1](reinterpret_cast<CUstream>(s))); }
RT_API cudaError_t cudaDeviceSynchronize(void) { INIT_OR_RETURN(); return ret(g_drv.ctx_sync()); }

// ---- stream capture and graphs (the driver's, see driver.cpp) ------------------------

#define S(s) reinterpret_cast<CUstream>(s)
RT_API cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode m) {
    INIT_OR_RETURN();
    return ret(g_drv.begin_capture[0](S(s), static_cast<CUstreamCaptureMode>(m)));
}
RT_API cudaError_t cudaStreamBeginCapture_ptsz(cudaStream_t s, cudaStreamCaptureMode m) {
    INIT_OR_RETURN();
    return ret(g_drv.begin_capture[1](S(s), static_cast<CUstreamCaptureMode>(m)));
}
RT_API cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    INIT_OR_RETURN();
    return ret(g_drv.end_capture[0](S(s), reinterpret_cast<CUgraph *>(g)));
}
RT_API cudaError_t cudaStreamEndCapture_ptsz(cudaStream_t s, cudaGraph_t *g) {
    INIT_OR_RETURN();
    return ret(g_drv.end_capture[1](S(s), reinterpret_cast<CUgraph *>(g)));
}
RT_API cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus *st) {
    INIT_OR_RETURN();
    return ret(g_drv.is_capturing(S(s), reinterpret_cast<CUstreamCaptureStatus *>(st)));
}
RT_API cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags) {
    INIT_OR_RETURN();
    return ret(g_drv.graph_instantiate(reinterpret_cast<CUgraphExec *>(e), reinterpret_cast<CUgraph>(g), flags));
}
RT_API cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    INIT_OR_RETURN();
    return ret(g_drv.graph_launch[0](reinterpret_cast<CUgraphExec>(e), S(s)));
}
RT_API cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t e, cudaStream_t s) {
    INIT_OR_RETURN();
    return ret(g_drv.graph_launch[1](reinterpret_cast<CUgraphExec>(e), S(s)));
}
RT_API cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    INIT_OR_RETURN();
    return ret(g_drv.graph_exec_destroy(reinterpret_cast<CUgraphExec>(e)));
}
RT_API cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    INIT_OR_RETURN();
    return ret(g_drv.graph_destroy(reinterpret_cast<CUgraph>(g)));
}
#undef S

// ---- synchronous copies (the apps use them to check data) ----------------------------

RT_API cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind) {
    INIT_OR_RETURN();
    switch (kind) {
    case cudaMemcpyHostToDevice: return ret(g_drv.htod_sync(D(dst), src, n));
    case cudaMemcpyDeviceToHost: return ret(g_drv.dtoh_sync(dst, D(src), n));
    default: return memcpy_async(0, dst, src, n, kind, nullptr);
    }
}

// ---- the async copy family, each with its _ptsz twin ---------------------------------

#define EXPAND(...) __VA_ARGS__
#define TWIN_API(name, params, args)                                         \
    RT_API cudaError_t name params { return impl_##name(0, EXPAND args); }    \
    RT_API cudaError_t name##_ptsz params { return impl_##name(1, EXPAND args); }

#define impl_cudaMemcpyAsync memcpy_async
TWIN_API(cudaMemcpyAsync, (void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s),
         (dst, src, n, kind, s))

namespace cudart {  // as the real runtime names its internals (static builds show them in stacks)
cudaError_t impl_cudaMemcpy2DAsync(int pt, void *dst, size_t dp, const void *src, size_t sp, size_t w,
                                   size_t h, cudaMemcpyKind k, cudaStream_t s) {
    return memcpy2d_async(pt, dst, dp, nullptr, 0, 0, src, sp, nullptr, 0, 0, w, h, k, s);
}
cudaError_t impl_cudaMemcpy2DToArrayAsync(int pt, cudaArray_t dst, size_t wo, size_t ho, const void *src,
                                          size_t sp, size_t w, size_t h, cudaMemcpyKind k, cudaStream_t s) {
    return memcpy2d_async(pt, nullptr, 0, reinterpret_cast<CUarray>(dst), wo, ho, src, sp, nullptr, 0, 0,
                          w, h, k, s);
}
cudaError_t impl_cudaMemcpy2DFromArrayAsync(int pt, void *dst, size_t dp, cudaArray_const_t src, size_t wo,
                                            size_t ho, size_t w, size_t h, cudaMemcpyKind k, cudaStream_t s) {
    return memcpy2d_async(pt, dst, dp, nullptr, 0, 0, nullptr, 0,
                          reinterpret_cast<CUarray>(const_cast<cudaArray_t>(src)), wo, ho, w, h, k, s);
}
cudaError_t impl_cudaMemcpy3DAsync(int pt, const cudaMemcpy3DParms *p, cudaStream_t s) {
    return memcpy3d_async(pt, p, s);
}
cudaError_t impl_cudaMemcpyToSymbolAsync(int pt, const void *sym, const void *src, size_t n, size_t off,
                                         cudaMemcpyKind k, cudaStream_t s) {
    return to_symbol(pt, sym, src, n, off, k, s);
}
cudaError_t impl_cudaMemcpyFromSymbolAsync(int pt, void *dst, const void *sym, size_t n, size_t off,
                                           cudaMemcpyKind k, cudaStream_t s) {
    return from_symbol(pt, dst, sym, n, off, k, s);
}
cudaError_t impl_cudaMemcpyBatchAsync(int pt, void *const *dsts, const void *const *srcs, const size_t *sizes,
                                      size_t count, cudaMemcpyAttributes *attrs, size_t *idxs, size_t nattrs,
                                      cudaStream_t s) {
    INIT_OR_RETURN();
    // cudaMemcpyAttributes and CUmemcpyAttributes share their layout, as do the pointer arrays.
    return ret(g_drv.batch[pt](reinterpret_cast<CUdeviceptr *>(const_cast<void **>(dsts)),
                               reinterpret_cast<CUdeviceptr *>(const_cast<void **>(srcs)),
                               const_cast<size_t *>(sizes), count,
                               reinterpret_cast<CUmemcpyAttributes *>(attrs), idxs, nattrs,
                               reinterpret_cast<CUstream>(s)));
}
cudaError_t impl_cudaMemcpy3DBatchAsync(int pt, size_t n, cudaMemcpy3DBatchOp *ops, unsigned long long flags,
                                        cudaStream_t s) {
    INIT_OR_RETURN();
    return ret(g_drv.batch3d[pt](n, reinterpret_cast<CUDA_MEMCPY3D_BATCH_OP *>(ops), flags,
                                 reinterpret_cast<CUstream>(s)));
}
}  // namespace cudart
using namespace cudart;

TWIN_API(cudaMemcpy2DAsync,
         (void *dst, size_t dp, const void *src, size_t sp, size_t w, size_t h, cudaMemcpyKind k, cudaStream_t s),
         (dst, dp, src, sp, w, h, k, s))
TWIN_API(cudaMemcpy2DToArrayAsync,
         (cudaArray_t dst, size_t wo, size_t ho, const void *src, size_t sp, size_t w, size_t h, cudaMemcpyKind k,
          cudaStream_t s),
         (dst, wo, ho, src, sp, w, h, k, s))
TWIN_API(cudaMemcpy2DFromArrayAsync,
         (void *dst, size_t dp, cudaArray_const_t src, size_t wo, size_t ho, size_t w, size_t h, cudaMemcpyKind k,
          cudaStream_t s),
         (dst, dp, src, wo, ho, w, h, k, s))
TWIN_API(cudaMemcpy3DAsync, (const cudaMemcpy3DParms *p, cudaStream_t s), (p, s))
TWIN_API(cudaMemcpyToSymbolAsync,
         (const void *sym, const void *src, size_t n, size_t off, cudaMemcpyKind k, cudaStream_t s),
         (sym, src, n, off, k, s))
TWIN_API(cudaMemcpyFromSymbolAsync,
         (void *dst, const void *sym, size_t n, size_t off, cudaMemcpyKind k, cudaStream_t s),
         (dst, sym, n, off, k, s))
TWIN_API(cudaMemcpyBatchAsync,
         (void *const *dsts, const void *const *srcs, const size_t *sizes, size_t count,
          cudaMemcpyAttributes *attrs, size_t *idxs, size_t nattrs, cudaStream_t s),
         (dsts, srcs, sizes, count, attrs, idxs, nattrs, s))
TWIN_API(cudaMemcpy3DBatchAsync, (size_t n, cudaMemcpy3DBatchOp *ops, unsigned long long flags, cudaStream_t s),
         (n, ops, flags, s))

// ---- driver entry points through the runtime -----------------------------------------

namespace cudart {  // as the real runtime names its internals (static builds show them in stacks)
cudaError_t entry_point(const char *symbol, void **fp, int version, unsigned long long flags,
                        cudaDriverEntryPointQueryResult *status) {
    INIT_OR_RETURN();
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    CUresult r = g_drv.gpa(symbol, fp, version, flags, &st);
    if (status) *status = static_cast<cudaDriverEntryPointQueryResult>(st);
    return r == CUDA_SUCCESS ? cudaSuccess : (r == CUDA_ERROR_NOT_FOUND ? cudaSuccess : ret(r));
}
}  // namespace cudart
using namespace cudart;

RT_API cudaError_t cudaGetDriverEntryPoint(const char *symbol, void **fp, unsigned long long flags,
                                           cudaDriverEntryPointQueryResult *status) {
    return entry_point(symbol, fp, 13000, flags, status);
}
RT_API cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **fp, unsigned int version,
                                                    unsigned long long flags,
                                                    cudaDriverEntryPointQueryResult *status) {
    return entry_point(symbol, fp, static_cast<int>(version), flags, status);
}
