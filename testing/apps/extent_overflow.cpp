// A 2D copy whose host extent overflows the address space: pinguard gives no verdict and
// does not crash; the real call runs untouched. What CUDA then does is CUDA's business
// (fakecuda returns invalid value; the real 580 driver dies with SIGSEGV inside the call,
// with or without pinguard): the manifest asks for the same fate as without pinguard.
#include "testkit.h"

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(1 << 16);
    std::vector<unsigned char> host(1 << 16);
    const size_t huge_pitch = SIZE_MAX / 2;
    int rc = tk_memcpy2d_async(dev, 256, host.data(), huge_pitch, 8, 4, TK_H2D, s);
    printf("extent_overflow: CUDA returned %d\n", rc);
    tk_stream_sync(s);
    tk_done("extent_overflow");
}
