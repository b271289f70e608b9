// A registered buffer is pinned until cudaHostUnregister; after it, the same buffer is
// pageable again: one finding, for the second copy only.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 64 << 10;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *a = static_cast<unsigned char *>(aligned_alloc(4096, n));
    tk_fill(a, n, 7);
    tk_register(a, n, 0);
    TK_CHECK(tk_memcpy_async(dev, a, n, TK_H2D, s));  // pinned
    tk_stream_sync(s);
    tk_unregister(a);
    TK_CHECK(tk_memcpy_async(dev, a, n, TK_H2D, s));  // pageable again
    tk_stream_sync(s);
    free(a);
    tk_done("after_unregister");
}
