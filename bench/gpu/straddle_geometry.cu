// Which copies that touch both a registered range and pageable memory does CUDA reject?
// Three pages, the middle one registered (cudaHostRegister); a 3-page buffer copy with
// each geometry; prints CUDA's return code for each. (cuda-facts: a copy that starts
// inside a registered range and runs past its end is rejected with invalid value.)
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
    return 0;
}
