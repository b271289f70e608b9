// 2D async copies: the host extent is pitch*(height-1)+width bytes.
// Pageable: one finding of 1024*63+1000 = 65512 bytes; pinned: none.
#include "testkit.h"

int main() {
    tk_init();
    const size_t pitch = 1024, width = 1000, height = 64, n = pitch * height;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> pageable(n);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n));
    tk_fill(pageable.data(), n, 15);
    TK_CHECK(tk_memcpy2d_async(dev, pitch, pageable.data(), pitch, width, height, TK_H2D, s));
    TK_CHECK(tk_memcpy2d_async(pinned, pitch, dev, pitch, width, height, TK_D2H, s));
    tk_stream_sync(s);
    for (size_t y = 0; y < height; ++y)
        tk_expect_equal(pageable.data() + y * pitch, pinned + y * pitch, width, "2D rows");
    tk_free_host(pinned);
    tk_done("copy2d");
}
