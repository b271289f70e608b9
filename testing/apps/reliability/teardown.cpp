// Copies made late: in a static object's destructor, and in an atexit handler registered
// after pinguard started. The summary must come after them and count them: 3 in all.
#include "common.h"

static rel_copier *g_copier;

struct late_copier {
    ~late_copier() {
        if (g_copier) g_copier->site_a();
    }
};
static late_copier g_late;  // constructed before main: destroyed after it

static void at_exit_copy() { g_copier->site_b(); }

int main() {
    tk_init();
    g_copier = new rel_copier;
    g_copier->site_c();
    atexit(at_exit_copy);
    printf("teardown: main returns\n");
    return 0;
}
