// cudaMemcpyToSymbolAsync / cudaMemcpyFromSymbolAsync (runtime API only): pageable
// source and destination are findings (H2D 256, D2H 256), a pinned destination is not.
#include "testkit.h"

__device__ unsigned char g_table[1024];

int main() {
    tk_init();
    const size_t n = 256;
    tk_stream s = tk_stream_create();
    cudaStream_t cs = static_cast<cudaStream_t>(s);
    std::vector<unsigned char> pageable(n), back(n);
    unsigned char *pinned = static_cast<unsigned char *>(tk_malloc_host(n));
    tk_fill(pageable.data(), n, 17);
    TK_CHECK(cudaMemcpyToSymbolAsync(g_table, pageable.data(), n, 128, cudaMemcpyHostToDevice, cs));
    TK_CHECK(cudaMemcpyFromSymbolAsync(pinned, g_table, n, 128, cudaMemcpyDeviceToHost, cs));
    TK_CHECK(cudaMemcpyFromSymbolAsync(back.data(), g_table, n, 128, cudaMemcpyDeviceToHost, cs));
    tk_stream_sync(s);
    tk_expect_equal(pageable.data(), pinned, n, "symbol to pinned");
    tk_expect_equal(pageable.data(), back.data(), n, "symbol to pageable");
    tk_free_host(pinned);
    tk_done("symbol_copies");
}
