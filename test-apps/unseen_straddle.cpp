// A 12 KiB copy over a 4 KiB range in its middle that was pinned through a path
// pinguard does not wrap (the pre-6.5 cuMemHostRegister): its first and last bytes are
// pageable, so the hot path's driver query says pageable, but CUDA rejects the copy with
// invalid value. pinguard must call it what it is, a straddle, not "pin it".
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
    int rc = tk_memcpy_async(dev, a, n, TK_H2D, s);
    if (rc != tk_error_invalid_value()) TK_FAIL("a copy over a pinned middle returned %d, expected invalid value", rc);
    tk_stream_sync(s);
    tk_unregister(a + page);
    free(a);
    tk_done("unseen_straddle");
}
