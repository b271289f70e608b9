// Host-to-host async copies: pinned to pinned is fine; a pageable side is a finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 64 << 10;
    tk_stream s = tk_stream_create();
    unsigned char *a = static_cast<unsigned char *>(tk_malloc_host(n));
    unsigned char *b = static_cast<unsigned char *>(tk_malloc_host(n));
    std::vector<unsigned char> pageable(n);
    tk_fill(a, n, 14);
    TK_CHECK(tk_memcpy_async(b, a, n, TK_H2H, s));
    TK_CHECK(tk_memcpy_async(pageable.data(), b, n, TK_H2H, s));
    tk_stream_sync(s);
    tk_expect_equal(a, pageable.data(), n, "H2H");
    tk_free_host(a);
    tk_free_host(b);
    tk_done("host_to_host");
}
