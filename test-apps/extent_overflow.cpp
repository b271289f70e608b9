// A 2D copy whose host extent overflows the address space: pinguard gives no verdict and
// does not crash, the real call runs and returns its own error, unchanged.
#include "testkit.h"

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(1 << 16);
    std::vector<unsigned char> host(1 << 16);
    const size_t huge_pitch = SIZE_MAX / 2;
    int rc = tk_memcpy2d_async(dev, 256, host.data(), huge_pitch, 8, 4, TK_H2D, s);
    if (rc == 0) TK_FAIL("an overflowing 2D copy was accepted");
    printf("extent_overflow: CUDA returned %d\n", rc);
    tk_stream_sync(s);
    tk_done("extent_overflow");
}
