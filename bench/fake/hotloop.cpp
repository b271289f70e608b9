// Hot loops against fakecuda, for instruction counts (valgrind --tool=callgrind) and
// CPU-side timings of pinguard's own cost (fakecuda does no GPU work, so what is left is
// the interposer's). One mode per run:
//
//   hotloop pinned   CALLS            4 KiB pinned cudaMemcpyAsync
//   hotloop pageable CALLS            4 KiB pageable cudaMemcpyAsync, one call site
//   hotloop register CALLS RANGES     cudaHostRegister + cudaHostUnregister of one range,
//                                     with RANGES other ranges registered
//   hotloop none     CALLS            the loop alone (start-up cost)
//   hotloop sites    SITES            one 4 KiB pageable copy from each of SITES distinct
//                                     call stacks (at most 4096: 12 levels of two
//                                     functions), for the memory a site costs (max RSS)
//
// Prints `ns_per_call=N` (median of 9 batches).
#include "../../testing/apps/testkit.h"
#include <algorithm>
#include <ctime>

// Twelve levels of two functions each: the bits of `path` pick one of 4096 distinct
// stacks for the copy at the bottom. Each call is followed by a compiler barrier, so no
// level becomes a tail jump and loses its frame.
struct site_copy {
    void *dst;
    const void *src;
    tk_stream s;
};

template <int L> int level(unsigned path, const site_copy &c);

template <int L> __attribute__((noinline)) int left(unsigned path, const site_copy &c) {
    int r = level<L - 1>(path >> 1, c);
    asm volatile("" ::: "memory");
    return r;
}

template <int L> __attribute__((noinline)) int right(unsigned path, const site_copy &c) {
    int r = level<L - 1>(path >> 1, c);
    asm volatile("" ::: "memory");
    return r + 0;
}

template <int L> int level(unsigned path, const site_copy &c) {
    return (path & 1) ? right<L>(path, c) : left<L>(path, c);
}

template <> int level<0>(unsigned, const site_copy &c) { return tk_memcpy_async(c.dst, c.src, 4096, TK_H2D, c.s); }

static double now_ns() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) TK_FAIL("usage: hotloop pinned|pageable|register|none CALLS [RANGES]");
    const char *mode = argv[1];
    long calls = atol(argv[2]);
    long ranges = argc > 3 ? atol(argv[3]) : 0;
    if (!strcmp(mode, "none")) return 0;
    tk_init();
    if (!strcmp(mode, "sites")) {
        tk_stream s = tk_stream_create();
        std::vector<unsigned char> pageable(4096, 1);
        site_copy c{tk_device_alloc(4096), pageable.data(), s};
        for (long p = 0; p < calls && p < 4096; ++p) TK_CHECK(level<12>(unsigned(p), c));
        printf("sites=%ld\n", std::min(calls, 4096L));
        return 0;
    }
    tk_stream s = tk_stream_create();
    const size_t n = 4096;
    void *dev = tk_device_alloc(n);
    void *pinned = tk_malloc_host(n);
    std::vector<unsigned char> pageable(n, 1);
    std::vector<unsigned char> others(ranges * 256 + 1);
    for (long r = 0; r < ranges; ++r) tk_register(others.data() + r * 256, 128, 0);
    unsigned char *one = static_cast<unsigned char *>(aligned_alloc(4096, 4096));
    std::vector<double> batches;
    for (int b = 0; b < 9; ++b) {
        double t0 = now_ns();
        for (long i = 0; i < calls; ++i) {
            if (!strcmp(mode, "pinned")) {
                TK_CHECK(tk_memcpy_async(dev, pinned, n, TK_H2D, s));
            } else if (!strcmp(mode, "pageable")) {
                TK_CHECK(tk_memcpy_async(dev, pageable.data(), n, TK_H2D, s));
            } else {
                tk_register(one, 4096, 0);
                tk_unregister(one);
            }
        }
        batches.push_back((now_ns() - t0) / calls);
    }
    std::sort(batches.begin(), batches.end());
    printf("ns_per_call=%.1f\n", batches[4]);
    return 0;
}
