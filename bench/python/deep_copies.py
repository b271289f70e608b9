"""N pageable copies through ctypes from one line, DEPTH Python frames deep
(scripts/dev/bench-python-frames.sh counts the instructions per copy at two depths and
two counts: what reading the Python frames costs a finding, per frame)."""
import ctypes
import sys

n, depth = int(sys.argv[1]), int(sys.argv[2])
rt = ctypes.CDLL("libcudart.so.13")
rt.cudaMemcpyAsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
rt.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
device = ctypes.c_void_p()
rt.cudaMalloc(ctypes.byref(device), 4096)
host = ctypes.create_string_buffer(4096)
copy = rt.cudaMemcpyAsync


def copies(count):
    for _ in range(count):
        copy(device, host, 4096, 1, None)


def nest(d, count):
    if d <= 1:
        copies(count)
    else:
        nest(d - 1, count)


nest(depth, n)
