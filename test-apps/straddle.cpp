// A copy that starts inside a registered range and runs past its end: CUDA rejects it
// with invalid value, and pinguard reports it as straddling a pinned edge.
#include "testkit.h"

int main() {
    tk_init();
    const size_t buf = 2 << 20, reg = 1 << 20, n = 8192;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *a = static_cast<unsigned char *>(aligned_alloc(4096, buf));
    tk_fill(a, buf, 10);
    tk_register(a, reg, 0);
    int rc = tk_memcpy_async(dev, a + reg - 4096, n, TK_H2D, s);
    if (rc != tk_error_invalid_value()) TK_FAIL("straddling copy returned %d, expected invalid value", rc);
    tk_stream_sync(s);
    tk_unregister(a);
    free(a);
    tk_done("straddle");
}
