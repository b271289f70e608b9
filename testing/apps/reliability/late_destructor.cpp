// Copies at exit from three places: an atexit handler and a static destructor of the
// program (both before pinguard's summary: counted), and a library's static destructor
// (after the summary: lib/exit_copies.cpp). None may be dropped without a word.
//   link: exit_copies
#include "common.h"

extern "C" void exit_copies_arm();

static rel_copier *copier;

struct program_exit {
    ~program_exit() {
        if (copier) copier->site_b();
    }
} program_exit_object;

int main() {
    tk_init();
    copier = new rel_copier();
    exit_copies_arm();
    atexit([] { copier->site_a(); });
    copier->site(3);
    tk_stream_sync(copier->s);
    printf("late_destructor: exiting\n");
    return 0;
}
