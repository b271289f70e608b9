/* The floor: the least an interposer of CUDA's copies can cost. It is preloaded like
 * libpinguard.so and reaches the same calls by the same routes (the runtime's exported
 * cudaMemcpyAsync for a shared runtime; dlsym and cuGetProcAddress, its self-lookup
 * answered, for a static one), forwards each to the real function untouched, and does
 * nothing else. pinguard's overhead is reported against it: what it costs beyond the
 * price of being there at all.
 *
 * With FLOOR_EXACT_FROM=BYTES it also does, for each copy of at least BYTES, the fixed
 * parts of an exact, timed finding and nothing more: the driver query on the copy's host
 * side (cuPointerGetAttributes, memory type and is-managed, as pinguard asks it) and a
 * time-stamp counter read on each side of the real call. In the pageable pair loop
 * (bench/gpu/copy_loop.cu: copies of BYTES and BYTES - 1 alternate in one process), the
 * difference is what those parts cost where a finding pays them: after the last copy's
 * driver work, not in a loop of queries alone.
 *
 *   cc -O2 -shared -fPIC -Wl,-Bsymbolic-functions bench/floor/floor.c -o libfloor.so -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

typedef int (*memcpy_async_fn)(void *, const void *, size_t, int, void *);
typedef int (*htod_fn)(unsigned long long, const void *, size_t, void *);
typedef int (*dtoh_fn)(void *, unsigned long long, size_t, void *);
typedef int (*gpa_fn)(const char *, void **, int, unsigned long long, int *);
typedef void *(*dlsym_fn)(void *, const char *);

static dlsym_fn real_dlsym(void) {
    static dlsym_fn f;
    if (!f) f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!f) f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    return f;
}

/* FLOOR_EXACT_FROM: 0 (unset) or the least size that gets the exact, timed parts; read
 * before main, so that the plain path tests one word. */
static size_t exact_from;
__attribute__((constructor)) static void read_exact_from(void) {
    const char *v = getenv("FLOOR_EXACT_FROM");
    exact_from = v ? strtoull(v, NULL, 10) : 0;
}

typedef int (*attrs_fn)(unsigned, int *, void **, unsigned long long);
/* The copies' time, summed, so that the reads are not optimised away; and how many
 * copies got the exact parts and how many queries the driver answered (said at exit, so
 * that a run whose query never reached the driver shows it). */
volatile uint64_t floor_ticks;
static uint64_t exact_copies, queries_answered;
/* One layer does the exact parts of a copy: the runtime's call reaches the driver's
 * wrapper below on the same thread. */
static __thread int in_copy;

/* The driver query on `host`, as a finding's verdict needs it. */
static void query(const void *host) {
    static attrs_fn attrs;
    if (!attrs) {
        void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
        if (drv) attrs = (attrs_fn)real_dlsym()(drv, "cuPointerGetAttributes");
        if (!attrs) return;
    }
    int which[2] = {2 /* CU_POINTER_ATTRIBUTE_MEMORY_TYPE */, 8 /* CU_POINTER_ATTRIBUTE_IS_MANAGED (cuda.h) */};
    unsigned kind = 0, managed = 0;
    void *data[2] = {&kind, &managed};
    if (attrs(2, which, data, (unsigned long long)(uintptr_t)host) == 0) queries_answered++;
}

__attribute__((destructor)) static void say_counts(void) {
    if (exact_from) fprintf(stderr, "floor: exact_copies=%llu queries_answered=%llu\n",
                            (unsigned long long)exact_copies, (unsigned long long)queries_answered);
}

/* The body of an exact wrapper: `call` (the real copy), with the exact, timed parts
 * first if this copy gets them. Only the exact wrappers and the exact runtime path use
 * it: the plain ones stay single tail calls, the floor's cost unchanged. */
#define EXACT(host, n, call)                                           \
    do {                                                               \
        if ((n) < exact_from || in_copy) return (call);                \
        in_copy = 1;                                                   \
        exact_copies++;                                                \
        query(host);                                                   \
        uint64_t t0_ = __rdtsc();                                      \
        int rc_ = (call);                                              \
        floor_ticks += __rdtsc() - t0_;                                \
        in_copy = 0;                                                   \
        return rc_;                                                    \
    } while (0)

/* Runtime layer (shared runtime). */
static memcpy_async_fn real_memcpy_async;

__attribute__((noinline)) static int memcpy_async_exact(void *dst, const void *src, size_t n, int kind, void *stream) {
    EXACT(kind == 2 ? (const void *)dst : src, n, real_memcpy_async(dst, src, n, kind, stream));
}

int cudaMemcpyAsync(void *dst, const void *src, size_t n, int kind, void *stream) {
    if (!real_memcpy_async) real_memcpy_async = (memcpy_async_fn)real_dlsym()(RTLD_NEXT, "cudaMemcpyAsync");
    if (exact_from) return memcpy_async_exact(dst, src, n, kind, stream);
    return real_memcpy_async(dst, src, n, kind, stream);
}

/* Driver layer, handed out by cuGetProcAddress (static runtime): the plain wrappers, or
 * with FLOOR_EXACT_FROM the exact ones. */
static htod_fn real_htod, real_htod_pt;
static dtoh_fn real_dtoh, real_dtoh_pt;
static gpa_fn real_gpa;

static int floor_htod(unsigned long long d, const void *s, size_t n, void *st) { return real_htod(d, s, n, st); }
static int floor_htod_pt(unsigned long long d, const void *s, size_t n, void *st) { return real_htod_pt(d, s, n, st); }
static int floor_dtoh(void *d, unsigned long long s, size_t n, void *st) { return real_dtoh(d, s, n, st); }
static int floor_dtoh_pt(void *d, unsigned long long s, size_t n, void *st) { return real_dtoh_pt(d, s, n, st); }
static int exact_htod(unsigned long long d, const void *s, size_t n, void *st) { EXACT(s, n, real_htod(d, s, n, st)); }
static int exact_htod_pt(unsigned long long d, const void *s, size_t n, void *st) { EXACT(s, n, real_htod_pt(d, s, n, st)); }
static int exact_dtoh(void *d, unsigned long long s, size_t n, void *st) { EXACT(d, n, real_dtoh(d, s, n, st)); }
static int exact_dtoh_pt(void *d, unsigned long long s, size_t n, void *st) { EXACT(d, n, real_dtoh_pt(d, s, n, st)); }

static int floor_gpa(const char *sym, void **pfn, int version, unsigned long long flags, int *status) {
    int rc = real_gpa(sym, pfn, version, flags, status);
    if (rc != 0 || !pfn || !*pfn) return rc;
    int pt = (flags & 2) != 0;
    if (!strcmp(sym, "cuGetProcAddress")) {
        *pfn = (void *)floor_gpa;
    } else if (!strcmp(sym, "cuMemcpyHtoDAsync")) {
        if (pt) { real_htod_pt = (htod_fn)*pfn; *pfn = exact_from ? (void *)exact_htod_pt : (void *)floor_htod_pt; }
        else { real_htod = (htod_fn)*pfn; *pfn = exact_from ? (void *)exact_htod : (void *)floor_htod; }
    } else if (!strcmp(sym, "cuMemcpyDtoHAsync")) {
        if (pt) { real_dtoh_pt = (dtoh_fn)*pfn; *pfn = exact_from ? (void *)exact_dtoh_pt : (void *)floor_dtoh_pt; }
        else { real_dtoh = (dtoh_fn)*pfn; *pfn = exact_from ? (void *)exact_dtoh : (void *)floor_dtoh; }
    }
    return rc;
}

/* dlsym: the static runtime's one lookup of the driver (cuGetProcAddress_v2 by handle).
 * Pseudo-handles go straight to glibc (the benchmark programs make no such lookup). */
void *dlsym(void *handle, const char *name) {
    void *p = real_dlsym()(handle, name);
    if (p && handle != RTLD_DEFAULT && handle != RTLD_NEXT && !strcmp(name, "cuGetProcAddress_v2")) {
        real_gpa = (gpa_fn)p;
        return (void *)floor_gpa;
    }
    return p;
}
