// One call line, reached again and again: each iteration's stack is the last one's, so
// pinguard replays its walk and may take the site it found for that stack last time.
// That site holds only for the same direction and verdict: a line that copies to the
// device and back in turn has two sites, and one that copies a straddling and a plain
// pageable source in turn has two more, each with its own count.
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
    tk_done("one_line_many_sites");
}
