// The straddle geometries again, over a 4 KiB page pinned through a path pinguard does
// not wrap (the pre-6.5 cuMemHostRegister), so only the driver's word can tell: a copy
// that starts inside that page and runs past it is rejected with invalid value (a
// straddle, not "pin it"); a 12 KiB copy that starts pageable and covers the page is
// accepted and runs as pageable (CUDA decides by the first byte).
#include "testkit.h"

typedef int (*legacy_register_fn)(void *, size_t, unsigned int);

int main() {
    tk_init();
    const size_t page = 4096, n = 3 * page;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *a = static_cast<unsigned char *>(aligned_alloc(page, n));
    tk_fill(a, n, 27);
    legacy_register_fn reg = reinterpret_cast<legacy_register_fn>(tk_proc_address("cuMemHostRegister", 4000));
    if (!reg) TK_FAIL("no cuMemHostRegister for version 4000");
    TK_CHECK(reg(a + page, page, 0));
    int rc = tk_memcpy_async(dev, a + page + page / 2, page, TK_H2D, s);
    if (rc != tk_error_invalid_value()) TK_FAIL("a copy running past the pinned page returned %d, expected invalid value", rc);
    tk_stream_sync(s);
    rc = tk_memcpy_async(dev, a, n, TK_H2D, s);
    if (rc != 0) TK_FAIL("a copy over a pinned middle returned %d, expected success", rc);
    tk_stream_sync(s);
    tk_unregister(a + page);
    free(a);
    tk_done("unseen_straddle");
}
