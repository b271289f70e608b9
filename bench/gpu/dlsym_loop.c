/* dlsym through a libcuda handle (as JAX looks up every driver function): ns per call,
 * for a name pinguard wraps and one it does not. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

static double per_call(void *h, const char *name, int n) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; ++i)
        if (!dlsym(h, name)) return -1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
}

int main(void) {
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    per_call(h, "cuMemcpyHtoDAsync_v2", 10000);  /* warm-up */
    printf("hooked %.1f ns, not hooked %.1f ns", per_call(h, "cuMemcpyHtoDAsync_v2", 200000), per_call(h, "cuMemAlloc_v2", 200000));
    return 0;
}
