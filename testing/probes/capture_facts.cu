// capture_facts: what a real driver says and allows around stream capture, the facts
// pinguard's captured-copy check stands on (issue 28). Run on the GPU machine:
//
//   nvcc -o /tmp/capture_facts testing/probes/capture_facts.cu -lcuda && /tmp/capture_facts
//
// For each capture mode it captures a pageable H2D copy and, while capturing, makes the
// queries pinguard makes on a finding (cuPointerGetAttributes on the host address, the
// capture status and id through cuStreamGetCaptureInfo's first ABI, found by dlsym as
// pinguard finds it), from the capturing thread and from another one; then ends the
// capture, changes the host buffer, launches the graph and reads back what the device
// got: a captured pageable copy re-reads the host at every launch. It also asks for the
// legacy stream's status while a blocking stream captures; and times a graph of one
// 256 MiB H2D copy from pageable and from pinned memory: how long cudaGraphLaunch keeps
// the host thread, and launch to end. Prints one line per fact.
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

using GetCaptureInfoV1 = CUresult (*)(CUstream, CUstreamCaptureStatus *, cuuint64_t *);
using IsCapturing = CUresult (*)(CUstream, CUstreamCaptureStatus *);

static void *libcuda() {
    static void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    return h;
}

static const char *mode_name(cudaStreamCaptureMode m) {
    return m == cudaStreamCaptureModeGlobal ? "global" : m == cudaStreamCaptureModeThreadLocal ? "thread_local" : "relaxed";
}

static void queries(const char *who, const void *host, CUstream s) {
    unsigned kind = 0, managed = 0;
    CUpointer_attribute attrs[2] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_IS_MANAGED};
    void *data[2] = {&kind, &managed};
    CUresult a = cuPointerGetAttributes(2, attrs, data, (CUdeviceptr)(uintptr_t)host);
    auto info = reinterpret_cast<GetCaptureInfoV1>(dlsym(libcuda(), "cuStreamGetCaptureInfo"));
    CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
    cuuint64_t id = 0;
    CUresult b = info ? info(s, &st, &id) : CUDA_ERROR_NOT_FOUND;
    auto is = reinterpret_cast<IsCapturing>(dlsym(libcuda(), "cuStreamIsCapturing"));
    CUstreamCaptureStatus st2 = CU_STREAM_CAPTURE_STATUS_NONE;
    CUresult c = is ? is(s, &st2) : CUDA_ERROR_NOT_FOUND;
    printf("  %s: cuPointerGetAttributes rc=%d type=%u; cuStreamGetCaptureInfo(v1) rc=%d status=%d id=%llu; "
           "cuStreamIsCapturing rc=%d status=%d\n",
           who, a, kind, b, st, (unsigned long long)id, c, st2);
}

int main() {
    const size_t n = 1 << 20;
    cudaFree(nullptr);
    printf("dlsym: cuStreamGetCaptureInfo=%p _v2=%p _v3=%p cuStreamIsCapturing=%p\n",
           dlsym(libcuda(), "cuStreamGetCaptureInfo"), dlsym(libcuda(), "cuStreamGetCaptureInfo_v2"),
           dlsym(libcuda(), "cuStreamGetCaptureInfo_v3"), dlsym(libcuda(), "cuStreamIsCapturing"));
    void *dev = nullptr;
    cudaMalloc(&dev, n);
    {
        // What pinguard's question costs a finding: the query on a stream not capturing.
        cudaStream_t s;
        cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
        auto info = reinterpret_cast<GetCaptureInfoV1>(dlsym(libcuda(), "cuStreamGetCaptureInfo"));
        CUstreamCaptureStatus st;
        cuuint64_t id;
        const int calls = 1000000;
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) info((CUstream)s, &st, &id);
        auto t1 = std::chrono::steady_clock::now();
        printf("cuStreamGetCaptureInfo on a stream not capturing: %.1f ns a call (mean of %d)\n",
               std::chrono::duration<double, std::nano>(t1 - t0).count() / calls, calls);
        cudaStreamDestroy(s);
    }
    std::vector<unsigned char> host(n, 1), back(n, 0);
    cudaStreamCaptureMode modes[3] = {cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal,
                                      cudaStreamCaptureModeRelaxed};
    for (auto mode : modes) {
        cudaStream_t s;
        cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
        printf("mode %s:\n", mode_name(mode));
        cudaError_t begin = cudaStreamBeginCapture(s, mode);
        cudaError_t copy = cudaMemcpyAsync(dev, host.data(), n, cudaMemcpyHostToDevice, s);
        queries("capturing thread", host.data(), (CUstream)s);
        std::thread([&] { queries("other thread", host.data(), (CUstream)s); }).join();
        cudaGraph_t g = nullptr;
        cudaError_t end = cudaStreamEndCapture(s, &g);
        cudaGraphExec_t e = nullptr;
        cudaError_t inst = g ? cudaGraphInstantiate(&e, g, 0) : cudaErrorUnknown;
        memset(host.data(), 7, n);  // the launch must copy what the host holds now
        cudaError_t launch = e ? cudaGraphLaunch(e, s) : cudaErrorUnknown;
        cudaStreamSynchronize(s);
        cudaMemcpy(back.data(), dev, n, cudaMemcpyDeviceToHost);
        printf("  begin=%d copy=%d end=%d instantiate=%d launch=%d; device holds %d (7: re-read at launch, 1: at capture)\n",
               begin, copy, end, inst, launch, back[n / 2]);
        if (e) cudaGraphExecDestroy(e);
        if (g) cudaGraphDestroy(g);
        cudaStreamDestroy(s);
        memset(host.data(), 1, n);
    }
    {
        cudaStream_t s;
        cudaStreamCreate(&s);  // a blocking stream: the legacy stream depends on it
        printf("blocking stream capturing (global):\n");
        cudaError_t begin = cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
        cudaError_t copy = cudaMemcpyAsync(dev, host.data(), n, cudaMemcpyHostToDevice, s);
        auto is = reinterpret_cast<IsCapturing>(dlsym(libcuda(), "cuStreamIsCapturing"));
        CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
        CUresult legacy_q = is(CU_STREAM_LEGACY, &st);
        CUresult legacy_q0 = is(nullptr, &st);
        CUresult own = is((CUstream)s, &st);
        cudaGraph_t g = nullptr;
        cudaError_t end = cudaStreamEndCapture(s, &g);
        printf("  begin=%d copy=%d; IsCapturing(CU_STREAM_LEGACY) rc=%d, (0) rc=%d, own rc=%d status=%d; end=%d\n",
               begin, copy, legacy_q, legacy_q0, own, st, end);
        if (g) cudaGraphDestroy(g);
        cudaStreamDestroy(s);
    }
    {
        const size_t big = 256u << 20;
        void *dbig = nullptr;
        cudaMalloc(&dbig, big);
        std::vector<unsigned char> pageable(big, 3);
        void *pinned = nullptr;
        cudaMallocHost(&pinned, big);
        memset(pinned, 3, big);
        cudaStream_t s;
        cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
        const void *sources[2] = {pageable.data(), pinned};
        const char *names[2] = {"pageable", "pinned"};
        for (int k = 0; k < 2; ++k) {
            cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
            cudaMemcpyAsync(dbig, sources[k], big, cudaMemcpyHostToDevice, s);
            cudaGraph_t g = nullptr;
            cudaStreamEndCapture(s, &g);
            cudaGraphExec_t e = nullptr;
            cudaGraphInstantiate(&e, g, 0);
            cudaGraphLaunch(e, s);  // warm-up
            cudaStreamSynchronize(s);
            double call_ms = 0, total_ms = 0;
            const int n = 5;
            for (int i = 0; i < n; ++i) {
                auto t0 = std::chrono::steady_clock::now();
                cudaGraphLaunch(e, s);
                auto t1 = std::chrono::steady_clock::now();
                cudaStreamSynchronize(s);
                auto t2 = std::chrono::steady_clock::now();
                call_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
                total_ms += std::chrono::duration<double, std::milli>(t2 - t0).count();
            }
            printf("graph of one 256 MiB H2D copy from %s memory: cudaGraphLaunch held the host %.3f ms, launch to end %.2f ms (%.1f GB/s), mean of %d\n",
                   names[k], call_ms / n, total_ms / n, big / (total_ms / n * 1e6), n);
            cudaGraphExecDestroy(e);
            cudaGraphDestroy(g);
        }
        cudaStreamDestroy(s);
        cudaFreeHost(pinned);
        cudaFree(dbig);
    }
    return 0;
}
