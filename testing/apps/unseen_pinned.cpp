// Memory pinned through a path pinguard does not wrap: the pre-6.5 cuMemHostRegister,
// fetched by version through cuGetProcAddress / cudaGetDriverEntryPointByVersion. The
// registry has never heard of it, so the driver oracle must answer: pinned, no finding.
#include "testkit.h"

typedef int (*legacy_register_fn)(void *, size_t, unsigned int);

int main() {
    tk_init();
    const size_t n = 64 << 10;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *a = static_cast<unsigned char *>(aligned_alloc(4096, n));
    tk_fill(a, n, 26);
    legacy_register_fn reg = reinterpret_cast<legacy_register_fn>(tk_proc_address("cuMemHostRegister", 4000));
    if (!reg) TK_FAIL("no cuMemHostRegister for version 4000");
    TK_CHECK(reg(a, n, 0));
    TK_CHECK(tk_memcpy_async(dev, a, n, TK_H2D, s));
    tk_stream_sync(s);
    tk_unregister(a);
    free(a);
    tk_done("unseen_pinned");
}
