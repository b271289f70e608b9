// A 4-byte scalar read back into a stack variable: a tiny pageable D2H copy.
#include "testkit.h"

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(sizeof(int));
    int init = 42, value = 0;
    tk_htod_sync(dev, &init, sizeof init);
    TK_CHECK(tk_memcpy_async(&value, dev, sizeof value, TK_D2H, s));
    tk_stream_sync(s);
    if (value != 42) TK_FAIL("scalar read back %d", value);
    tk_done("stack_scalar_d2h");
}
