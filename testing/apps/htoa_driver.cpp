// cuMemcpyHtoAAsync / cuMemcpyAtoHAsync (driver API only): pageable source of 4096 bytes
// is a finding, a pinned destination is not.
#include "testkit.h"

int main() {
#ifdef TK_USES_DRIVER
    tk_init();
    const size_t n = 4096;
    tk_stream s = tk_stream_create();
    tk_array arr = tk_array_create(n, 0);
    std::vector<unsigned char> pageable(n);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n));
    tk_fill(pageable.data(), n, 19);
    TK_CHECK(tk_drv.htoa(static_cast<CUarray>(arr), 0, pageable.data(), n, TK_S(s)));
    TK_CHECK(tk_drv.atoh(pinned, static_cast<CUarray>(arr), 0, n, TK_S(s)));
    tk_stream_sync(s);
    tk_expect_equal(pageable.data(), pinned, n, "HtoA/AtoH");
    tk_free_host(pinned);
    tk_done("htoa_driver");
#else
    TK_FAIL("htoa_driver needs a driver backend (TK_DRIVER or TK_DLSYM)");
#endif
}
