// Managed memory with cudaMemcpyDefault, both ways: not host memory, no finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 1 << 20;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *m = static_cast<unsigned char *>(tk_managed_alloc(n));
    tk_stream_sync(s);
    tk_fill(m, n, 13);
    TK_CHECK(tk_memcpy_async(dev, m, n, TK_DEFAULT, s));
    TK_CHECK(tk_memcpy_async(m, dev, n, TK_DEFAULT, s));
    tk_stream_sync(s);
    tk_done("managed_default");
}
