// The parent makes 100 pageable copies, forks a child that makes 7 and one that makes no
// CUDA call, then makes 1 more. Each process's summary and report are its own: 101, 7,
// and nothing.
#include "common.h"
#include <sys/wait.h>

int main() {
    tk_init();
    rel_copier c;
    for (int i = 0; i < 100; ++i) c.site_a();
    tk_stream_sync(c.s);
    pid_t a = fork();
    if (a == 0) {
        for (int i = 0; i < 7; ++i) c.site_b();
        exit(0);
    }
    pid_t b = fork();
    if (b == 0) exit(0);
    int status;
    waitpid(a, &status, 0);
    waitpid(b, &status, 0);
    c.site_c();
    tk_stream_sync(c.s);
    printf("fork_counts: children %d %d\n", a, b);
    return 0;
}
