// cudaMemcpyBatchAsync / cuMemcpyBatchAsync: one verdict per element. A pageable source
// in stream order is a finding (4096); a pinned one is not; a pageable source whose
// attributes say access order "any" is allowed by attribute (8192), not a finding.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n1 = 4096, n2 = 4096, n3 = 8192;
    tk_stream s = tk_stream_create();
    void *d1 = tk_device_alloc(n1), *d2 = tk_device_alloc(n2), *d3 = tk_device_alloc(n3);
    std::vector<unsigned char> p1(n1), p3(n3), back(n3);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n2));
    tk_fill(p1.data(), n1, 21);
    tk_fill(pinned, n2, 22);
    tk_fill(p3.data(), n3, 23);
    void *dsts[3] = {d1, d2, d3};
    const void *srcs[3] = {p1.data(), pinned, p3.data()};
    size_t sizes[3] = {n1, n2, n3};
    const int order[3] = {1 /* stream */, 1 /* stream */, 3 /* any */};
    TK_CHECK(tk_memcpy_batch_async(dsts, srcs, sizes, 3, order, s));
    tk_stream_sync(s);
    tk_dtoh_sync(back.data(), d3, n3);
    tk_expect_equal(p3.data(), back.data(), n3, "batch element 3");
    tk_free_host(pinned);
    tk_done("batch");
}
