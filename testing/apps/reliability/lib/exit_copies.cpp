// A library whose destructor (.fini_array) makes pageable copies at exit. The C library
// finalises a library the program needs after a preloaded one, so these copies come
// after pinguard's summary and cannot be checked: pinguard must count them and say so,
// not drop them without a word.
#include "../common.h"

static rel_copier *copier;

// The library is built with hidden visibility (scripts/dev/build-test-apps.sh): this is its
// one export.
extern "C" __attribute__((visibility("default"))) void exit_copies_arm() {
    tk_init();  // the dlsym backend: its own driver entry points
    copier = new rel_copier();
}

__attribute__((destructor)) static void copies_at_exit() {
    if (!copier) return;
    for (int i = 0; i < 2; ++i) copier->site_c();
}
