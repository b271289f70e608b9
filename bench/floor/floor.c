/* The floor: the least an interposer of CUDA's copies can cost. It is preloaded like
 * libpinguard.so and reaches the same calls by the same routes (the runtime's exported
 * cudaMemcpyAsync for a shared runtime; dlsym and cuGetProcAddress, its self-lookup
 * answered, for a static one), forwards each to the real function untouched, and does
 * nothing else. pinguard's overhead is reported against it: what it costs beyond the
 * price of being there at all.
 *
 *   cc -O2 -shared -fPIC -Wl,-Bsymbolic-functions bench/floor/floor.c -o libfloor.so -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

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

/* Runtime layer (shared runtime). */
int cudaMemcpyAsync(void *dst, const void *src, size_t n, int kind, void *stream) {
    static memcpy_async_fn real;
    if (!real) real = (memcpy_async_fn)real_dlsym()(RTLD_NEXT, "cudaMemcpyAsync");
    return real(dst, src, n, kind, stream);
}

/* Driver layer, handed out by cuGetProcAddress (static runtime). */
static htod_fn real_htod, real_htod_pt;
static dtoh_fn real_dtoh, real_dtoh_pt;
static gpa_fn real_gpa;

static int floor_htod(unsigned long long d, const void *s, size_t n, void *st) { return real_htod(d, s, n, st); }
static int floor_htod_pt(unsigned long long d, const void *s, size_t n, void *st) { return real_htod_pt(d, s, n, st); }
static int floor_dtoh(void *d, unsigned long long s, size_t n, void *st) { return real_dtoh(d, s, n, st); }
static int floor_dtoh_pt(void *d, unsigned long long s, size_t n, void *st) { return real_dtoh_pt(d, s, n, st); }

static int floor_gpa(const char *sym, void **pfn, int version, unsigned long long flags, int *status) {
    int rc = real_gpa(sym, pfn, version, flags, status);
    if (rc != 0 || !pfn || !*pfn) return rc;
    int pt = (flags & 2) != 0;
    if (!strcmp(sym, "cuGetProcAddress")) {
        *pfn = (void *)floor_gpa;
    } else if (!strcmp(sym, "cuMemcpyHtoDAsync")) {
        if (pt) { real_htod_pt = (htod_fn)*pfn; *pfn = (void *)floor_htod_pt; }
        else { real_htod = (htod_fn)*pfn; *pfn = (void *)floor_htod; }
    } else if (!strcmp(sym, "cuMemcpyDtoHAsync")) {
        if (pt) { real_dtoh_pt = (dtoh_fn)*pfn; *pfn = (void *)floor_dtoh_pt; }
        else { real_dtoh = (dtoh_fn)*pfn; *pfn = (void *)floor_dtoh; }
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
