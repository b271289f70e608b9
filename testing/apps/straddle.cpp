// Copies that touch both a registered range and pageable memory. CUDA decides by the
// first byte (measured on an H100, CUDA 13.0): a copy that starts inside the registered
// range and runs past its end is rejected with invalid value, and pinguard reports it as
// straddling a pinned edge; one that starts in pageable memory and runs into the
// registered range is accepted and runs as a pageable copy, and pinguard says pageable.
#include "testkit.h"

int main() {
    tk_init();
    const size_t page = 4096, buf = 2 << 20, reg = 1 << 20, n = 8192;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *a = static_cast<unsigned char *>(aligned_alloc(page, buf));
    tk_fill(a, buf, 10);
    tk_register(a + page, reg, 0); // [page, page + reg)
    int rc = tk_memcpy_async(dev, a + page + reg - page, n, TK_H2D, s);
    if (rc != tk_error_invalid_value()) TK_FAIL("a copy running past the registered end returned %d, expected invalid value", rc);
    tk_stream_sync(s);
    rc = tk_memcpy_async(dev, a, n, TK_H2D, s);
    if (rc != 0) TK_FAIL("a copy starting pageable and running into the registered range returned %d, expected success", rc);
    tk_stream_sync(s);
    tk_unregister(a + page);
    free(a);
    tk_done("straddle");
}
