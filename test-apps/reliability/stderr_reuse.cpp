// The program closes stderr and opens a data file, which gets descriptor 2, then makes a
// pageable copy. pinguard's line must not land in the data file.
#include "common.h"
#include <fcntl.h>

int main(int argc, char **argv) {
    if (argc < 2) TK_FAIL("usage: stderr_reuse DATA_FILE");
    tk_init();
    rel_copier c;
    void *pinned = tk_malloc_host(256);
    TK_CHECK(tk_memcpy_async(c.dev, pinned, 256, TK_H2D, c.s));  // pinguard starts
    close(2);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd != 2) return 5;
    c.site_a();  // a finding
    tk_stream_sync(c.s);
    if (write(fd, "DATA\n", 5) != 5) return 6;
    close(fd);
    return 0;
}
