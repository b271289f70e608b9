// 2D copies to and from a CUDA array (cudaMemcpy2DToArrayAsync / FromArrayAsync, or
// cuMemcpy2DAsync with an array operand): pageable source 256*31+256 = 8192 bytes is a
// finding, a pinned destination is not.
#include "testkit.h"

int main() {
    tk_init();
    const size_t w = 256, h = 32, pitch = 256, n = pitch * h;
    tk_stream s = tk_stream_create();
    tk_array arr = tk_array_create(w, h);
    std::vector<unsigned char> pageable(n);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n));
    tk_fill(pageable.data(), n, 18);
    TK_CHECK(tk_memcpy_to_array_async(arr, pageable.data(), pitch, w, h, s));
    TK_CHECK(tk_memcpy_from_array_async(pinned, pitch, arr, w, h, s));
    tk_stream_sync(s);
    tk_expect_equal(pageable.data(), pinned, n, "array round trip");
    tk_free_host(pinned);
    tk_done("array2d");
}
