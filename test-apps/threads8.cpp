// Eight threads copying at once, each one pageable and one pinned copy: eight findings.
#include "testkit.h"
#include <thread>

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
