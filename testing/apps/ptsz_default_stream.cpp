// Built for the per-thread default stream (nvcc --default-stream per-thread): every call
// is the _ptsz variant. A pageable copy on stream 0 is a finding on the per-thread
// default stream.
#ifndef CUDA_API_PER_THREAD_DEFAULT_STREAM
#define CUDA_API_PER_THREAD_DEFAULT_STREAM 1
#endif
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 64 << 10;
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> pageable(n);
    tk_fill(pageable.data(), n, 25);
    TK_CHECK(tk_memcpy_async(dev, pageable.data(), n, TK_H2D, nullptr));
    tk_stream_sync(nullptr);
    tk_done("ptsz_default_stream");
}
