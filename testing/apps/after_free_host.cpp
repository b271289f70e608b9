// After cudaFreeHost the address range is no longer pinned. The app maps ordinary pages
// at the freed address (MAP_FIXED_NOREPLACE) and copies from them: one finding. Where the
// address cannot be reused, it copies from a fresh malloc buffer so the count stays
// the same, and says so.
#include "testkit.h"
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

int main() {
    tk_init();
    const size_t block = 2 << 20, n = 64 << 10;
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(n);
    unsigned char *p = static_cast<unsigned char *>(tk_malloc_host(block));
    tk_fill(p, n, 8);
    TK_CHECK(tk_memcpy_async(dev, p, n, TK_H2D, s));  // pinned
    tk_stream_sync(s);
    tk_free_host(p);
    void *q = mmap(p, block, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (q == p) {
        printf("after_free_host: reused the freed address %p\n", q);
    } else {
        if (q != MAP_FAILED) munmap(q, block);
        q = malloc(n);
        printf("after_free_host: freed address not reusable here; copying from a new buffer\n");
    }
    tk_fill(q, n, 9);
    TK_CHECK(tk_memcpy_async(dev, q, n, TK_H2D, s));  // pageable
    tk_stream_sync(s);
    tk_done("after_free_host");
}
