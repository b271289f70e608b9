// Copies captured into CUDA graphs, one capture in each mode (global, thread-local,
// relaxed): the pageable copy of each is a `captured` finding (a site each: three lines
// call the capturing function), the pinned one nothing. The capture must end, instantiate
// and launch as it does without pinguard, so pinguard made no call a capture forbids
// (fakecuda, like the driver, invalidates a capture that sees one). Each graph then runs
// twice after the host buffer changed, and the device must hold the buffer as it was at
// the launch: a captured pageable copy reads the host when the graph runs. One eager copy
// of the same buffer, outside any capture, stays a `pageable` finding.
#include "testkit.h"

static const size_t kBytes = 64 << 10;

__attribute__((noinline)) static tk_graph capture_copies(tk_stream s, int mode, void *dev, const unsigned char *pageable,
                                                         const unsigned char *pinned) {
    TK_CHECK(tk_begin_capture(s, mode));
    TK_CHECK(tk_memcpy_async(dev, pageable, kBytes, TK_H2D, s));                                // captured
    TK_CHECK(tk_memcpy_async(static_cast<unsigned char *>(dev) + kBytes, pinned, kBytes, TK_H2D, s));  // pinned
    tk_graph g = nullptr;
    int rc = tk_end_capture(s, &g);
    if (rc != 0) TK_FAIL("mode %d: the capture ended with %d: something made a call it forbids", mode, rc);
    return tk_instantiate(g);
}

static void launch_and_check(tk_graph e, tk_stream s, void *dev, unsigned char *pageable, int mode) {
    std::vector<unsigned char> back(kBytes);
    for (unsigned char v = 10; v < 12; ++v) {
        tk_fill(pageable, kBytes, v + mode);
        tk_launch(e, s);
        tk_stream_sync(s);
        tk_dtoh_sync(back.data(), dev, kBytes);
        if (memcmp(back.data(), pageable, kBytes) != 0)
            TK_FAIL("mode %d: the graph did not copy the host buffer as it was at launch", mode);
    }
}

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(2 * kBytes);
    std::vector<unsigned char> pageable(kBytes);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(kBytes));
    tk_fill(pinned, kBytes, 5);
    tk_graph global = capture_copies(s, 0, dev, pageable.data(), pinned);
    tk_graph thread_local_ = capture_copies(s, 1, dev, pageable.data(), pinned);
    tk_graph relaxed = capture_copies(s, 2, dev, pageable.data(), pinned);
    launch_and_check(global, s, dev, pageable.data(), 0);
    launch_and_check(thread_local_, s, dev, pageable.data(), 1);
    launch_and_check(relaxed, s, dev, pageable.data(), 2);
    TK_CHECK(tk_memcpy_async(dev, pageable.data(), kBytes, TK_H2D, s));  // eager: pageable
    tk_stream_sync(s);
    tk_graph_exec_destroy(global);
    tk_graph_exec_destroy(thread_local_);
    tk_graph_exec_destroy(relaxed);
    tk_free_host(pinned);
    tk_done("captured_copy");
}
