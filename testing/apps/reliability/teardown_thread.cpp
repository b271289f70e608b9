// A thread is still copying, at new call sites, when main returns. The summary must be
// the last thing pinguard says, and the process must end.
//
// main waits until the thread has its stream and device buffer: once it has returned,
// the CUDA runtime refuses new work (cudaErrorCudartUnloading), and a thread slow to
// start would fail its stream creation, a failure of this program's, not of pinguard's
// (seen once on the GPU machine, static runtime, 1 run in 10).
#include "common.h"

int main() {
    tk_init();
    std::atomic<bool> ready{false}, go{false};
    std::thread([&] {
        tk_thread_init();
        rel_copier c;
        ready.store(true);
        while (!go.load()) {}
        for (unsigned i = 0;; ++i) c.site(i);
    }).detach();
    while (!ready.load()) {}
    go.store(true);
    usleep(200);
    return 0;
}
