// A thread is still copying, at new call sites, when main returns. The summary must be
// the last thing pinguard says, and the process must end.
#include "common.h"

int main() {
    tk_init();
    std::atomic<bool> go{false};
    std::thread([&] {
        tk_thread_init();
        rel_copier c;
        while (!go.load()) {}
        for (unsigned i = 0;; ++i) c.site(i);
    }).detach();
    go.store(true);
    usleep(200);
    return 0;
}
