// Eight threads copying at once, each sixteen pinned copies and one pageable copy: eight
// findings. The threads meet at a barrier first, so that their pageable copies really
// do race (in abort mode exactly one finding may be printed).
#include "testkit.h"
#include <atomic>
#include <thread>

static std::atomic<int> g_arrived{0};

static void barrier(int parties) {
    g_arrived.fetch_add(1);
    while (g_arrived.load() < parties) std::this_thread::yield();
}

int main() {
    tk_init();
    const size_t n = 64 << 10;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([t, n] {
            tk_thread_init();
            tk_stream s = tk_stream_create();
            void *dev = tk_device_alloc(n);
            std::vector<unsigned char> pageable(n), back(n);
            unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n));
            tk_fill(pageable.data(), n, 20 + t);
            tk_fill(pinned, n, 40 + t);
            for (int i = 0; i < 16; ++i) TK_CHECK(tk_memcpy_async(dev, pinned, n, TK_H2D, s));
            barrier(8);
            TK_CHECK(tk_memcpy_async(dev, pageable.data(), n, TK_H2D, s));
            tk_stream_sync(s);
            tk_dtoh_sync(back.data(), dev, n);
            tk_expect_equal(pageable.data(), back.data(), n, "thread copy");
            tk_free_host(pinned);
        });
    }
    for (auto &th : threads) th.join();
    tk_done("threads8");
}
