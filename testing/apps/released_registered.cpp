// Registered memory released while still registered (issue 28, item 3): each C library
// release path once, with a range registered (cudaHostRegister / cuMemHostRegister) and
// never unregistered, and one done right (unregistered first: no finding).
//
//   free           a 64 KiB aligned_alloc block, registered whole
//   free, interior a registration of 32 KiB one page into a 64 KiB block, then free(block)
//   delete[]       a 16 KiB new[] array, registered whole (operator delete frees it)
//   munmap         a 2 MiB anonymous mapping
//   realloc        an 8 KiB block grown to 4 MiB (the allocator moves it to a mapping)
//   mremap         a 1 MiB mapping moved to another address (MREMAP_FIXED)
//
// Every buffer is made and registered before any is released: the driver keeps a
// released range registered (measured on an H100), so memory handed out again at the
// same place could not be registered a second time. A pinned copy from one buffer first
// shows the registrations took effect.
#include "testkit.h"

#include <sys/mman.h>

#include <cstdlib>

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    void *dev = tk_device_alloc(1 << 16);

    char *whole = static_cast<char *>(aligned_alloc(4096, 64 << 10));
    char *outer = static_cast<char *>(aligned_alloc(4096, 64 << 10));
    char *array = new char[16 << 10];
    void *mapped = mmap(nullptr, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *grown = static_cast<char *>(malloc(8 << 10));
    void *moved = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *target = mmap(nullptr, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *right = static_cast<char *>(aligned_alloc(4096, 64 << 10));
    if (!whole || !outer || !grown || !right || mapped == MAP_FAILED || moved == MAP_FAILED || target == MAP_FAILED)
        TK_FAIL("cannot allocate");

    tk_register(whole, 64 << 10, 0);
    tk_register(outer + 4096, 32 << 10, 0);
    tk_register(array, 16 << 10, 0);
    tk_register(mapped, 2 << 20, 0);
    tk_register(grown, 8 << 10, 0);
    tk_register(moved, 1 << 20, 0);
    tk_register(right, 64 << 10, 0);

    tk_fill(whole, 64 << 10, 1);
    TK_CHECK(tk_memcpy_async(dev, whole, 1 << 16, TK_H2D, s));
    tk_stream_sync(s);

    free(whole);
    free(outer);
    delete[] array;
    munmap(mapped, 2 << 20);
    char *bigger = static_cast<char *>(realloc(grown, 4 << 20));
    if (!bigger) TK_FAIL("realloc failed");
    void *now = mremap(moved, 1 << 20, 1 << 20, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    if (now != target) TK_FAIL("mremap did not move the mapping");
    tk_unregister(right);
    free(right);

    free(bigger);
    munmap(now, 1 << 20);
    tk_done("released_registered");
}
