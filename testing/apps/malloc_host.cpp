// cudaMallocHost memory both ways: pinned, no finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 1 << 20;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *a = static_cast<unsigned char *>(tk_malloc_host(n));
    unsigned char *b = static_cast<unsigned char *>(tk_malloc_host(n));
    tk_fill(a, n, 3);
    TK_CHECK(tk_memcpy_async(dev, a, n, TK_H2D, s));
    TK_CHECK(tk_memcpy_async(b, dev, n, TK_D2H, s));
    tk_stream_sync(s);
    tk_expect_equal(a, b, n, "pinned round trip");
    tk_free_host(a);
    tk_free_host(b);
    tk_done("malloc_host");
}
