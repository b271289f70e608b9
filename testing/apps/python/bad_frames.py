"""A Python frame chain gone bad under pinguard's feet (issue 27: a torn or freed frame
gives a shorter stack, never a crash). Each function below copies from pageable memory at
its marked line (the manifest: preload/tests/python_frames.rs) while the link from its
frame to its caller's has been bent: to unmapped memory, to a page of garbage, to the
frame itself (a cycle). The interpreter's link is put back before the function returns.

    python3 bad_frames.py PREVIOUS      PREVIOUS: the offset of the link in a frame
                                        (pinguard-core's layout table, from the test)
Prints "bad_frames.py: ok"."""
import ctypes
import sys

PREVIOUS = int(sys.argv[1])
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
rt = ctypes.CDLL("libcudart.so.13")
rt.cudaMemcpyAsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
rt.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
H2D = 1
SIZE = 4096
device = ctypes.c_void_p()
assert rt.cudaMalloc(ctypes.byref(device), SIZE) == 0
host = ctypes.create_string_buffer(SIZE)  # pageable

# A page mapped and unmapped again: nothing is there now.
UNMAPPED = libc.mmap(None, 4096, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
assert libc.munmap(UNMAPPED, 4096) == 0
# A page of garbage: readable, and every word of it a pointer to nowhere.
GARBAGE = ctypes.create_string_buffer(b"\x41" * 4096)


def frame_of(f):
    """The address of the frame pinguard walks for the frame object `f`."""
    if sys.version_info[:2] == (3, 10):
        return id(f)  # 3.10: the frame object is the frame
    return ctypes.c_void_p.from_address(id(f) + 24).value  # 3.11+: PyFrameObject.f_frame


def bend(to):
    """Points the caller's link at `to` (None: at its own frame); returns what undoes it."""
    frame = frame_of(sys._getframe(1))
    link = ctypes.c_void_p.from_address(frame + PREVIOUS)
    saved = link.value
    link.value = frame if to is None else to
    return link, saved


def intact():
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: intact


def unmapped():
    link, saved = bend(UNMAPPED)
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: unmapped
    link.value = saved


def garbage():
    link, saved = bend(ctypes.addressof(GARBAGE))
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: garbage
    link.value = saved


def cycle():
    link, saved = bend(None)
    rt.cudaMemcpyAsync(device, host, SIZE, H2D, None)  # site: cycle
    link.value = saved


intact()
unmapped()
garbage()
cycle()
print("bad_frames.py: ok")
