// The program closes stderr and opens a data file, which gets descriptor 2, then makes a
// pageable copy. pinguard's line must not land in the data file: after pinguard started
// (the default), or before its first CUDA call (`early`: pinguard has not taken its own
// copy of stderr yet).
//   stderr_reuse DATA_FILE [early]
#include "common.h"
#include <fcntl.h>

int main(int argc, char **argv) {
    if (argc < 2) TK_FAIL("usage: stderr_reuse DATA_FILE [early]");
    bool early = argc > 2 && strcmp(argv[2], "early") == 0;
    int fd = -1;
    if (early) {
        close(2);
        fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd != 2) return 5;
    }
    tk_init();
    rel_copier c;
    void *pinned = tk_malloc_host(256);
    TK_CHECK(tk_memcpy_async(c.dev, pinned, 256, TK_H2D, c.s));  // pinguard starts
    if (!early) {
        close(2);
        fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd != 2) return 5;
    }
    c.site_a();  // a finding
    tk_stream_sync(c.s);
    if (write(fd, "DATA\n", 5) != 5) return 6;
    close(fd);
    return 0;
}
