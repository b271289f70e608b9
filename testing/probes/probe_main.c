/* Prints what dlsym answers for RTLD_NEXT (from a library), RTLD_DEFAULT and a handle.
 * Under pinguard the answers must be the same as without it. */
#include <dlfcn.h>
#include <stdio.h>
int next_probe(void);
int probe_value(void);
int main(void) {
    int (*def)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "probe_value");
    void *h = dlopen("libprobe_second.so", RTLD_NOW | RTLD_NOLOAD);
    int (*by_handle)(void) = h ? (int (*)(void))dlsym(h, "probe_value") : 0;
    void *missing = dlsym(RTLD_DEFAULT, "no_such_symbol_anywhere");
    const char *err = dlerror();
    printf("next=%d default=%d handle=%d missing=%s dlerror=%s\n", next_probe(), def ? def() : -1,
           by_handle ? by_handle() : -1, missing ? "found" : "null", err ? "set" : "unset");
    return 0;
}
