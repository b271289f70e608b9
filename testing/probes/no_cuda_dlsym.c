/* A program without CUDA that checks for it by looking symbols up, and one name it
 * defines itself. Under pinguard it must get exactly the answers it gets without. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

/* The program's own function of a CUDA name (exported with -rdynamic). */
int cudaFreeHost(void *p) { (void)p; return 42; }

static void show(const char *label, void *handle, const char *name) {
    dlerror();
    void *p = dlsym(handle, name);
    const char *err = dlerror();
    const char *what = p == NULL ? "null" : (p == (void *)cudaFreeHost ? "own" : "found");
    printf("%s %s: %s dlerror=%s\n", label, name, what, err ? "set" : "none");
}

int main(void) {
    show("default", RTLD_DEFAULT, "cuGetProcAddress_v2");
    show("default", RTLD_DEFAULT, "cudaMemcpyAsync");
    show("default", RTLD_DEFAULT, "cudaFreeHost");
    show("next", RTLD_NEXT, "cudaMemcpyAsync");
    show("next", RTLD_NEXT, "cuMemcpyHtoDAsync_v2");
    show("default", RTLD_DEFAULT, "printf");
    return 0;
}
