// Copies at 256 new call sites, each built (symbolised) when first seen: pinguard's
// memory grows with them. With its memory refused part-way (a test build's
// PINGUARD_TEST_MAPS_LEFT), pinguard must stop, say so and count what it let through,
// and the program must run on as without pinguard.
//   many_sites     prints "many_sites: 256 copies"
#include "leaves.h"

int main() {
    tk_init();
    rel_copier c;
    for (int i = 0; i < LEAVES; ++i) leaves[i](c);
    tk_stream_sync(c.s);
    printf("many_sites: %d copies\n", LEAVES);
    return 0;
}
