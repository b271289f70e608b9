// malloc + cudaHostRegister: pinned, no finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 1 << 20;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *a = static_cast<unsigned char *>(aligned_alloc(4096, n));
    unsigned char *b = static_cast<unsigned char *>(aligned_alloc(4096, n));
    tk_register(a, n, 0);
    tk_register(b, n, 0);
    tk_fill(a, n, 5);
    TK_CHECK(tk_memcpy_async(dev, a, n, TK_H2D, s));
    TK_CHECK(tk_memcpy_async(b, dev, n, TK_D2H, s));
    tk_stream_sync(s);
    tk_expect_equal(a, b, n, "registered round trip");
    tk_unregister(a);
    tk_unregister(b);
    free(a);
    free(b);
    tk_done("host_register");
}
