// Pinned memory's lifetime in the summary (issue 28, items 4 and 5): three 64 KiB pinned
// allocations and one 64 KiB registration (256 KiB pinned at once, the peak), then the
// registration and one allocation released: 128 KiB are still pinned at the end, and six
// calls pinned or released memory (their host time is summed too). One pinned copy, no
// finding.
#include "testkit.h"

#include <cstdlib>

int main() {
    tk_init();
    const size_t n = 64 << 10;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    void *a = tk_malloc_host(n);
    void *b = tk_host_alloc(n, 0);
    void *c = tk_malloc_host(n);
    void *own = aligned_alloc(4096, n);
    tk_register(own, n, 0);
    tk_fill(a, n, 1);
    TK_CHECK(tk_memcpy_async(dev, a, n, TK_H2D, s));
    tk_stream_sync(s);
    tk_unregister(own);
    tk_free_host(c);
    free(own);
    (void)b;  // a and b stay pinned to the end
    tk_done("pinned_lifetime");
}
