// Three pageable copies at three sites, then the process leaves one way or another:
//   return | exit_thread | _exit | abort | sigterm | sigterm_handler | sigint | crash
//   | sigkill | sleep (30 s, for a test to interrupt)
// At most one summary, last, counting all three; the report valid; no hang.
#include "common.h"

static void exit_from_handler(int) { exit(0); }

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "return";
    tk_init();
    rel_copier c;
    c.site_a();
    c.site_b();
    c.site_c();
    tk_stream_sync(c.s);
    if (!strcmp(how, "exit_thread")) {
        std::thread([] { exit(0); }).join();
    } else if (!strcmp(how, "_exit")) {
        _exit(0);
    } else if (!strcmp(how, "abort")) {
        abort();
    } else if (!strcmp(how, "sigterm")) {
        raise(SIGTERM);
    } else if (!strcmp(how, "sigterm_handler")) {
        signal(SIGTERM, exit_from_handler);
        raise(SIGTERM);
    } else if (!strcmp(how, "sigint")) {
        raise(SIGINT);
    } else if (!strcmp(how, "sigkill")) {
        raise(SIGKILL);
    } else if (!strcmp(how, "sleep")) {
        sleep(30);
    } else if (!strcmp(how, "crash")) {
        volatile int *p = nullptr;
        *p = 1;
    }
    return 0;
}
