// A sort in the style of NVIDIA's radixSortThrust sample (written for pinguard, not
// copied): keys made on the host in a thrust::host_vector (pageable memory), copied to
// the device by thrust, sorted, copied back. GPU only (scripts/gpu/test.sh builds it
// with nvcc): pinguard's site for the copies must be testSort, this file's own
// function, not thrust's templates, and its title must be short enough to read.
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#include <thrust/sort.h>

#include <cstdio>

__attribute__((noinline)) bool testSort(unsigned n) {
    thrust::host_vector<unsigned> keys(n);
    for (unsigned i = 0; i < n; ++i) keys[i] = (i * 2654435761u) >> 7;
    thrust::device_vector<unsigned> d = keys;  // host-to-device, from pageable memory
    thrust::sort(d.begin(), d.end());
    thrust::copy(d.begin(), d.end(), keys.begin());  // device-to-host, into pageable memory
    for (unsigned i = 1; i < n; ++i)
        if (keys[i - 1] > keys[i]) return false;
    return true;
}

int main() {
    bool ok = testSort(1u << 20);
    std::printf("thrust_sort: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
