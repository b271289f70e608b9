// Children by every route: fork (3 copies), posix_spawn (4), vfork + exec (5),
// system (6); the parent makes 2. Every child inherits the preload and reports its own
// copies only.
#include "common.h"
#include <spawn.h>
#include <string>
#include <sys/wait.h>

extern char **environ;

static void copies(int n) {
    tk_init();
    rel_copier c;
    for (int i = 0; i < n; ++i) c.site_a();
    tk_stream_sync(c.s);
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "child")) {
        copies(atoi(argv[2]));
        return 0;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) TK_FAIL("readlink");
    self[n] = 0;
    copies(2);
    int status;
    pid_t f = fork();
    if (f == 0) {
        rel_copier c;  // CUDA in a forked child: the calls may fail; pinguard still counts them
        for (int i = 0; i < 3; ++i) c.site_b();
        exit(0);
    }
    waitpid(f, &status, 0);
    pid_t s;
    char four[] = "4", five[] = "5", child[] = "child";
    char *spawn_args[] = {self, child, four, nullptr};
    if (posix_spawn(&s, self, nullptr, nullptr, spawn_args, environ) != 0) TK_FAIL("posix_spawn");
    waitpid(s, &status, 0);
    char *vfork_args[] = {self, child, five, nullptr};
    pid_t v = vfork();
    if (v == 0) {
        execv(self, vfork_args);
        _exit(127);
    }
    waitpid(v, &status, 0);
    std::string cmd = std::string("'") + self + "' child 6";
    if (system(cmd.c_str()) != 0) TK_FAIL("system");
    printf("spawner: done\n");
    return 0;
}
