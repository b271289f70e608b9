// cudaMemcpyDefault (cuMemcpyAsync in the driver): direction inferred from the pointers.
// Pageable to device and device to pageable: two findings; pinned and device-only
// copies: none.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 256 << 10;
    tk_stream s = tk_stream_create();
    void *d1 = tk_device_alloc(n);
    void *d2 = tk_device_alloc(n);
    std::vector<unsigned char> pageable(n), back(n);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n));
    tk_fill(pageable.data(), n, 12);
    TK_CHECK(tk_memcpy_async(d1, pageable.data(), n, TK_DEFAULT, s));  // pageable H2D
    TK_CHECK(tk_memcpy_async(d2, d1, n, TK_DEFAULT, s));               // device
    TK_CHECK(tk_memcpy_async(pinned, d2, n, TK_DEFAULT, s));           // pinned D2H
    TK_CHECK(tk_memcpy_async(back.data(), d2, n, TK_DEFAULT, s));      // pageable D2H
    tk_stream_sync(s);
    tk_expect_equal(pageable.data(), back.data(), n, "default round trip");
    tk_expect_equal(pageable.data(), pinned, n, "default pinned");
    tk_free_host(pinned);
    tk_done("default_both_ways");
}
