// A batch of one copy that claims 2^40 attributes, with arrays of one: CUDA requires
// numAttrs <= count. pinguard must read no attribute (no verdict for the call) and let
// CUDA decide: the program must end exactly as it does without pinguard.
#include "testkit.h"

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(4096);
    std::vector<unsigned char> host(4096);
    void *dsts[1] = {dev};
    const void *srcs[1] = {host.data()};
    size_t sizes[1] = {host.size()};
    int rc = tk_memcpy_batch_raw(dsts, srcs, sizes, 1, size_t(1) << 40, s);
    printf("hostile_batch_attrs: the batch returned %d\n", rc);
    tk_done("hostile_batch_attrs");
}
