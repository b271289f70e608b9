// Host time per cudaMemcpyAsync call, in a tight loop: the yardstick for pinguard's
// overhead (cuda-facts: about 2.7 us per 4 KiB pinned call on an H100).
//
//   copy_loop pinned|pageable|pageable-pair BYTES CALLS BATCHES
//
// Each batch times CALLS calls (synchronising the stream after each batch, outside the
// timed region for pinned copies); prints the median and the interquartile range of the
// batches' ns per call: `ns_per_call=MEDIAN iqr=LOW..HIGH`.
//
// pageable-pair alternates batches of BYTES and of BYTES - 1 from the same pageable
// buffer, in one process, and also prints `smaller_ns_per_call=MEDIAN`: under pinguard
// with min_bytes=BYTES the smaller copies are checked and classified but not reported,
// so the difference is what reporting a finding costs, measured in one process on the
// real driver (without pinguard it is the driver's own difference: about none).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>
#include <cuda_runtime.h>

static double now_ns() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: copy_loop pinned|pageable BYTES CALLS BATCHES\n"); return 2; }
    bool pinned = !strcmp(argv[1], "pinned");
    bool pair = !strcmp(argv[1], "pageable-pair");
    size_t n = strtoull(argv[2], nullptr, 10);
    int calls = atoi(argv[3]), batches = atoi(argv[4]);
    cudaStream_t s;
    if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) return 3;
    void *dev, *host;
    if (cudaMalloc(&dev, n) != cudaSuccess) return 3;
    if (pinned) { if (cudaMallocHost(&host, n) != cudaSuccess) return 3; }
    else host = malloc(n);
    memset(host, 1, n);
    std::vector<double> per_call, smaller;
    for (int b = -2; b < batches; ++b) {  // two warm-up batches
        for (int size_step = 0; size_step < (pair ? 2 : 1); ++size_step) {
            size_t bytes = n - size_step;
            double t0 = now_ns();
            for (int i = 0; i < calls; ++i)
                if (cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, s) != cudaSuccess) return 4;
            double t1 = now_ns();
            cudaStreamSynchronize(s);
            if (b >= 0) (size_step ? smaller : per_call).push_back((t1 - t0) / calls);
        }
    }
    std::sort(per_call.begin(), per_call.end());
    size_t k = per_call.size();
    printf("ns_per_call=%.1f iqr=%.1f..%.1f", per_call[k / 2], per_call[k / 4], per_call[3 * k / 4]);
    if (pair) {
        std::sort(smaller.begin(), smaller.end());
        printf(" smaller_ns_per_call=%.1f", smaller[k / 2]);
    }
    printf("\n");
    return 0;
}
