// The parent makes 100 pageable copies, then forks with the raw system call (no
// pthread_atfork handler runs, as in runtimes that fork without the C library); the
// child makes 10 of its own and exits. Each must report its own work only: the child 10,
// not the parent's 100 as well.
//   raw_fork     prints "raw_fork: parent 100, child 10"
#include "common.h"

#include <sys/syscall.h>
#include <sys/wait.h>

int main() {
    tk_init();
    rel_copier c;
    for (int i = 0; i < 100; ++i) c.site_a();
    tk_stream_sync(c.s);
    fflush(stdout);
    long child = syscall(SYS_fork);
    if (child == 0) {
        for (int i = 0; i < 10; ++i) c.site_b();
        exit(0);  // a normal exit: the child's summary
    }
    int status = 0;
    waitpid((pid_t)child, &status, 0);
    printf("raw_fork: parent 100, child 10 (child ended %d)\n", status);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 4;
}
