// Device-to-host into a pageable (malloc) buffer: one finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 1 << 20;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> src(n), host(n);
    tk_fill(src.data(), n, 2);
    tk_htod_sync(dev, src.data(), n);
    TK_CHECK(tk_memcpy_async(host.data(), dev, n, TK_D2H, s));
    tk_stream_sync(s);
    tk_expect_equal(src.data(), host.data(), n, "D2H");
    tk_done("pageable_d2h");
}
