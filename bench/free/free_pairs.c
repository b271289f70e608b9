/* malloc/free pairs, timed: what pinguard's free hook costs a program that never
 * releases registered memory (issue 28, item 3). scripts/bench-free.sh runs it without
 * a preload and with pinguard, with 0 and with REGISTERED ranges registered.
 *
 *   free_pairs REGISTERED BATCHES PAIRS_PER_BATCH [leak-one]
 *
 * Each range is 64 KiB registered with cudaHostRegister at the start of its own 2 MiB
 * mapping, so 1000 ranges mark 1000 different granules of pinguard's filter (the worst
 * spread for it); the blocks freed are small heap blocks (16 to 1024 bytes, sixteen per
 * round trip, freed in allocation order). The runtime is opened with dlopen
 * (libcudart.so.13: fakecuda's or CUDA's), so the program needs no CUDA headers.
 *
 * Prints one line: the median ns per pair over the batches, the registered count, and
 * whether any freed block shares a granule slot with a registered range ("collide": a
 * free there costs the registry's exact answer; the figure then is not the filter's).
 * `leak-one` then unmaps one registered range without unregistering it: pinguard must
 * report released_while_registered, which proves the ranges were in its registry while
 * the pairs ran. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define RANGE (64u << 10)
#define SPACING (2u << 20)
#define PER_TRIP 16
/* pinguard's filter: one count per 2 MiB granule, 65 536 slots (core/src/registered_granules.rs). */
#define GRANULE_SHIFT 21
#define SLOTS 65536u

static unsigned slot_of(uintptr_t a) { return (unsigned)((a >> GRANULE_SHIFT) & (SLOTS - 1)); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: free_pairs REGISTERED BATCHES PAIRS_PER_BATCH [leak-one]\n");
        return 2;
    }
    int registered = atoi(argv[1]), batches = atoi(argv[2]), pairs = atoi(argv[3]);
    int leak_one = argc > 4 && strcmp(argv[4], "leak-one") == 0;
    static unsigned char marked[SLOTS];
    void **ranges = calloc((size_t)(registered > 0 ? registered : 1), sizeof(void *));
    if (registered > 0) {
        void *rt = dlopen("libcudart.so.13", RTLD_NOW | RTLD_LOCAL);
        if (!rt) { fprintf(stderr, "free_pairs: %s\n", dlerror()); return 2; }
        int (*host_register)(void *, size_t, unsigned) = (int (*)(void *, size_t, unsigned))dlsym(rt, "cudaHostRegister");
        if (!host_register) { fprintf(stderr, "free_pairs: no cudaHostRegister\n"); return 2; }
        for (int i = 0; i < registered; ++i) {
            void *m = mmap(NULL, SPACING, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) { perror("mmap"); return 2; }
            memset(m, 1, RANGE);
            int rc = host_register(m, RANGE, 0);
            if (rc != 0) { fprintf(stderr, "free_pairs: cudaHostRegister returned %d\n", rc); return 2; }
            ranges[i] = m;
            /* pinguard counts a range's granules and the one before each. */
            uintptr_t lo = (uintptr_t)m, hi = lo + RANGE - 1;
            for (uintptr_t g = (lo >> GRANULE_SHIFT) - 1; g <= (hi >> GRANULE_SHIFT); ++g) marked[g & (SLOTS - 1)] = 1;
        }
    }
    size_t sizes[PER_TRIP];
    for (int k = 0; k < PER_TRIP; ++k) sizes[k] = 16 + (size_t)k * 67;
    void *blocks[PER_TRIP];
    int collide = 0;
    double *ns = malloc(sizeof(double) * (size_t)batches);
    for (int b = -batches / 4 - 1; b < batches; ++b) { /* the first quarter warms up */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < pairs / PER_TRIP; ++i) {
            for (int k = 0; k < PER_TRIP; ++k) {
                blocks[k] = malloc(sizes[k]);
                __asm__ volatile("" : : "r"(blocks[k]) : "memory"); /* keep the pair */
            }
            for (int k = 0; k < PER_TRIP; ++k) free(blocks[k]);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (b >= 0)
            ns[b] = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
                    (double)(pairs / PER_TRIP * PER_TRIP);
    }
    /* Where the freed blocks lie (the allocator hands the same ones out again). */
    for (int k = 0; k < PER_TRIP; ++k) {
        blocks[k] = malloc(sizes[k]);
        collide |= marked[slot_of((uintptr_t)blocks[k])];
    }
    for (int k = 0; k < PER_TRIP; ++k) free(blocks[k]);
    qsort(ns, (size_t)batches, sizeof(double), cmp_double);
    printf("ns_per_pair=%.3f registered=%d collide=%d\n", ns[batches / 2], registered, collide);
    if (leak_one && registered > 0) munmap(ranges[0], SPACING);
    return 0;
}
