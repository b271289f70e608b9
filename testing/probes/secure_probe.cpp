// A privileged (setgid) program that links pinguard directly (the loader ignores
// LD_PRELOAD paths in a privileged process) and makes a pageable copy. An unprivileged
// caller's PINGUARD_OPTIONS must not steer it: no abort, no report file.
#include "testkit.h"

int main() {
    tk_init();
    const size_t n = 4096;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    std::vector<unsigned char> host(n);
    TK_CHECK(tk_memcpy_async(dev, host.data(), n, TK_H2D, s));
    tk_stream_sync(s);
    tk_done("secure_probe");
}
