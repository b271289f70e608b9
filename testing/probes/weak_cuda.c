/* A program that chooses its path by a weak reference to a CUDA function. The dynamic
 * linker binds such a reference at load time, to the first definition it finds:
 * pinguard's export, if pinguard is preloaded. Measured and documented, not fixable. */
#include <stddef.h>
#include <stdio.h>

extern int cudaMallocHost(void **p, size_t n) __attribute__((weak));

int main(void) {
    if (cudaMallocHost) {
        void *p = NULL;
        int rc = cudaMallocHost(&p, 64);
        printf("cuda path: cudaMallocHost returned %d\n", rc);
    } else {
        printf("cpu path\n");
    }
    return 0;
}
