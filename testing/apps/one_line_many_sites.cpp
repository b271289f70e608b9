// One call line, reached again and again: each iteration's stack is the last one's, so
// pinguard replays its walk and may take the site it found for that stack last time.
// That site holds only for the same direction and verdict: a line that copies to the
// device and back in turn has two sites, and one that copies a straddling and a plain
// pageable source in turn has two more, each with its own count. Last, one batch line:
// twice a pageable element alone, then the same with an element its attributes allow, so
// that a call whose stack is known for its first record's site has a second record of
// another kind (a site of its own, with its stack).
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 64 << 10, page = 4096, reg = 1 << 20, edge = 8192;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> out(n), back(n);
    tk_fill(out.data(), n, 21);
    for (int i = 0; i < 4; i++) {
        bool up = i % 2 == 0;
        void *dst = up ? dev : static_cast<void *>(back.data());
        const void *src = up ? static_cast<const void *>(out.data()) : dev;
        TK_CHECK(tk_memcpy_async(dst, src, n, TK_DEFAULT, s)); // pageable H2D, then D2H
    }
    tk_stream_sync(s);
    tk_expect_equal(out.data(), back.data(), n, "round trip on one line");

    unsigned char *a = static_cast<unsigned char *>(aligned_alloc(page, 2 << 20));
    tk_fill(a, 2 << 20, 22);
    tk_register(a + page, reg, 0); // [page, page + reg)
    for (int i = 0; i < 4; i++) {
        bool edge_first = i % 2 == 0;
        // Starting inside the range and running past its end: rejected, straddles.
        // Starting before it: a pageable copy.
        const unsigned char *src = edge_first ? a + reg : a;
        int rc = tk_memcpy_async(dev, src, edge, TK_H2D, s);
        int want = edge_first ? tk_error_invalid_value() : 0;
        if (rc != want) TK_FAIL("copy %d returned %d, expected %d", i, rc, want);
    }
    tk_stream_sync(s);
    tk_unregister(a + page);
    free(a);

    const size_t small = 4096, big = 8192;
    std::vector<unsigned char> p1(small), p2(big);
    tk_fill(p1.data(), small, 23);
    tk_fill(p2.data(), big, 24);
    void *d2 = tk_device_alloc(big);
    void *dsts[2] = {dev, d2};
    const void *srcs[2] = {p1.data(), p2.data()};
    size_t sizes[2] = {small, big};
    const int order[2] = {1 /* stream */, 3 /* any: allowed */};
    for (int i = 0; i < 3; i++) {
        size_t count = i < 2 ? 1 : 2;
        TK_CHECK(tk_memcpy_batch_async(dsts, srcs, sizes, count, order, s));
    }
    tk_stream_sync(s);
    tk_done("one_line_many_sites");
}
