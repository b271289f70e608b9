/* The floor for scripts/bench-free.sh: an interposer of free(3) that does nothing but
 * forward to the next definition (RTLD_NEXT), as pinguard's does when nothing is
 * registered. What any interposer of free pays; pinguard minus this is pinguard's own. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

static void (*next_free)(void *);

void free(void *p) {
    if (!next_free) {
        next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
        if (!next_free) return; /* inside its own lookup: the block stays allocated */
    }
    next_free(p);
}
