"""N pageable copies through ctypes from one line, DEPTH Python frames deep
(scripts/dev/bench-python-frames.sh counts the instructions per copy at two depths and
two counts: what reading the Python frames costs a finding, per frame). With --time, a
warm-up of 1 000 copies at the same line first, then prints the host ns per copy of the
N timed ones (scripts/gpu/bench-python-frames.sh)."""
import ctypes
import sys
import time

n, depth = int(sys.argv[1]), int(sys.argv[2])
timed = "--time" in sys.argv[3:]
rt = ctypes.CDLL("libcudart.so.13")
rt.cudaMemcpyAsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
rt.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
device = ctypes.c_void_p()
rt.cudaMalloc(ctypes.byref(device), 4096)
host = ctypes.create_string_buffer(4096)
copy = rt.cudaMemcpyAsync


def copies(count):
    start = 0
    for i in range(count + (1000 if timed else 0)):
        if timed and i == 1000:
            start = time.perf_counter_ns()
        copy(device, host, 4096, 1, None)
    if timed:
        print(f"ns_per_copy={(time.perf_counter_ns() - start) / count:.1f}")


def nest(d, count):
    if d <= 1:
        copies(count)
    else:
        nest(d - 1, count)


nest(depth, n)
