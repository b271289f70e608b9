// Threads copy pageable memory without pause; a SIGTERM lands on one of them at a random
// moment (often inside pinguard) and its handler calls exit(). The process must exit 0:
// nothing pinguard runs at exit may wait on a lock the interrupted thread holds.
#include "common.h"
#include <pthread.h>
#include <random>

static void on_term(int) { exit(0); }

int main(int argc, char **argv) {
    tk_init();
    int threads = (int)rel_arg(argc, argv, 1, 4);
    signal(SIGTERM, on_term);
    std::vector<pthread_t> ids(threads);
    std::atomic<int> started{0};
    for (int t = 0; t < threads; ++t) {
        pthread_create(&ids[t], nullptr, [](void *p) -> void * {
            tk_thread_init();
            rel_copier c;
            static_cast<std::atomic<int> *>(p)->fetch_add(1);
            for (unsigned i = 0;; ++i) c.site(i);
            return nullptr;
        }, &started);
    }
    while (started.load() < threads) std::this_thread::yield();
    std::random_device rd;
    usleep(1000 + rd() % 20000);
    pthread_kill(ids[rd() % threads], SIGTERM);
    for (;;) pause();
}
