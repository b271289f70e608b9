/* First library in the search order: defines probe_value and asks for the *next* one. */
#include <dlfcn.h>
int probe_value(void) { return 1; }
int next_probe(void) {
    int (*next)(void) = (int (*)(void))dlsym(RTLD_NEXT, "probe_value");
    return next ? next() : -1;
}
