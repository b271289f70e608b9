// Many threads, many mixed operations, with exact accounting: pinned allocations,
// registrations, pinned, pageable and straddling copies, releases, and forks. Each
// thread's operations run in cycles of 32: 0 cudaMallocHost, 1 register, 2 to 29 copies
// in turn (pinned, pageable (a finding), straddling (a finding; CUDA rejects it),
// empty), 30 unregister, 31 cudaFreeHost. (A real driver serialises pinned allocations
// and registrations across threads: one operation in eight keeps a run of 16 threads x
// 1 000 000 operations within ten minutes on the GPU machine.)
// Thread 0 forks a child every `fork_every` operations; each child makes 10 pageable
// copies and exits. Expected, per parent: pageable = straddles = threads * the
// operations i with i % 32 in 3, 7, ..., 27 (7 per full cycle).
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv) {
    tk_init();
    int threads = (int)rel_arg(argc, argv, 1, 16);
    long ops = rel_arg(argc, argv, 2, 1000000);
    long fork_every = rel_arg(argc, argv, 3, 250000);
    std::vector<std::thread> ts;
    std::atomic<long> forks{0};
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            tk_thread_init();
            rel_copier c;
            unsigned char *reg = static_cast<unsigned char *>(aligned_alloc(4096, 8192));
            void *pinned = nullptr;
            for (long i = 0; i < ops; ++i) {
                const long at = i % 32;
                if (at == 0) {
                    pinned = tk_malloc_host(4096);
                } else if (at == 1) {
                    tk_register(reg, 4096, 0);
                } else if (at == 30) {
                    tk_unregister(reg);
                } else if (at == 31) {
                    tk_free_host(pinned);
                } else {
                    switch ((at - 2) % 4) {
                    case 0: TK_CHECK(tk_memcpy_async(c.dev, pinned, 256, TK_H2D, c.s)); break;
                    case 1: (void)c.site_a(); break;
                    case 2: (void)tk_memcpy_async(c.dev, reg + 4096 - 128, 256, TK_H2D, c.s); break;
                    case 3: TK_CHECK(tk_memcpy_async(c.dev, c.host, 0, TK_H2D, c.s)); break;  // empty: no finding
                    }
                }
                if (t == 0 && fork_every > 0 && i > 0 && i % fork_every == 0) {
                    pid_t p = fork();
                    if (p == 0) {
                        for (int k = 0; k < 10; ++k) (void)c.site_b();
                        exit(0);
                    }
                    int status;
                    waitpid(p, &status, 0);
                    forks.fetch_add(1);
                }
            }
            tk_stream_sync(c.s);
            free(reg);
        });
    }
    for (auto &th : ts) th.join();
    printf("stress: threads=%d ops=%ld forks=%ld\n", threads, ops, forks.load());
    return 0;
}
