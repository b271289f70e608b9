// A copy made inside a header-only library compiled into the program, as thrust, cub
// and CUTLASS are: the site's location must be the program's own function that called
// the library (`testSort`), not the library's template, and the site's title must elide
// the library's template arguments and parameters (`thrust::copy<…>(…)`).
#include "testkit.h"

namespace thrust {
namespace detail {
template <typename T> struct normal_iterator {
    T *p;
};
}  // namespace detail

template <typename InputIt, typename OutputIt>
__attribute__((noinline)) detail::normal_iterator<OutputIt> copy(detail::normal_iterator<InputIt> first, size_t n,
                                                                 detail::normal_iterator<OutputIt> out, tk_stream s) {
    TK_CHECK(tk_memcpy_async(out.p, first.p, n * sizeof(*first.p), TK_H2D, s));
    return {out.p + n};
}
}  // namespace thrust

__attribute__((noinline)) void testSort(std::vector<unsigned> &keys, unsigned *dev, tk_stream s) {
    thrust::copy(thrust::detail::normal_iterator<unsigned>{keys.data()}, keys.size(),
                 thrust::detail::normal_iterator<unsigned>{dev}, s);
}

int main() {
    tk_init();
    tk_stream s = tk_stream_create();
    std::vector<unsigned> keys(1024, 7);
    unsigned *dev = static_cast<unsigned *>(tk_device_alloc(keys.size() * sizeof(unsigned)));
    testSort(keys, dev, s);
    tk_stream_sync(s);
    tk_done("header_only_lib");
}
