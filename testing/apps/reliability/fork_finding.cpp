// A thread takes its first finding at a new call site (its unwind rules are read from
// the loader's tables then) while the main thread forks, at a sweep of delays; each
// child makes a copy at a new site of its own (rules read again, in the child) and
// exits. No child may hang: a lock the parent's other thread held at the fork (the
// loader's, in dl_iterate_phdr) must not be inherited held.
//   fork_finding ROUNDS   prints "fork_finding: N children, H hung"; exit 3 if any hung
#include "leaves.h"

#include <sys/wait.h>

int main(int argc, char **argv) {
    tk_init();
    int rounds = (int)rel_arg(argc, argv, 1, 120);
    if (rounds > LEAVES / 2) rounds = LEAVES / 2;
    rel_copier c;
    c.site_a();  // pinguard starts, and its first site is built, before the sweep
    int hung = 0;
    for (int i = 0; i < rounds; ++i) {
        std::atomic<bool> copying{false};
        std::thread t([&] {
            copying.store(true);
            leaves[i](c);  // a new site: rule lookups, symbolisation
        });
        while (!copying.load()) {}
        // A sweep of delays: from 0 to about 300 us (somewhere in the thread's new site),
        // and 2 to 5 ms (inside a rule lookup that a test build holds 20 ms in the
        // loader's lock: PINGUARD_TEST_SLOW_RULES).
        if (i % 2) {
            for (volatile int spin = 0; spin < (i % 60) * 400; ++spin) {}
        } else {
            usleep(2000 + (i % 60) * 50);
        }
        pid_t child = fork();
        if (child == 0) {
            leaves[LEAVES / 2 + i](c);  // a new site in the child
            _exit(0);
        }
        t.join();
        bool done = false;
        for (int w = 0; w < 300 && !done; ++w) {  // 3 s
            int status;
            if (waitpid(child, &status, WNOHANG) == child) done = true;
            else usleep(10000);
        }
        if (!done) {
            ++hung;
            kill(child, SIGKILL);
            waitpid(child, nullptr, 0);
        }
    }
    printf("fork_finding: %d children, %d hung\n", rounds, hung);
    return hung ? 3 : 0;
}
