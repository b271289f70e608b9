// Copies from three call chains, twice each: frames without a frame pointer, frames with
// one, and frames whose size changes from call to call (alloca), which only a walk that
// follows RBP can step over. Three sites, two findings each; pinguard's caching unwinder
// must find the same stacks as the C library's (the cli tests compare them).
#include <alloca.h>

#include "testkit.h"

static tk_stream s;
static void *dev;
static unsigned char *host;

__attribute__((noinline)) static void copy_here() { TK_CHECK(tk_memcpy_async(dev, host, 4096, TK_H2D, s)); }

__attribute__((noinline)) static void plain(int depth) {
    if (depth > 0) plain(depth - 1); else copy_here();
    asm volatile("" ::: "memory");  // no tail call: every level keeps its frame
}

__attribute__((noinline, optimize("no-omit-frame-pointer"))) static void with_frame_pointer(int depth) {
    if (depth > 0) with_frame_pointer(depth - 1); else copy_here();
    asm volatile("" ::: "memory");
}

__attribute__((noinline)) static void with_alloca(size_t n, int depth) {
    volatile unsigned char *scratch = static_cast<unsigned char *>(alloca(n));
    scratch[0] = 1;
    if (depth > 0) with_alloca(n * 3, depth - 1); else with_frame_pointer(2);
    scratch[n - 1] = 2;
}

int main() {
    tk_init();
    s = tk_stream_create();
    dev = tk_device_alloc(4096);
    std::vector<unsigned char> buffer(4096), back(4096);
    host = buffer.data();
    tk_fill(host, 4096, 3);
    volatile int rounds = 2;  // a loop the compiler cannot unroll: one call site per chain
    for (int round = 0; round < rounds; round++) {
        plain(3);
        with_frame_pointer(3);
        with_alloca(16 + round * 40, 3);
    }
    tk_stream_sync(s);
    tk_dtoh_sync(back.data(), dev, 4096);
    tk_expect_equal(host, back.data(), 4096, "H2D");
    tk_done("deep_stacks");
}
