// Driver functions fetched at run time by name (cudaGetDriverEntryPoint /
// ...ByVersion, or cuGetProcAddress in driver builds), default and per-thread variants,
// then called with a pageable source: two findings, the second on the per-thread
// default stream.
#include "testkit.h"

typedef int (*htod_fn)(unsigned long long, const void *, size_t, void *);

int main() {
    tk_init();
    const size_t n = 32 << 10;
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> pageable(n);
    tk_fill(pageable.data(), n, 27);
    htod_fn legacy = reinterpret_cast<htod_fn>(tk_entry_point("cuMemcpyHtoDAsync", false));
    htod_fn per_thread = reinterpret_cast<htod_fn>(tk_entry_point("cuMemcpyHtoDAsync", true));
    if (!legacy || !per_thread || legacy == per_thread) TK_FAIL("expected two distinct entry points");
    tk_stream s = tk_stream_create();
    unsigned long long d = reinterpret_cast<uintptr_t>(dev);
    TK_CHECK(legacy(d, pageable.data(), n, s));
    TK_CHECK(per_thread(d, pageable.data(), n, nullptr));
    tk_stream_sync(s);
    tk_done("entry_points");
}
