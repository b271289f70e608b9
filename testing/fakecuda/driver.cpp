// fakecuda driver: a stand-in for libcuda.so.1 on machines without a GPU.
//
// TEST DOUBLE ONLY. It exists so that pinguard's tests can run real programs through
// the real loader protocol without a GPU. It implements the small API subset the test
// apps use, with the exact ABI of the CUDA 13 headers (it is compiled against them).
// "Device" memory is ordinary host memory from mmap, "async" copies run at once, and
// nothing here says anything about how a real driver performs.
//
// What it reproduces faithfully, because pinguard depends on it:
// - pinned / registered / device / managed bookkeeping, and the answers of
//   cuPointerGetAttribute(s) for each (plural: success with zero values for unknown
//   pointers; singular: CUDA_ERROR_INVALID_VALUE);
// - CUDA_ERROR_INVALID_VALUE for a copy whose host range starts inside a pinned range
//   and runs past its end (and success for one that starts pageable and runs into
//   pinned memory: a real H100 driver accepts it);
// - stream capture (see "stream capture" below): the capture queries, copies that run at
//   each graph launch instead of at the call, and the calls a capture does not allow;
// - cuGetProcAddress / cuGetProcAddress_v2 handing out *different functions* per
//   (symbol, cudaVersion, flags): _v2 vs legacy, _ptsz for per-thread default stream,
//   the CUDA 12.8 vs 13.0 cuMemcpyBatchAsync signatures.

#include <cuda.h>

#include <alloca.h>
#include <dlfcn.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unistd.h>
#include <new>
#include <pthread.h>
#include <string>
#include <vector>

// We define the legacy and versioned names ourselves, so the header's renaming macros
// must not rewrite our definitions.
#undef cuMemcpyBatchAsync
#undef cuMemcpy3DBatchAsync
#undef cuGetProcAddress
#undef cuMemcpyAsync
#undef cuMemcpy2DAsync
#undef cuMemcpy3DAsync
#undef cuMemHostRegister
#undef cuStreamBeginCapture
#undef cuStreamGetCaptureInfo

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

enum class BlockKind { Device, PinnedAlloc, Registered, Managed };

struct Block {
    uintptr_t base;
    size_t size;
    BlockKind kind;
    bool owns_mapping;  // device, managed and pinned allocations own their pages
};

struct FakeArray {
    unsigned char *data;
    size_t width_bytes;
    size_t height;
};

std::mutex g_mu;
// Fork-safe, as a test double must be for the fork scenarios: a child forked while
// another thread held g_mu would otherwise wait on it for good (seen: the stress app's
// forked child, under load). The handlers hold it across fork; the child gets it free.
struct ForkSafeMutex {
    ForkSafeMutex() {
        pthread_atfork([] { g_mu.lock(); }, [] { g_mu.unlock(); }, [] { new (&g_mu) std::mutex(); });
    }
} g_mu_fork_safe;
// Never destroyed: like a real driver's, fakecuda's state outlives the process's static
// destructors, so threads still copying while the process exits find it intact.
std::map<uintptr_t, Block> &g_blocks = *new std::map<uintptr_t, Block>;
bool g_initialised = false;

// As in the real driver, a thread needs a current context (cuCtxSetCurrent; the runtime
// binds the primary context on a thread's first call) before it allocates or copies.
thread_local CUcontext t_current = nullptr;

CUresult need_context() { return t_current ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT; }

void *map_pages(size_t n) {
    size_t len = n == 0 ? 1 : n;
    void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

// Block containing p, or nullptr. Caller holds g_mu.
const Block *find_block(uintptr_t p) {
    auto it = g_blocks.upper_bound(p);
    if (it == g_blocks.begin()) return nullptr;
    --it;
    const Block &b = it->second;
    return p < b.base + b.size ? &b : nullptr;
}

bool is_pinned_kind(BlockKind k) { return k == BlockKind::PinnedAlloc || k == BlockKind::Registered; }

// A host range is valid unless it starts inside a pinned block and runs past its end
// (a real driver rejects that with CUDA_ERROR_INVALID_VALUE; measured on an H100, CUDA
// 13.0, it accepts a range that starts pageable and runs into or over pinned memory).
// Caller holds g_mu.
bool host_range_ok(uintptr_t p, size_t n) {
    if (n == 0) return true;
    const Block *b = find_block(p);
    if (b && is_pinned_kind(b->kind)) return p + n <= b->base + b->size;
    return true;
}

// A device range must lie inside one device or managed block. Caller holds g_mu.
bool device_range_ok(uintptr_t p, size_t n) {
    const Block *b = find_block(p);
    if (!b || !(b->kind == BlockKind::Device || b->kind == BlockKind::Managed)) return false;
    return p + n <= b->base + b->size;
}

// For unified copies (cuMemcpyAsync, CU_MEMORYTYPE_UNIFIED): is p device-side memory?
bool is_device_side(uintptr_t p) {
    const Block *b = find_block(p);
    return b && (b->kind == BlockKind::Device || b->kind == BlockKind::Managed);
}

bool checked_span(size_t pitch, size_t width, size_t height, size_t depth, size_t slice_h,
                  size_t *out) {
    // bytes touched = pitch*slice_h*(depth-1) + pitch*(height-1) + width
    if (width == 0 || height == 0 || depth == 0) { *out = 0; return true; }
    size_t a, b, c;
    if (__builtin_mul_overflow(pitch, slice_h, &a)) return false;
    if (__builtin_mul_overflow(a, depth - 1, &a)) return false;
    if (__builtin_mul_overflow(pitch, height - 1, &b)) return false;
    if (__builtin_add_overflow(a, b, &c)) return false;
    if (__builtin_add_overflow(c, width, &c)) return false;
    *out = c;
    return true;
}

// TEST-ONLY SWITCH: FAKECUDA_TEST_PAGEABLE_DELAY_US=N makes a copy with a pageable host
// side keep the calling thread N microseconds, as the real driver keeps it until such a
// copy ends, so that a test can check the blocked time pinguard reports against a known
// one. A real driver's time depends on the copy; this one's on the switch alone.
unsigned pageable_delay_us() {
    static const unsigned us = [] {
        const char *v = getenv("FAKECUDA_TEST_PAGEABLE_DELAY_US");
        return v ? unsigned(strtoul(v, nullptr, 10)) : 0u;
    }();
    return us;
}

// TEST-ONLY SWITCH: FAKECUDA_TEST_DRIVER_STACK=N makes each pointer query and each copy
// write N bytes of the calling thread's stack, as a real driver's calls run deep (on an
// H100 a thread that made one pageable copy had used 20 KB of its stack): a test of how
// much stack pinguard adds then sees pinguard's frames under the driver's, as they are
// with a real one. Without it fakecuda's calls are shallow.
size_t driver_stack_bytes() {
    static const size_t n = [] {
        const char *v = getenv("FAKECUDA_TEST_DRIVER_STACK");
        return v ? size_t(strtoul(v, nullptr, 10)) : size_t(0);
    }();
    return n;
}

__attribute__((noinline)) void use_driver_stack() {
    size_t n = driver_stack_bytes();
    if (n == 0) return;
    volatile char *p = static_cast<volatile char *>(alloca(n));
    for (size_t i = 0; i < n; i += 64) p[i] = 1;
    p[n - 1] = 1;
}

bool is_pinned_host(uintptr_t p) {
    const Block *b = find_block(p);
    return b && is_pinned_kind(b->kind);
}

// ---- stream capture ---------------------------------------------------------------
// What pinguard depends on, as the real driver does it (measured on an H100, CUDA 13:
// testing/probes/capture_facts.cu):
// - cuStreamGetCaptureInfo (its first ABI) and cuStreamIsCapturing answer in every mode,
//   from any thread, and change nothing; about the legacy stream, while a capture runs,
//   they return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT (the real driver does so while a
//   blocking stream captures; the fake does not tell blocking streams apart);
// - a copy on a capturing stream does not run at the call: it runs at each cuGraphLaunch
//   of the graph the capture made, reading the host buffer as it is then;
// - a call a capture does not allow (one that synchronises or allocates: from any thread
//   while a global-mode capture runs, from the capturing thread in thread-local mode,
//   never in relaxed mode; a synchronise of the capturing stream itself in any mode)
//   fails with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidates the capture, whose
//   cuStreamEndCapture then fails with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED. A test app
//   whose capture ends well has shown that nobody (pinguard included) made such a call.
// The fake captures only on streams the program created, and only linear copies (2D, 3D
// and batch copies on a capturing stream fail with CUDA_ERROR_NOT_SUPPORTED).
struct CapturedCopy {
    uintptr_t dst;
    bool dst_dev;
    uintptr_t src;
    bool src_dev;
    size_t n;
};
struct FakeGraph {
    std::vector<CapturedCopy> copies;
};
struct Capture {
    CUstreamCaptureMode mode;
    cuuint64_t id;
    pthread_t thread;
    bool invalidated;
    std::vector<CapturedCopy> copies;
};
std::map<CUstream, Capture> &g_captures = *new std::map<CUstream, Capture>;
cuuint64_t g_next_capture_id = 1;

bool is_legacy(CUstream s) { return s == nullptr || s == CU_STREAM_LEGACY; }

// The capture `s` is part of, or nullptr. Caller holds g_mu.
Capture *capture_of(CUstream s) {
    auto it = g_captures.find(s);
    return it == g_captures.end() ? nullptr : &it->second;
}

// A call a capture does not allow (see above): true, and the captures it breaks are
// invalidated, if one forbids it. `synced`: the stream the call synchronises, if any.
bool capture_forbids(const char *what, CUstream synced = nullptr) {
    std::lock_guard<std::mutex> lock(g_mu);
    bool forbidden = false;
    for (auto &[stream, c] : g_captures) {
        bool breaks = (synced && stream == synced) || c.mode == CU_STREAM_CAPTURE_MODE_GLOBAL ||
                      (c.mode == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && pthread_equal(c.thread, pthread_self()));
        if (!breaks) continue;
        if (!c.invalidated)
            fprintf(stderr, "fakecuda: %s during a stream capture (mode %d): capture %llu invalidated\n", what,
                    int(c.mode), (unsigned long long)c.id);
        c.invalidated = true;
        forbidden = true;
    }
    return forbidden;
}

CUresult plain_copy(uintptr_t dst, bool dst_dev, uintptr_t src, bool src_dev, size_t n, CUstream s = nullptr) {
    use_driver_stack();
    if (CUresult r = need_context()) return r;
    bool pageable = false;
    {
        std::lock_guard<std::mutex> lock(g_mu);
        if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
        if (dst_dev ? !device_range_ok(dst, n) : !host_range_ok(dst, n)) return CUDA_ERROR_INVALID_VALUE;
        if (src_dev ? !device_range_ok(src, n) : !host_range_ok(src, n)) return CUDA_ERROR_INVALID_VALUE;
        if (Capture *c = capture_of(s)) {
            if (c->invalidated) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
            c->copies.push_back(CapturedCopy{dst, dst_dev, src, src_dev, n});
            return CUDA_SUCCESS;  // runs at each launch of the graph
        }
        if (n) memmove(reinterpret_cast<void *>(dst), reinterpret_cast<const void *>(src), n);
        pageable = (!dst_dev && !is_pinned_host(dst)) || (!src_dev && !is_pinned_host(src));
    }
    if (pageable && pageable_delay_us()) usleep(pageable_delay_us());
    return CUDA_SUCCESS;
}

CUresult unified_copy(uintptr_t dst, uintptr_t src, size_t n, CUstream s = nullptr) {
    bool dd, sd;
    {
        std::lock_guard<std::mutex> lock(g_mu);
        dd = is_device_side(dst);
        sd = is_device_side(src);
    }
    return plain_copy(dst, dd, src, sd, n, s);
}

// 2D, 3D and batch copies: not captured by the fake (see "stream capture").
bool capturing(CUstream s) {
    std::lock_guard<std::mutex> lock(g_mu);
    return capture_of(s) != nullptr;
}

// One side of a 2D/3D copy, resolved to a base address and whether it is device-side.
struct Side {
    uintptr_t base;
    bool device;
    bool ok;
};

Side resolve_side(CUmemorytype type, const void *host, CUdeviceptr dev, CUarray array) {
    switch (type) {
    case CU_MEMORYTYPE_HOST: return {reinterpret_cast<uintptr_t>(host), false, true};
    case CU_MEMORYTYPE_DEVICE: return {static_cast<uintptr_t>(dev), true, true};
    case CU_MEMORYTYPE_ARRAY: {
        if (!array) return {0, true, false};
        auto *a = reinterpret_cast<FakeArray *>(array);
        return {reinterpret_cast<uintptr_t>(a->data), true, true};
    }
    case CU_MEMORYTYPE_UNIFIED: {
        std::lock_guard<std::mutex> lock(g_mu);
        return {static_cast<uintptr_t>(dev), is_device_side(static_cast<uintptr_t>(dev)), true};
    }
    }
    return {0, false, false};
}

// Row-by-row 3D copy. Arrays are treated as pitched memory whose pitch is their row width.
CUresult copy3d(Side s, size_t sx, size_t sy, size_t sz, size_t spitch, size_t sheight, Side d,
                size_t dx, size_t dy, size_t dz, size_t dpitch, size_t dheight, size_t width,
                size_t height, size_t depth) {
    if (CUresult r = need_context()) return r;
    if (!s.ok || !d.ok) return CUDA_ERROR_INVALID_VALUE;
    if (width == 0 || height == 0 || depth == 0) return CUDA_SUCCESS;
    size_t sspan, dspan;
    if (!checked_span(spitch, width, height, depth, sheight, &sspan) ||
        !checked_span(dpitch, width, height, depth, dheight, &dspan))
        return CUDA_ERROR_INVALID_VALUE;
    uintptr_t sbase = s.base + sz * spitch * sheight + sy * spitch + sx;
    uintptr_t dbase = d.base + dz * dpitch * dheight + dy * dpitch + dx;
    {
        std::lock_guard<std::mutex> lock(g_mu);
        if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
        if (s.device ? !device_range_ok(sbase, sspan) : !host_range_ok(sbase, sspan))
            return CUDA_ERROR_INVALID_VALUE;
        if (d.device ? !device_range_ok(dbase, dspan) : !host_range_ok(dbase, dspan))
            return CUDA_ERROR_INVALID_VALUE;
    }
    for (size_t z = 0; z < depth; ++z)
        for (size_t y = 0; y < height; ++y)
            memmove(reinterpret_cast<void *>(dbase + z * dpitch * dheight + y * dpitch),
                    reinterpret_cast<const void *>(sbase + z * spitch * sheight + y * spitch), width);
    return CUDA_SUCCESS;
}

// TEST-ONLY SWITCH: FAKECUDA_TEST_LIE=first-pinned makes cuPointerGetAttribute(s)
// answer for the first pinned block (allocation or registration) as if the driver did
// not know it. It exists so that a test can prove pinguard's differential self-check
// (verify_with_driver=1) fails against a driver that disagrees; a real driver never lies.
uintptr_t g_lie_base = 0;
bool g_lie_armed = false;

CUresult add_block(uintptr_t base, size_t size, BlockKind kind, bool owns) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_blocks[base] = Block{base, size, kind, owns};
    if (is_pinned_kind(kind) && !g_lie_armed) {
        const char *lie = getenv("FAKECUDA_TEST_LIE");
        if (lie && strcmp(lie, "first-pinned") == 0) g_lie_base = base;
        g_lie_armed = true;
    }
    return CUDA_SUCCESS;
}

CUresult alloc_block(void **out, size_t size, BlockKind kind) {
    if (CUresult r = need_context()) return r;
    if (capture_forbids("an allocation")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!out) return CUDA_ERROR_INVALID_VALUE;
    {
        std::lock_guard<std::mutex> lock(g_mu);
        if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    }
    void *p = map_pages(size);
    if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
    *out = p;
    return add_block(reinterpret_cast<uintptr_t>(p), size == 0 ? 1 : size, kind, true);
}

CUresult free_block(uintptr_t base, BlockKind want) {
    if (capture_forbids("a free or unregistration")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    Block b;
    {
        std::lock_guard<std::mutex> lock(g_mu);
        auto it = g_blocks.find(base);
        if (it == g_blocks.end() || it->second.kind != want) return CUDA_ERROR_INVALID_VALUE;
        b = it->second;
        g_blocks.erase(it);
    }
    if (b.owns_mapping) munmap(reinterpret_cast<void *>(b.base), b.size);
    return CUDA_SUCCESS;
}

}  // namespace

// ---- initialisation and version ------------------------------------------------------

FAKE_EXPORT CUresult cuInit(unsigned int) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_initialised = true;
    return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDriverGetVersion(int *v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    *v = 13000;
    return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGet(CUdevice *d, int ordinal) {
    if (!d || ordinal != 0) return CUDA_ERROR_INVALID_VALUE;
    *d = 0;
    return CUDA_SUCCESS;
}
FAKE_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice) {
    static char ctx;
    if (!c) return CUDA_ERROR_INVALID_VALUE;
    *c = reinterpret_cast<CUcontext>(&ctx);
    return CUDA_SUCCESS;
}
FAKE_EXPORT CUresult cuCtxSetCurrent(CUcontext c) {
    t_current = c;
    return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuGetErrorString(CUresult e, const char **s) {
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    switch (e) {
    case CUDA_SUCCESS: *s = "no error"; break;
    case CUDA_ERROR_INVALID_VALUE: *s = "invalid argument"; break;
    case CUDA_ERROR_OUT_OF_MEMORY: *s = "out of memory"; break;
    case CUDA_ERROR_NOT_INITIALIZED: *s = "initialization error"; break;
    case CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED: *s = "part or all of the requested memory range is already mapped"; break;
    case CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED: *s = "pointer does not correspond to a registered memory region"; break;
    default: *s = "unknown error"; break;
    }
    return CUDA_SUCCESS;
}

// ---- memory management ---------------------------------------------------------------

FAKE_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t n) {
    void *p = nullptr;
    CUresult r = alloc_block(&p, n, BlockKind::Device);
    if (r == CUDA_SUCCESS) *dptr = reinterpret_cast<CUdeviceptr>(p);
    return r;
}
FAKE_EXPORT CUresult cuMemFree_v2(CUdeviceptr p) { return free_block(static_cast<uintptr_t>(p), BlockKind::Device); }

FAKE_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t n, unsigned int) {
    void *p = nullptr;
    CUresult r = alloc_block(&p, n, BlockKind::Managed);
    if (r == CUDA_SUCCESS) *dptr = reinterpret_cast<CUdeviceptr>(p);
    return r;
}

FAKE_EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t n) { return alloc_block(pp, n, BlockKind::PinnedAlloc); }
FAKE_EXPORT CUresult cuMemHostAlloc(void **pp, size_t n, unsigned int) { return alloc_block(pp, n, BlockKind::PinnedAlloc); }
FAKE_EXPORT CUresult cuMemFreeHost(void *p) { return free_block(reinterpret_cast<uintptr_t>(p), BlockKind::PinnedAlloc); }

FAKE_EXPORT CUresult cuMemHostRegister_v2(void *p, size_t n, unsigned int) {
    if (CUresult r = need_context()) return r;
    if (capture_forbids("cuMemHostRegister")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!p || n == 0) return CUDA_ERROR_INVALID_VALUE;
    uintptr_t b = reinterpret_cast<uintptr_t>(p);
    {
        std::lock_guard<std::mutex> lock(g_mu);
        if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
        const Block *hit = find_block(b);
        if (hit) return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
        auto it = g_blocks.upper_bound(b);
        if (it != g_blocks.end() && it->first < b + n) return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
    }
    return add_block(b, n, BlockKind::Registered, false);
}

// The pre-6.5 entry point, same ABI; cuGetProcAddress hands it out for cudaVersion < 6050.
FAKE_EXPORT CUresult cuMemHostRegister(void *p, size_t n, unsigned int f) { return cuMemHostRegister_v2(p, n, f); }

FAKE_EXPORT CUresult cuMemHostUnregister(void *p) {
    CUresult r = free_block(reinterpret_cast<uintptr_t>(p), BlockKind::Registered);
    return r == CUDA_SUCCESS ? r : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

FAKE_EXPORT CUresult cuMemHostGetFlags(unsigned int *flags, void *p) {
    std::lock_guard<std::mutex> lock(g_mu);
    const Block *b = find_block(reinterpret_cast<uintptr_t>(p));
    if (!flags || !b || !is_pinned_kind(b->kind)) return CUDA_ERROR_INVALID_VALUE;
    *flags = 0;
    return CUDA_SUCCESS;
}

// ---- arrays (row-major bytes; enough for 2D copies to and from them) ------------------

FAKE_EXPORT CUresult cuArrayCreate_v2(CUarray *out, const CUDA_ARRAY_DESCRIPTOR *d) {
    if (CUresult r = need_context()) return r;
    if (!out || !d) return CUDA_ERROR_INVALID_VALUE;
    size_t elem = 0;
    switch (d->Format) {
    case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8: elem = 1; break;
    case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_HALF: elem = 2; break;
    default: elem = 4; break;
    }
    elem *= d->NumChannels ? d->NumChannels : 1;
    auto *a = new FakeArray{nullptr, d->Width * elem, d->Height ? d->Height : 1};
    a->data = static_cast<unsigned char *>(map_pages(a->width_bytes * a->height));
    if (!a->data) { delete a; return CUDA_ERROR_OUT_OF_MEMORY; }
    add_block(reinterpret_cast<uintptr_t>(a->data), a->width_bytes * a->height, BlockKind::Device, true);
    *out = reinterpret_cast<CUarray>(a);
    return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuArrayDestroy(CUarray arr) {
    if (!arr) return CUDA_ERROR_INVALID_VALUE;
    auto *a = reinterpret_cast<FakeArray *>(arr);
    CUresult r = free_block(reinterpret_cast<uintptr_t>(a->data), BlockKind::Device);
    delete a;
    return r;
}

// ---- pointer attributes --------------------------------------------------------------

namespace {
// Fills one attribute. Returns false when the pointer is unknown to the driver.
bool pointer_attribute(CUpointer_attribute attr, void *data, CUdeviceptr ptr) {
    std::lock_guard<std::mutex> lock(g_mu);
    const Block *b = find_block(static_cast<uintptr_t>(ptr));
    if (b && g_lie_base != 0 && b->base == g_lie_base) b = nullptr;  // FAKECUDA_TEST_LIE
    switch (attr) {
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: {
        unsigned int t = 0;
        if (b) t = is_pinned_kind(b->kind) ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
        *static_cast<unsigned int *>(data) = t;
        break;
    }
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
        *static_cast<unsigned int *>(data) = b && b->kind == BlockKind::Managed;
        break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
        *static_cast<int *>(data) = b ? 0 : -2;
        break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
        *static_cast<CUdeviceptr *>(data) = b ? b->base : 0;
        break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
        *static_cast<size_t *>(data) = b ? b->size : 0;
        break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        *static_cast<CUdeviceptr *>(data) = b ? ptr : 0;
        break;
    default:
        *static_cast<unsigned long long *>(data) = 0;
        break;
    }
    return b != nullptr;
}
}  // namespace

FAKE_EXPORT CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attr, CUdeviceptr ptr) {
    use_driver_stack();
    if (!data) return CUDA_ERROR_INVALID_VALUE;
    return pointer_attribute(attr, data, ptr) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

FAKE_EXPORT CUresult cuPointerGetAttributes(unsigned int n, CUpointer_attribute *attrs, void **data,
                                            CUdeviceptr ptr) {
    use_driver_stack();
    if (!attrs || !data) return CUDA_ERROR_INVALID_VALUE;
    for (unsigned int i = 0; i < n; ++i)
        if (data[i]) pointer_attribute(attrs[i], data[i], ptr);
    return CUDA_SUCCESS;
}

// ---- streams (every stream is already drained: copies run at once) --------------------

FAKE_EXPORT CUresult cuStreamCreate(CUstream *s, unsigned int) {
    if (CUresult r = need_context()) return r;
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    *s = reinterpret_cast<CUstream>(new char[16]);
    return CUDA_SUCCESS;
}
FAKE_EXPORT CUresult cuStreamDestroy_v2(CUstream s) { delete[] reinterpret_cast<char *>(s); return CUDA_SUCCESS; }
FAKE_EXPORT CUresult cuStreamSynchronize(CUstream s) {
    return capture_forbids("cuStreamSynchronize", s) ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}
FAKE_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s) { return cuStreamSynchronize(s); }
FAKE_EXPORT CUresult cuCtxSynchronize(void) {
    return capture_forbids("cuCtxSynchronize") ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}

// ---- stream capture and graphs (see "stream capture" above) ---------------------------

FAKE_EXPORT CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode mode) {
    if (CUresult r = need_context()) return r;
    if (is_legacy(s) || s == CU_STREAM_PER_THREAD) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (mode > CU_STREAM_CAPTURE_MODE_RELAXED) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mu);
    if (capture_of(s)) return CUDA_ERROR_ILLEGAL_STATE;
    g_captures[s] = Capture{mode, g_next_capture_id++, pthread_self(), false, {}};
    return CUDA_SUCCESS;
}
FAKE_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream s, CUstreamCaptureMode mode) {
    return cuStreamBeginCapture_v2(s, mode);
}
// The CUDA 10.0 entry point: no mode argument (global).
FAKE_EXPORT CUresult cuStreamBeginCapture(CUstream s) { return cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL); }

FAKE_EXPORT CUresult cuStreamEndCapture(CUstream s, CUgraph *out);
FAKE_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream s, CUgraph *out) { return cuStreamEndCapture(s, out); }
FAKE_EXPORT CUresult cuStreamEndCapture(CUstream s, CUgraph *out) {
    if (!out) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mu);
    Capture *c = capture_of(s);
    if (!c) return CUDA_ERROR_ILLEGAL_STATE;
    bool invalidated = c->invalidated;
    auto *g = invalidated ? nullptr : new FakeGraph{std::move(c->copies)};
    g_captures.erase(s);
    *out = reinterpret_cast<CUgraph>(g);
    return invalidated ? CUDA_ERROR_STREAM_CAPTURE_INVALIDATED : CUDA_SUCCESS;
}

// The capture status and id of a stream; about the legacy stream while a capture runs,
// CUDA_ERROR_STREAM_CAPTURE_IMPLICIT (nothing changes).
static CUresult capture_status(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id) {
    if (!st) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(g_mu);
    if (is_legacy(s) && !g_captures.empty()) return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
    const Capture *c = capture_of(s);
    *st = !c ? CU_STREAM_CAPTURE_STATUS_NONE
             : c->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED : CU_STREAM_CAPTURE_STATUS_ACTIVE;
    if (id && c) *id = c->id;
    return CUDA_SUCCESS;
}
FAKE_EXPORT CUresult cuStreamIsCapturing(CUstream s, CUstreamCaptureStatus *st) { return capture_status(s, st, nullptr); }
FAKE_EXPORT CUresult cuStreamGetCaptureInfo(CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id) {
    return capture_status(s, st, id);
}

FAKE_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *out, CUgraph g, unsigned long long) {
    if (!out || !g) return CUDA_ERROR_INVALID_VALUE;
    *out = reinterpret_cast<CUgraphExec>(new FakeGraph(*reinterpret_cast<FakeGraph *>(g)));
    return CUDA_SUCCESS;
}
FAKE_EXPORT CUresult cuGraphLaunch(CUgraphExec e, CUstream) {
    if (!e) return CUDA_ERROR_INVALID_VALUE;
    for (const CapturedCopy &c : reinterpret_cast<FakeGraph *>(e)->copies)
        if (CUresult r = plain_copy(c.dst, c.dst_dev, c.src, c.src_dev, c.n)) return r;
    return CUDA_SUCCESS;
}
FAKE_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec e, CUstream s) { return cuGraphLaunch(e, s); }
FAKE_EXPORT CUresult cuGraphExecDestroy(CUgraphExec e) { delete reinterpret_cast<FakeGraph *>(e); return CUDA_SUCCESS; }
FAKE_EXPORT CUresult cuGraphDestroy(CUgraph g) { delete reinterpret_cast<FakeGraph *>(g); return CUDA_SUCCESS; }

// ---- the copy family -----------------------------------------------------------------
// Each _ptsz twin is a separate function, as in the real driver, so that routing by the
// exact pointer is exercised.

#define U(p) static_cast<uintptr_t>(p)
#define H(p) reinterpret_cast<uintptr_t>(p)

#define DEFINE_TWINS(ret, name, params, body) \
    FAKE_EXPORT ret name params body          \
    FAKE_EXPORT ret name##_ptsz params body

DEFINE_TWINS(CUresult, cuMemcpyHtoDAsync_v2, (CUdeviceptr dst, const void *src, size_t n, CUstream s),
             { return plain_copy(U(dst), true, H(src), false, n, s); })
DEFINE_TWINS(CUresult, cuMemcpyDtoHAsync_v2, (void *dst, CUdeviceptr src, size_t n, CUstream s),
             { return plain_copy(H(dst), false, U(src), true, n, s); })
DEFINE_TWINS(CUresult, cuMemcpyDtoDAsync_v2, (CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s),
             { return plain_copy(U(dst), true, U(src), true, n, s); })
DEFINE_TWINS(CUresult, cuMemcpyAsync, (CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s),
             { return unified_copy(U(dst), U(src), n, s); })
DEFINE_TWINS(CUresult, cuMemcpyHtoAAsync_v2,
             (CUarray dst, size_t off, const void *src, size_t n, CUstream s), {
                 if (!dst) return CUDA_ERROR_INVALID_VALUE;
                 auto *a = reinterpret_cast<FakeArray *>(dst);
                 if (off + n > a->width_bytes * a->height) return CUDA_ERROR_INVALID_VALUE;
                 return plain_copy(H(a->data) + off, true, H(src), false, n, s);
             })
DEFINE_TWINS(CUresult, cuMemcpyAtoHAsync_v2,
             (void *dst, CUarray src, size_t off, size_t n, CUstream s), {
                 if (!src) return CUDA_ERROR_INVALID_VALUE;
                 auto *a = reinterpret_cast<FakeArray *>(src);
                 if (off + n > a->width_bytes * a->height) return CUDA_ERROR_INVALID_VALUE;
                 return plain_copy(H(dst), false, H(a->data) + off, true, n, s);
             })

namespace {
CUresult do_copy2d(const CUDA_MEMCPY2D *c) {
    if (!c) return CUDA_ERROR_INVALID_VALUE;
    Side s = resolve_side(c->srcMemoryType, c->srcHost, c->srcDevice, c->srcArray);
    Side d = resolve_side(c->dstMemoryType, c->dstHost, c->dstDevice, c->dstArray);
    size_t sp = c->srcMemoryType == CU_MEMORYTYPE_ARRAY
                    ? reinterpret_cast<FakeArray *>(c->srcArray)->width_bytes : c->srcPitch;
    size_t dp = c->dstMemoryType == CU_MEMORYTYPE_ARRAY
                    ? reinterpret_cast<FakeArray *>(c->dstArray)->width_bytes : c->dstPitch;
    return copy3d(s, c->srcXInBytes, c->srcY, 0, sp, 0, d, c->dstXInBytes, c->dstY, 0, dp, 0,
                  c->WidthInBytes, c->Height, 1);
}
CUresult do_copy3d(const CUDA_MEMCPY3D *c) {
    if (!c) return CUDA_ERROR_INVALID_VALUE;
    Side s = resolve_side(c->srcMemoryType, c->srcHost, c->srcDevice, c->srcArray);
    Side d = resolve_side(c->dstMemoryType, c->dstHost, c->dstDevice, c->dstArray);
    size_t sh = c->srcHeight ? c->srcHeight : c->Height;
    size_t dh = c->dstHeight ? c->dstHeight : c->Height;
    return copy3d(s, c->srcXInBytes, c->srcY, c->srcZ, c->srcPitch, sh, d, c->dstXInBytes, c->dstY,
                  c->dstZ, c->dstPitch, dh, c->WidthInBytes, c->Height, c->Depth);
}
CUresult do_batch(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes, size_t count, size_t *fail) {
    if (!dsts || !srcs || !sizes || count == 0) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; ++i) {
        CUresult r = unified_copy(U(dsts[i]), U(srcs[i]), sizes[i]);
        if (r != CUDA_SUCCESS) {
            if (fail) *fail = i;
            return r;
        }
    }
    if (fail) *fail = SIZE_MAX;
    return CUDA_SUCCESS;
}
CUresult do_batch3d(size_t n, CUDA_MEMCPY3D_BATCH_OP *ops, size_t *fail) {
    if (!ops || n == 0) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < n; ++i) {
        const CUDA_MEMCPY3D_BATCH_OP &o = ops[i];
        if (o.src.type != CU_MEMCPY_OPERAND_TYPE_POINTER || o.dst.type != CU_MEMCPY_OPERAND_TYPE_POINTER)
            return CUDA_ERROR_NOT_SUPPORTED;  // the fake supports pointer operands only
        Side s, d;
        {
            std::lock_guard<std::mutex> lock(g_mu);
            s = {U(o.src.op.ptr.ptr), is_device_side(U(o.src.op.ptr.ptr)), true};
            d = {U(o.dst.op.ptr.ptr), is_device_side(U(o.dst.op.ptr.ptr)), true};
        }
        size_t sp = o.src.op.ptr.rowLength ? o.src.op.ptr.rowLength : o.extent.width;
        size_t dp = o.dst.op.ptr.rowLength ? o.dst.op.ptr.rowLength : o.extent.width;
        size_t sh = o.src.op.ptr.layerHeight ? o.src.op.ptr.layerHeight : o.extent.height;
        size_t dh = o.dst.op.ptr.layerHeight ? o.dst.op.ptr.layerHeight : o.extent.height;
        CUresult r = copy3d(s, 0, 0, 0, sp, sh, d, 0, 0, 0, dp, dh, o.extent.width, o.extent.height,
                            o.extent.depth);
        if (r != CUDA_SUCCESS) {
            if (fail) *fail = i;
            return r;
        }
    }
    return CUDA_SUCCESS;
}
}  // namespace

DEFINE_TWINS(CUresult, cuMemcpy2DAsync_v2, (const CUDA_MEMCPY2D *c, CUstream s),
             { return capturing(s) ? CUDA_ERROR_NOT_SUPPORTED : do_copy2d(c); })
DEFINE_TWINS(CUresult, cuMemcpy3DAsync_v2, (const CUDA_MEMCPY3D *c, CUstream s),
             { return capturing(s) ? CUDA_ERROR_NOT_SUPPORTED : do_copy3d(c); })
// CUDA 12.8 signature (with failIdx) ...
DEFINE_TWINS(CUresult, cuMemcpyBatchAsync,
             (CUdeviceptr * dsts, CUdeviceptr *srcs, size_t *sizes, size_t count, CUmemcpyAttributes *,
              size_t *, size_t, size_t *failIdx, CUstream s),
             { return capturing(s) ? CUDA_ERROR_NOT_SUPPORTED : do_batch(dsts, srcs, sizes, count, failIdx); })
DEFINE_TWINS(CUresult, cuMemcpy3DBatchAsync,
             (size_t n, CUDA_MEMCPY3D_BATCH_OP *ops, size_t *failIdx, unsigned long long, CUstream s),
             { return capturing(s) ? CUDA_ERROR_NOT_SUPPORTED : do_batch3d(n, ops, failIdx); })
// ... and the CUDA 13.0 one (no failIdx).
DEFINE_TWINS(CUresult, cuMemcpyBatchAsync_v2,
             (CUdeviceptr * dsts, CUdeviceptr *srcs, size_t *sizes, size_t count, CUmemcpyAttributes *,
              size_t *, size_t, CUstream s),
             { return capturing(s) ? CUDA_ERROR_NOT_SUPPORTED : do_batch(dsts, srcs, sizes, count, nullptr); })
DEFINE_TWINS(CUresult, cuMemcpy3DBatchAsync_v2,
             (size_t n, CUDA_MEMCPY3D_BATCH_OP *ops, unsigned long long, CUstream s),
             { return capturing(s) ? CUDA_ERROR_NOT_SUPPORTED : do_batch3d(n, ops, nullptr); })

// Synchronous copies, used by the test apps to check that data arrived unchanged.
FAKE_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
    if (capture_forbids("cuMemcpyHtoD")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    return plain_copy(U(dst), true, H(src), false, n);
}
FAKE_EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
    if (capture_forbids("cuMemcpyDtoH")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    return plain_copy(H(dst), false, U(src), true, n);
}
FAKE_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dst, const void *src, size_t n) { return cuMemcpyHtoD_v2(dst, src, n); }
FAKE_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void *dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoH_v2(dst, src, n); }

// ---- cuGetProcAddress ----------------------------------------------------------------

namespace {
struct ProcEntry {
    const char *symbol;    // the name callers ask for (no _v2 suffix)
    int min_version;       // first cudaVersion this entry answers
    int max_version;       // last cudaVersion this entry answers
    bool per_thread;       // answers CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
    void *fn;
};

extern "C" CUresult cuGetProcAddress(const char *, void **, int, cuuint64_t);
extern "C" CUresult cuGetProcAddress_v2(const char *, void **, int, cuuint64_t,
                                        CUdriverProcAddressQueryResult *);

#define FN(f) reinterpret_cast<void *>(&f)
#define ANY 0, 1 << 30
const ProcEntry kProcs[] = {
    {"cuInit", ANY, false, FN(cuInit)},
    {"cuDriverGetVersion", ANY, false, FN(cuDriverGetVersion)},
    {"cuGetErrorString", ANY, false, FN(cuGetErrorString)},
    {"cuGetProcAddress", 0, 11999, false, FN(cuGetProcAddress)},
    {"cuGetProcAddress", 12000, 1 << 30, false, FN(cuGetProcAddress_v2)},
    {"cuMemAlloc", ANY, false, FN(cuMemAlloc_v2)},
    {"cuMemFree", ANY, false, FN(cuMemFree_v2)},
    {"cuMemAllocManaged", ANY, false, FN(cuMemAllocManaged)},
    {"cuMemAllocHost", ANY, false, FN(cuMemAllocHost_v2)},
    {"cuMemHostAlloc", ANY, false, FN(cuMemHostAlloc)},
    {"cuMemFreeHost", ANY, false, FN(cuMemFreeHost)},
    {"cuMemHostRegister", 4000, 6049, false, FN(cuMemHostRegister)},
    {"cuMemHostRegister", 6050, 1 << 30, false, FN(cuMemHostRegister_v2)},
    {"cuDeviceGet", ANY, false, FN(cuDeviceGet)},
    {"cuDevicePrimaryCtxRetain", ANY, false, FN(cuDevicePrimaryCtxRetain)},
    {"cuCtxSetCurrent", ANY, false, FN(cuCtxSetCurrent)},
    {"cuMemHostUnregister", ANY, false, FN(cuMemHostUnregister)},
    {"cuMemHostGetFlags", ANY, false, FN(cuMemHostGetFlags)},
    {"cuArrayCreate", ANY, false, FN(cuArrayCreate_v2)},
    {"cuArrayDestroy", ANY, false, FN(cuArrayDestroy)},
    {"cuPointerGetAttribute", ANY, false, FN(cuPointerGetAttribute)},
    {"cuPointerGetAttributes", ANY, false, FN(cuPointerGetAttributes)},
    {"cuStreamCreate", ANY, false, FN(cuStreamCreate)},
    {"cuStreamDestroy", ANY, false, FN(cuStreamDestroy_v2)},
    {"cuStreamSynchronize", ANY, false, FN(cuStreamSynchronize)},
    {"cuStreamSynchronize", ANY, true, FN(cuStreamSynchronize_ptsz)},
    {"cuCtxSynchronize", ANY, false, FN(cuCtxSynchronize)},
    {"cuStreamBeginCapture", 10000, 10009, false, FN(cuStreamBeginCapture)},
    {"cuStreamBeginCapture", 10010, 1 << 30, false, FN(cuStreamBeginCapture_v2)},
    {"cuStreamBeginCapture", 10010, 1 << 30, true, FN(cuStreamBeginCapture_v2_ptsz)},
    {"cuStreamEndCapture", ANY, false, FN(cuStreamEndCapture)},
    {"cuStreamEndCapture", ANY, true, FN(cuStreamEndCapture_ptsz)},
    {"cuStreamIsCapturing", ANY, false, FN(cuStreamIsCapturing)},
    {"cuGraphInstantiate", ANY, false, FN(cuGraphInstantiateWithFlags)},
    {"cuGraphInstantiateWithFlags", ANY, false, FN(cuGraphInstantiateWithFlags)},
    {"cuGraphLaunch", ANY, false, FN(cuGraphLaunch)},
    {"cuGraphLaunch", ANY, true, FN(cuGraphLaunch_ptsz)},
    {"cuGraphExecDestroy", ANY, false, FN(cuGraphExecDestroy)},
    {"cuGraphDestroy", ANY, false, FN(cuGraphDestroy)},
    {"cuMemcpyHtoD", ANY, false, FN(cuMemcpyHtoD_v2)},
    {"cuMemcpyDtoH", ANY, false, FN(cuMemcpyDtoH_v2)},
#define TWIN(sym, fn, ...) {sym, __VA_ARGS__, false, FN(fn)}, {sym, __VA_ARGS__, true, FN(fn##_ptsz)}
    TWIN("cuMemcpyHtoDAsync", cuMemcpyHtoDAsync_v2, ANY),
    TWIN("cuMemcpyDtoHAsync", cuMemcpyDtoHAsync_v2, ANY),
    TWIN("cuMemcpyDtoDAsync", cuMemcpyDtoDAsync_v2, ANY),
    TWIN("cuMemcpyAsync", cuMemcpyAsync, ANY),
    TWIN("cuMemcpyHtoAAsync", cuMemcpyHtoAAsync_v2, ANY),
    TWIN("cuMemcpyAtoHAsync", cuMemcpyAtoHAsync_v2, ANY),
    TWIN("cuMemcpy2DAsync", cuMemcpy2DAsync_v2, ANY),
    TWIN("cuMemcpy3DAsync", cuMemcpy3DAsync_v2, ANY),
    TWIN("cuMemcpyBatchAsync", cuMemcpyBatchAsync, 12080, 12999),
    TWIN("cuMemcpyBatchAsync", cuMemcpyBatchAsync_v2, 13000, 1 << 30),
    TWIN("cuMemcpy3DBatchAsync", cuMemcpy3DBatchAsync, 12080, 12999),
    TWIN("cuMemcpy3DBatchAsync", cuMemcpy3DBatchAsync_v2, 13000, 1 << 30),
#undef TWIN
};
#undef ANY
#undef FN

CUresult lookup_proc(const char *symbol, void **pfn, int version, cuuint64_t flags,
                     CUdriverProcAddressQueryResult *status) {
    if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
    *pfn = nullptr;
    bool per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    bool name_seen = false;
    const ProcEntry *fallback = nullptr;
    for (const ProcEntry &e : kProcs) {
        if (strcmp(e.symbol, symbol) != 0) continue;
        name_seen = true;
        if (version < e.min_version || version > e.max_version) continue;
        if (e.per_thread == per_thread) {
            *pfn = e.fn;
            break;
        }
        if (!e.per_thread) fallback = &e;  // functions without stream have no _ptsz twin
    }
    if (!*pfn && fallback) *pfn = fallback->fn;
    if (status)
        *status = *pfn ? CU_GET_PROC_ADDRESS_SUCCESS
                       : (name_seen ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                                    : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    return *pfn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}
}  // namespace

FAKE_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags) {
    return lookup_proc(symbol, pfn, version, flags, nullptr);
}

FAKE_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                                         CUdriverProcAddressQueryResult *status) {
    return lookup_proc(symbol, pfn, version, flags, status);
}
