// A pageable (malloc) buffer copied host-to-device with an async copy: one finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 1 << 20;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> host(n), back(n);
    tk_fill(host.data(), n, 1);
    TK_CHECK(tk_memcpy_async(dev, host.data(), n, TK_H2D, s));
    tk_stream_sync(s);
    tk_dtoh_sync(back.data(), dev, n);
    tk_expect_equal(host.data(), back.data(), n, "H2D");
    tk_done("pageable_h2d");
}
