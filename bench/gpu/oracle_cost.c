// What pinguard's driver oracle costs on the real driver: cuPointerGetAttributes with the
// two attributes pinguard asks (memory type, is-managed) on pageable memory, the query
// every pageable copy makes (the registry has no range for it, and only the driver can
// say whether a path pinguard did not see pinned it). Also the clock read pinguard makes
// twice per finding (blocked time). Prints ns per call, median of 7 batches. For
// comparison, the same query with one attribute and the singular cuPointerGetAttribute
// (what a cheaper oracle would cost), what the memory-type attribute says of managed and
// pinned memory (whether one attribute could tell them apart), and a TSC read.
//   gcc -O2 bench/gpu/oracle_cost.c -o oracle_cost -ldl && ./oracle_cost
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

typedef int (*init_fn)(unsigned);
typedef int (*get_fn)(int *, int);
typedef int (*retain_fn)(void **, int);
typedef int (*set_fn)(void *);
typedef int (*attrs_fn)(unsigned, unsigned *, void **, unsigned long long);
typedef int (*attr_fn)(void *, unsigned, unsigned long long);
typedef int (*alloc_fn)(unsigned long long *, size_t, unsigned);
typedef int (*host_fn)(void **, size_t);

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW);
    if (!cuda) { fprintf(stderr, "no libcuda\n"); return 1; }
    init_fn cu_init = (init_fn)dlsym(cuda, "cuInit");
    get_fn device_get = (get_fn)dlsym(cuda, "cuDeviceGet");
    retain_fn retain = (retain_fn)dlsym(cuda, "cuDevicePrimaryCtxRetain");
    set_fn set_current = (set_fn)dlsym(cuda, "cuCtxSetCurrent");
    attrs_fn attrs = (attrs_fn)dlsym(cuda, "cuPointerGetAttributes");
    int dev;
    void *ctx;
    if (cu_init(0) || device_get(&dev, 0) || retain(&ctx, dev) || set_current(ctx)) { fprintf(stderr, "no context\n"); return 1; }
    attr_fn attr = (attr_fn)dlsym(cuda, "cuPointerGetAttribute");
    alloc_fn managed_alloc = (alloc_fn)dlsym(cuda, "cuMemAllocManaged");
    host_fn host_alloc = (host_fn)dlsym(cuda, "cuMemAllocHost_v2");
    unsigned char *host = malloc(4096);
    const int n = 200000;
    double batch[7], one[7], singular[7], clocks[7], tsc[7];
    volatile double sink = 0;
    volatile unsigned long long tsink = 0;
    for (int b = 0; b < 7; ++b) {
        unsigned which[2] = {2 /* MEMORY_TYPE */, 8 /* IS_MANAGED */};
        unsigned kind = 0, managed = 0;
        void *data[2] = {&kind, &managed};
        double t0 = now_ns();
        for (int i = 0; i < n; ++i) attrs(2, which, data, (unsigned long long)(uintptr_t)(host + (i & 63)));
        batch[b] = (now_ns() - t0) / n;
        t0 = now_ns();
        for (int i = 0; i < n; ++i) attrs(1, which, data, (unsigned long long)(uintptr_t)(host + (i & 63)));
        one[b] = (now_ns() - t0) / n;
        t0 = now_ns();
        for (int i = 0; i < n; ++i) attr(&kind, 2, (unsigned long long)(uintptr_t)(host + (i & 63)));
        singular[b] = (now_ns() - t0) / n;
        t0 = now_ns();
        for (int i = 0; i < n; ++i) sink += now_ns();
        clocks[b] = (now_ns() - t0) / n;
        t0 = now_ns();
        for (int i = 0; i < n; ++i) tsink += __rdtsc();
        tsc[b] = (now_ns() - t0) / n;
    }
    qsort(batch, 7, sizeof(double), cmp);
    qsort(one, 7, sizeof(double), cmp);
    qsort(singular, 7, sizeof(double), cmp);
    qsort(clocks, 7, sizeof(double), cmp);
    qsort(tsc, 7, sizeof(double), cmp);
    printf("cuPointerGetAttributes (memory type, is-managed) on pageable memory: %.1f ns per call (median of 7 x %d)\n", batch[3], n);
    printf("cuPointerGetAttributes (memory type only) on pageable memory: %.1f ns per call\n", one[3]);
    printf("cuPointerGetAttribute (singular, memory type) on pageable memory: %.1f ns per call\n", singular[3]);
    printf("clock_gettime(CLOCK_MONOTONIC): %.1f ns per call\n", clocks[3]);
    printf("rdtsc: %.1f ns per call\n", tsc[3]);
    unsigned long long m = 0;
    void *pinned = NULL;
    if (managed_alloc && !managed_alloc(&m, 4096, 1 /* CU_MEM_ATTACH_GLOBAL */) && host_alloc && !host_alloc(&pinned, 4096)) {
        unsigned which[2] = {2, 8};
        unsigned kind = 99, is_managed = 99;
        void *data[2] = {&kind, &is_managed};
        int rc = attrs(2, which, data, m);
        printf("managed memory: rc %d, memory type %u, is-managed %u\n", rc, kind, is_managed);
        kind = 99, is_managed = 99;
        rc = attrs(2, which, data, (unsigned long long)(uintptr_t)pinned);
        printf("pinned memory: rc %d, memory type %u, is-managed %u\n", rc, kind, is_managed);
    }
    return 0;
}
