// A batch whose count (2^40) is far larger than its arrays (one element each, followed by
// an unmapped page). pinguard must read none of it and let CUDA decide: the program must
// end exactly as it does without pinguard (the driver rejects it or faults on it).
#include "testkit.h"
#include <sys/mman.h>

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(4096);
    // Each array: one page, then a page that faults.
    auto guarded = [](size_t elem) {
        unsigned char *p = static_cast<unsigned char *>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE,
                                                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (p == MAP_FAILED || mprotect(p + 4096, 4096, PROT_NONE) != 0) TK_FAIL("mmap");
        return reinterpret_cast<void *>(p + 4096 - elem);  // the last element of the page
    };
    std::vector<unsigned char> host(4096);
    void **dsts = static_cast<void **>(guarded(sizeof(void *)));
    const void **srcs = static_cast<const void **>(guarded(sizeof(void *)));
    size_t *sizes = static_cast<size_t *>(guarded(sizeof(size_t)));
    dsts[0] = dev;
    srcs[0] = host.data();
    sizes[0] = host.size();
    int rc = tk_memcpy_batch_raw(dsts, srcs, sizes, size_t(1) << 40, 1, s);
    printf("hostile_batch_count: the batch returned %d\n", rc);
    tk_done("hostile_batch_count");
}
