// cudaMemcpy3DBatchAsync / cuMemcpy3DBatchAsync with pointer operands (element size 1):
// a pageable 64x8x2 source spans 64*8*1 + 64*7 + 64 = 1024 bytes: one finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t w = 64, h = 8, d = 2, n = w * h * d;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> pageable(n), back(n);
    tk_fill(pageable.data(), n, 24);
    TK_CHECK(tk_memcpy3d_batch_async(dev, pageable.data(), w, h, d, 1 /* stream */, s));
    tk_stream_sync(s);
    tk_dtoh_sync(back.data(), dev, n);
    tk_expect_equal(pageable.data(), back.data(), n, "3D batch");
    tk_done("batch3d");
}
