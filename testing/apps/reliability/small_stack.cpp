// Threads with small stacks (16, 24, 36 and 64 KiB unless sizes are given) each make
// pageable copies at three new call sites. A program that runs with such stacks without
// pinguard must run with it: pinguard may not build a site where too little stack is
// left, but it must not overflow the stack; every copy is still counted.
// A size the C library refuses (its minimum grows with the static TLS of the loaded
// libraries, a real CUDA driver's among them) is skipped and named on stdout. A size too
// small for CUDA itself crashes without pinguard too: the harness runs each size without
// pinguard first and gives pinguard only the sizes that pass there.
//   small_stack [KIB...]   prints "small_stack: N copies"; exit 0
#include "leaves.h"

#include <pthread.h>

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

int main(int argc, char **argv) {
    std::vector<size_t> sizes;
    for (int i = 1; i < argc; ++i) sizes.push_back(size_t(atol(argv[i])) << 10);
    if (sizes.empty()) sizes = {16 << 10, 24 << 10, 36 << 10, 64 << 10};
    tk_init();
    rel_copier c;
    c.site_a();  // pinguard starts on the main thread; the small threads take their first findings
    int n = 0;
    for (size_t size : sizes) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        job j{&c, 3 * n};
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
