// Which copies that touch both a registered range and pageable memory does CUDA reject,
// and how does it run the ones it accepts? Part 1: three pages, the middle one registered
// (cudaHostRegister); a copy of each geometry; CUDA's return code for each. Part 2: how
// long the host thread is held by a 64 MiB copy that starts pageable and covers a 32 MiB
// registered middle, beside a wholly pageable and a wholly pinned copy (a pageable copy
// holds the thread until it ends; a pinned one returns at once).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_runtime.h>

int main() {
    const size_t page = 4096;
    unsigned char *buf = static_cast<unsigned char *>(aligned_alloc(page, 4 * page));
    memset(buf, 1, 4 * page);
    void *dev;
    cudaMalloc(&dev, 4 * page);
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (cudaHostRegister(buf + page, page, 0) != cudaSuccess) { puts("register failed"); return 2; }
    struct { const char *what; size_t off, n; } cases[] = {
        {"inside the registered page", page + 64, 1024},
        {"starts inside, runs past its end", page + 2048, page},
        {"starts before, ends inside", 2048, page},
        {"starts before, covers it, ends after", 2048, 2 * page},
        {"wholly pageable, after it", 2 * page + 64, 1024},
    };
    for (auto &c : cases) {
        cudaError_t rc = cudaMemcpyAsync(dev, buf + c.off, c.n, cudaMemcpyHostToDevice, s);
        cudaStreamSynchronize(s);
        printf("%-40s rc=%d (%s)\n", c.what, (int)rc, cudaGetErrorName(rc));
        cudaGetLastError();
    }
    cudaHostUnregister(buf + page);

    const size_t mib = 1 << 20, big = 64 * mib;
    unsigned char *a = static_cast<unsigned char *>(aligned_alloc(page, big));
    unsigned char *b = static_cast<unsigned char *>(aligned_alloc(page, big));
    memset(a, 2, big);
    memset(b, 3, big);
    void *dbig;
    cudaMalloc(&dbig, big);
    cudaHostRegister(a + 16 * mib, 32 * mib, 0);
    struct { const char *what; const void *src; size_t n; } timed[] = {
        {"64 MiB starting pageable over a 32 MiB pinned middle", a, big},
        {"64 MiB wholly pageable", b, big},
        {"32 MiB wholly pinned", a + 16 * mib, 32 * mib},
    };
    for (int round = 0; round < 3; ++round) {
        for (auto &t : timed) {
            cudaStreamSynchronize(s);
            auto t0 = std::chrono::steady_clock::now();
            cudaError_t rc = cudaMemcpyAsync(dbig, t.src, t.n, cudaMemcpyHostToDevice, s);
            auto held = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
            cudaStreamSynchronize(s);
            printf("round %d: %-55s rc=%d host held %.0f us\n", round, t.what, (int)rc, held);
        }
    }
    cudaHostUnregister(a + 16 * mib);
    return 0;
}
