/* A program without CUDA: pinguard must leave it entirely alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    char *p = malloc(1 << 20);
    memset(p, 7, 1 << 20);
    printf("sum=%d\n", p[12345] + p[0]);
    free(p);
    return 3;
}
