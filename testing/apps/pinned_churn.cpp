// Pinned memory allocated and released again and again at one call site (issue 28,
// item 4: churn). Three places: 120 cycles of a 4 KiB pinned allocation with a copy from
// it each time, 150 cycles of registering and unregistering an 8 KiB buffer the program
// owns, and 50 cycles of a 16 KiB allocation (below churn_min, 100: no finding). Each of
// the first two is one pinned_churn site, said once, at its 100th cycle; the summary
// counts the cycles from the 100th on (21 + 51 = 72).
#include "testkit.h"

#include <cstdlib>

static void churn_allocations(void *dev, tk_stream s) {
    for (int i = 0; i < 120; ++i) {
        void *p = tk_host_alloc(4096, 0);
        tk_fill(p, 4096, i);
        TK_CHECK(tk_memcpy_async(dev, p, 4096, TK_H2D, s));
        tk_stream_sync(s);
        tk_free_host(p);
    }
}

static void churn_registrations(void *own) {
    for (int i = 0; i < 150; ++i) {
        tk_register(own, 8192, 0);
        tk_unregister(own);
    }
}

static void few_allocations() {
    for (int i = 0; i < 50; ++i) {
        void *p = tk_malloc_host(16384);
        tk_free_host(p);
    }
}

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(4096);
    churn_allocations(dev, s);
    void *own = aligned_alloc(4096, 8192);
    churn_registrations(own);
    free(own);
    few_allocations();
    tk_done("pinned_churn");
}
