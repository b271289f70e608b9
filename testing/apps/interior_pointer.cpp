// Interior pointers of a pinned block (as PyTorch's pin_memory() hands out): pinned,
// including a copy that ends exactly at the block's last byte.
#include "testkit.h"

int main() {
    tk_init();
    const size_t block = 1 << 20, n = 64 << 10;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *p = static_cast<unsigned char *>(tk_malloc_host(block));
    tk_fill(p, block, 6);
    TK_CHECK(tk_memcpy_async(dev, p + 4096, n, TK_H2D, s));
    TK_CHECK(tk_memcpy_async(dev, p + block - n, n, TK_H2D, s));
    TK_CHECK(tk_memcpy_async(p + 12345, dev, n, TK_D2H, s));
    tk_stream_sync(s);
    tk_expect_equal(p + 12345, p + block - n, n, "interior copies");
    tk_free_host(p);
    tk_done("interior_pointer");
}
