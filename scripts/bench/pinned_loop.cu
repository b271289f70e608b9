// Host time per 4 KiB pinned cudaMemcpyAsync: the yardstick for pinguard's hot-path
// overhead (cuda-facts.md: about 2.7 us a call). Prints the median of 7 rounds.
#include <cuda_runtime_api.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

int main(int argc, char **argv) {
    const size_t n = 4096;
    const int calls = argc > 1 ? atoi(argv[1]) : 20000;
    void *host, *dev;
    cudaStream_t s;
    if (cudaMallocHost(&host, n) || cudaMalloc(&dev, n) || cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)) return 2;
    for (int i = 0; i < 1000; ++i) cudaMemcpyAsync(dev, host, n, cudaMemcpyHostToDevice, s);
    cudaStreamSynchronize(s);
    std::vector<double> rounds;
    for (int r = 0; r < 7; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) cudaMemcpyAsync(dev, host, n, cudaMemcpyHostToDevice, s);
        auto t1 = std::chrono::steady_clock::now();
        cudaStreamSynchronize(s);
        rounds.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / calls);
    }
    std::sort(rounds.begin(), rounds.end());
    printf("us_per_call=%.4f\n", rounds[rounds.size() / 2]);
    return 0;
}
