// free, realloc and munmap racing registrations (issue 28, item 3). Four threads
// allocate and free (100 000 rounds each: small blocks, a realloc, and a 256 KiB block,
// which glibc maps and unmaps) while one thread registers and unregisters 64 KiB heap
// blocks among theirs (1 000 times: the granule filter says "maybe" to many of their
// frees, which then ask the registry while it changes) and another registers the first
// 64 KiB of 256 KiB blocks and frees them still registered (50 times). Exactly those 50
// frees are findings, at one site; the correct registrations are one churning place
// (1 000 cycles: counted from the 100th on, 901). The threads start together.
//
// The blocks freed still registered are mapped by the allocator (mmap threshold fixed
// at 128 KiB) and unmapped by its free: a heap block freed still registered would come
// back to the next aligned_alloc, and registering it again fails (712, already
// registered) with the real driver as with fakecuda, which is the hazard itself.
#include "testkit.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

static std::atomic<int> g_arrived{0};

static void barrier(int parties) {
    g_arrived.fetch_add(1);
    while (g_arrived.load() < parties) std::this_thread::yield();
}

static void allocate_and_free(int seed) {
    unsigned x = 2463534242u + seed;
    for (int i = 0; i < 100000; ++i) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        void *a = malloc(16 + x % 2048);
        void *b = malloc(64);
        b = realloc(b, 64 + x % 8192);
        if (i % 64 == 0) {
            void *big = malloc(256 << 10);
            static_cast<char *>(big)[0] = 1;
            free(big);
        }
        free(a);
        free(b);
    }
}

static void register_correctly() {
    for (int i = 0; i < 1000; ++i) {
        void *p = aligned_alloc(4096, 64 << 10);
        tk_register(p, 64 << 10, 0);
        tk_unregister(p);
        free(p);
    }
}

static void release_registered() {
    // All 50 live at once, so at 50 different places: the driver keeps a range freed
    // still registered, and registering a new mapping at that place again would fail.
    void *blocks[50];
    for (void *&p : blocks) {
        p = malloc(256 << 10);
        tk_register(p, 64 << 10, 0);
    }
    for (void *p : blocks) free(p);  // still registered: a finding each
}

int main() {
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
    tk_init();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([t] {
            barrier(6);
            allocate_and_free(t);
        });
    threads.emplace_back([] {
        tk_thread_init();
        barrier(6);
        register_correctly();
    });
    threads.emplace_back([] {
        tk_thread_init();
        barrier(6);
        release_registered();
    });
    for (auto &th : threads) th.join();
    tk_done("release_race");
}
