// Copies on the legacy default stream (stream 0, built without per-thread default
// streams): the summary notes each (legacy_stream), pinned or not, as the stream itself
// serialises with every blocking stream; only the pageable one is a finding. A copy on a
// stream of the program's own is not noted.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 64 << 10;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> pageable(n);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n));
    tk_fill(pageable.data(), n, 3);
    TK_CHECK(tk_memcpy_async(dev, pinned, n, TK_H2D, nullptr));           // legacy, pinned
    TK_CHECK(tk_memcpy_async(pinned, dev, n, TK_D2H, nullptr));           // legacy, pinned
    TK_CHECK(tk_memcpy_async(dev, pageable.data(), n, TK_H2D, nullptr));  // legacy, pageable
    TK_CHECK(tk_memcpy_async(dev, pinned, n, TK_H2D, s));                 // own stream
    tk_stream_sync(nullptr);
    tk_stream_sync(s);
    tk_free_host(pinned);
    tk_done("legacy_stream");
}
