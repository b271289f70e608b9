"""Pageable copies from Python through ctypes, at lines marked `# site: NAME` (the
manifest: preload/tests/python_frames.rs expects one site at each marked line, and no
other). CUDA's runtime is whichever libcudart the library path finds (fakecuda in CI)."""
import asyncio
import ctypes
import os
import sys
import threading

rt = ctypes.CDLL("libcudart.so.13")  # calls release the GIL, as frameworks' copies do
rt_gil = ctypes.PyDLL("libcudart.so.13")  # calls keep the GIL
for lib in (rt, rt_gil):
    lib.cudaMemcpyAsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
    lib.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
H2D = 1
SIZE = 4096
device = ctypes.c_void_p()
assert rt.cudaMalloc(ctypes.byref(device), SIZE) == 0
host = ctypes.create_string_buffer(SIZE)  # pageable


def inner():
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: nested


def outer():
    inner()


def two_lines():
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: first_line
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: second_line


def loop():
    for _ in range(100):
        rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: loop


def worker():
    # Named as frameworks name their threads (PR_SET_NAME): the report's first call says it.
    ctypes.CDLL(None).prctl(15, b"copier", 0, 0, 0)
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: thread


def gil_held():
    rt_gil.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: gil_held


def generator():
    for _ in range(2):
        rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: generator
        yield


async def coroutine():
    await asyncio.sleep(0)
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: async


class Model:
    def forward(self):
        rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: method


outer()
two_lines()
loop()
t = threading.Thread(target=worker, name="copier")
t.start()
t.join()
gil_held()
for _ in generator():
    pass
asyncio.run(coroutine())
Model().forward()
if "--fork" in sys.argv:
    pid = os.fork()
    if pid == 0:
        rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: fork_child
        os._exit(0)
    os.waitpid(pid, 0)
print("copies.py: ok")
