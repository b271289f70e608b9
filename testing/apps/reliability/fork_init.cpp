// One thread makes the process's first CUDA call (pinguard initialises) while another
// forks at once; the child makes CUDA calls of its own. The child must not wait for an
// initialisation that, in the child, nobody is running.
#include "common.h"
#include <sys/wait.h>

int main() {
    std::atomic<bool> go{false};
    std::thread first([&] {
        while (!go.load()) {}
        void *p = nullptr;
        (void)cudaMallocHost(&p, 4096);  // results unchecked: see rel_copier
    });
    go.store(true);
    pid_t child = fork();
    if (child == 0) {
        void *p = nullptr;
        (void)cudaMallocHost(&p, 4096);
        unsigned char host[64] = {0};
        (void)cudaMemcpyAsync(p ? p : host, host, sizeof host, cudaMemcpyHostToHost, 0);
        _exit(0);
    }
    first.join();
    for (int i = 0; i < 500; ++i) {  // 5 s
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            printf("fork_init: the child ended (%d)\n", status);
            return 0;
        }
        usleep(10000);
    }
    kill(child, SIGKILL);
    fprintf(stderr, "fork_init: the child hung\n");
    return 3;
}
