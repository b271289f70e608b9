// Threads with small stacks (16, 24, 36 and 64 KiB unless sizes are given) each make
// pageable copies at three new call sites. A program that runs with such stacks without
// pinguard must run with it: pinguard may not build a site where too little stack is
// left, but it must not overflow the stack; every copy is still counted.
// A size the C library refuses (its minimum grows with the static TLS of the loaded
// libraries, a real CUDA driver's among them) is skipped and named on stdout. A size too
// small for CUDA itself crashes without pinguard too: the harness runs each size without
// pinguard first and gives pinguard only the sizes that pass there.
//   small_stack [KIB...]   prints "small_stack: N copies"; exit 0
// With --high-water first, each thread runs on a stack this program maps and paints, and
// the program prints how deep the thread reached: the deepest byte written, counted from
// the stack's top (the C library's thread block and every library's static TLS, which
// glibc carves from the same stack, included). Run with and without pinguard, the two
// numbers say how much of a thread's stack pinguard takes.
//   small_stack --high-water [KIB...]   prints "small_stack: K KiB: used N bytes" per size
// With SMALL_STACK_TRACE=N it also names the first N code addresses (16 if N is empty)
// found upwards from the deepest byte written (return addresses of the deepest calls
// outlive them): who went deepest.
#include "leaves.h"

#include <pthread.h>
#include <sys/mman.h>

#include <vector>

struct job {
    rel_copier *c;
    int first;
};

static void *run(void *arg) {
    job *j = static_cast<job *>(arg);
    for (int k = 0; k < 3; ++k) leaves[j->first + k](*j->c);
    return nullptr;
}

constexpr unsigned char PAINT = 0xa5;

// A thread on a painted stack of `size` bytes (below it a guard page): the bytes it
// wrote, counted from the top; 0 if the C library refused the stack.
static size_t high_water(size_t size, job *j) {
    const size_t guard = size_t(sysconf(_SC_PAGESIZE));
    void *map = mmap(nullptr, size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) return 0;
    unsigned char *low = static_cast<unsigned char *>(map) + guard;
    mprotect(map, guard, PROT_NONE);
    memset(low, PAINT, size);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_t t;
    size_t used = 0;
    if (pthread_attr_setstack(&attr, low, size) == 0 && pthread_create(&t, &attr, run, j) == 0) {
        pthread_join(t, nullptr);
        size_t untouched = 0;
        while (untouched < size && low[untouched] == PAINT) ++untouched;
        used = size - untouched;
        if (const char *trace = getenv("SMALL_STACK_TRACE")) {
            const int want = trace[0] ? atoi(trace) : 16;
            int named = 0;
            for (size_t at = (untouched + 7) & ~size_t(7); at < size && named < want; at += 8) {
                uintptr_t word;
                memcpy(&word, low + at, 8);
                Dl_info info{};
                if (word > 4096 && dladdr(reinterpret_cast<void *>(word), &info) && info.dli_fname &&
                    word - uintptr_t(info.dli_fbase) > 4096) {
                    printf("small_stack:   +%zu %s+0x%lx %s\n", at - untouched, info.dli_fname,
                           (unsigned long)(word - uintptr_t(info.dli_fbase)), info.dli_sname ? info.dli_sname : "");
                    ++named;
                }
            }
        }
    }
    pthread_attr_destroy(&attr);
    munmap(map, size + guard);
    return used;
}

int main(int argc, char **argv) {
    std::vector<size_t> sizes;
    bool paint = argc > 1 && strcmp(argv[1], "--high-water") == 0;
    for (int i = paint ? 2 : 1; i < argc; ++i) sizes.push_back(size_t(atol(argv[i])) << 10);
    if (sizes.empty()) sizes = {16 << 10, 24 << 10, 36 << 10, 64 << 10};
    tk_init();
    rel_copier c;
    c.site_a();  // pinguard starts on the main thread; the small threads take their first findings
    int n = 0;
    for (size_t size : sizes) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        job j{&c, 3 * n};
        if (paint) {
            size_t used = high_water(size, &j);
            if (used == 0) {
                printf("small_stack: a stack of %zu KiB refused by the C library\n", size >> 10);
            } else {
                printf("small_stack: %zu KiB: used %zu bytes\n", size >> 10, used);
                ++n;
            }
            pthread_attr_destroy(&attr);
            continue;
        }
        pthread_t t;
        if (pthread_attr_setstacksize(&attr, size) != 0 || pthread_create(&t, &attr, run, &j) != 0) {
            printf("small_stack: a stack of %zu KiB refused by the C library\n", size >> 10);
            pthread_attr_destroy(&attr);
            continue;
        }
        pthread_join(t, nullptr);
        pthread_attr_destroy(&attr);
        ++n;
    }
    tk_stream_sync(c.s);
    printf("small_stack: %d copies\n", 3 * n + 1);
    return 0;
}
