"""Framework scenarios for the GPU suite: one scenario per process, run under pinguard.

    python3 scripts/gpu_scenarios.py NAME

Prints `scenario=NAME bytes=N` on stdout, N being the size of the host buffer the
scenario copies, so that scripts/gpu-test.sh can look for (or rule out) a finding of
exactly that size among pinguard's records on stderr.
"""

import sys

import numpy as np

N = 4 << 20  # 4 MiB of float32


def torch_pageable():
    import torch

    t = torch.ones(N // 4, dtype=torch.float32)
    d = t.to("cuda", non_blocking=True)
    torch.cuda.synchronize()
    assert float(d.sum()) == N // 4
    return t.numel() * t.element_size()


def torch_pinned():
    import torch

    t = torch.ones(N // 4, dtype=torch.float32).pin_memory()
    d = t.to("cuda", non_blocking=True)
    torch.cuda.synchronize()
    assert float(d.sum()) == N // 4
    return t.numel() * t.element_size()


def cupy_set():
    import cupy

    a = np.ones(N // 4, dtype=np.float32)
    d = cupy.empty(N // 4, dtype=cupy.float32)
    s = cupy.cuda.Stream(non_blocking=True)
    d.set(a, stream=s)
    s.synchronize()
    assert float(d.sum()) == N // 4
    return a.nbytes


def cupy_asarray():
    import cupy

    a = np.ones(N // 4, dtype=np.float32)
    d = cupy.asarray(a)
    cupy.cuda.Device().synchronize()
    assert float(d.sum()) == N // 4
    return a.nbytes


SCENARIOS = {f.__name__: f for f in (torch_pageable, torch_pinned, cupy_set, cupy_asarray)}

if __name__ == "__main__":
    name = sys.argv[1]
    nbytes = SCENARIOS[name]()
    print(f"scenario={name} bytes={nbytes}", flush=True)
