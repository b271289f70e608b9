// 3D async copies: the host extent is pitch*rows*(depth-1) + pitch*(height-1) + width.
// Pageable source: 256*16*3 + 256*15 + 200 = 16328 bytes, one finding; pinned: none.
#include "testkit.h"

int main() {
    tk_init();
    const size_t pitch = 256, rows = 16, w = 200, h = 16, d = 4, n = pitch * rows * d;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> pageable(n);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n));
    tk_fill(pageable.data(), n, 16);
    TK_CHECK(tk_memcpy3d_async(dev, pageable.data(), pitch, rows, w, h, d, TK_H2D, s));
    TK_CHECK(tk_memcpy3d_async(pinned, dev, pitch, rows, w, h, d, TK_D2H, s));
    tk_stream_sync(s);
    for (size_t z = 0; z < d; ++z)
        for (size_t y = 0; y < h; ++y) {
            size_t off = z * pitch * rows + y * pitch;
            tk_expect_equal(pageable.data() + off, pinned + off, w, "3D rows");
        }
    tk_free_host(pinned);
    tk_done("copy3d");
}
