// A timer's signal handler makes pageable copies, each at a new call site, while the
// main thread allocates and frees in a loop (so the handler often interrupts malloc).
// CUDA promises no async-signal safety, but the copy itself does not crash without
// pinguard: pinguard must not add a crash (a new site built inside the handler must not
// re-enter the C library's allocator).
//   signal_copy MS   runs MS milliseconds; prints "signal_copy: N copies in handlers"
#include "leaves.h"

#include <sys/time.h>

static rel_copier *copier;
static std::atomic<int> taken{0};

static void on_alarm(int) {
    int n = taken.fetch_add(1);
    leaves[n % LEAVES](*copier);
}

int main(int argc, char **argv) {
    tk_init();
    long ms = rel_arg(argc, argv, 1, 300);
    rel_copier c;
    copier = &c;
    c.site_a();
    struct sigaction sa {};
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, nullptr);
    itimerval tv{};
    tv.it_interval.tv_usec = 500;
    tv.it_value.tv_usec = 500;
    setitimer(ITIMER_REAL, &tv, nullptr);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    unsigned seed = 7;
    void *keep[64] = {};
    while (std::chrono::steady_clock::now() < until) {
        for (int i = 0; i < 64; ++i) {
            seed = seed * 1103515245u + 12345u;
            free(keep[i]);
            keep[i] = malloc(16 + seed % 4096);
        }
    }
    itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    for (void *p : keep) free(p);
    printf("signal_copy: %d copies in handlers\n", taken.load());
    return 0;
}
