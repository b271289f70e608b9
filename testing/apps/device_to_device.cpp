// Device-to-device async copy: no host memory involved, no finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 1 << 20;
    tk_stream s = tk_stream_create();
    void *a = tk_device_alloc(n);
    void *b = tk_device_alloc(n);
    std::vector<unsigned char> src(n), back(n);
    tk_fill(src.data(), n, 11);
    tk_htod_sync(a, src.data(), n);
    TK_CHECK(tk_memcpy_async(b, a, n, TK_D2D, s));
    tk_stream_sync(s);
    tk_dtoh_sync(back.data(), b, n);
    tk_expect_equal(src.data(), back.data(), n, "D2D");
    tk_done("device_to_device");
}
