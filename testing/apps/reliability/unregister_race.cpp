// Four threads release the same registration at once; CUDA accepts one and refuses the
// others. Then the buffer is copied: pageable, every time. A release CUDA refused must
// not bring the range back (the one that took the range out of pinguard's registry is
// often not the one CUDA accepted).
#include "common.h"
#include <pthread.h>

int main(int argc, char **argv) {
    tk_init();
    long iterations = rel_arg(argc, argv, 1, 20000);
    rel_copier c;
    unsigned char *buf = static_cast<unsigned char *>(aligned_alloc(4096, 4096));
    pthread_barrier_t start, done;
    const int releasers = 4;
    pthread_barrier_init(&start, nullptr, releasers + 1);
    pthread_barrier_init(&done, nullptr, releasers + 1);
    std::atomic<bool> stop{false};
    auto releaser = [&] {
        tk_thread_init();
        for (;;) {
            pthread_barrier_wait(&start);
            if (stop.load()) return;
            (void)cudaHostUnregister(buf);  // all but one are refused
            pthread_barrier_wait(&done);
        }
    };
    std::vector<std::thread> ts;
    for (int i = 0; i < releasers; ++i) ts.emplace_back(releaser);
    for (long i = 0; i < iterations; ++i) {
        tk_register(buf, 4096, 0);
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
        (void)tk_memcpy_async(c.dev, buf, 256, TK_H2D, c.s);  // pageable again
    }
    stop.store(true);
    pthread_barrier_wait(&start);
    for (auto &t : ts) t.join();
    tk_stream_sync(c.s);
    printf("unregister_race: %ld iterations\n", iterations);
    return 0;
}
