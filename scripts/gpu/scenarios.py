"""Framework scenarios for the GPU suite: one scenario per process, run under pinguard.

    python3 scripts/gpu/scenarios.py NAME

Prints `scenario=NAME bytes=N` on stdout, N being the size of the host buffer the
scenario copies, so that scripts/gpu/test.sh can look for (or rule out) a finding of
exactly that size among pinguard's records on stderr. The line that makes a scenario's
copy is marked `# site: NAME`: a finding's location must be that line (issue 27).
"""

import sys

import numpy as np

N = 4 << 20  # 4 MiB of float32


def torch_pageable():
    import torch

    t = torch.ones(N // 4, dtype=torch.float32)
    d = t.to("cuda", non_blocking=True)  # site: torch_pageable
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
    d.set(a, stream=s)  # site: cupy_set
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


def cupy_get():
    import cupy

    d = cupy.ones(N // 4, dtype=cupy.float32)
    s = cupy.cuda.Stream(non_blocking=True)
    a = np.empty(N // 4, dtype=np.float32)
    d.get(stream=s, out=a)  # site: cupy_get
    s.synchronize()
    assert float(a.sum()) == N // 4
    return a.nbytes


def jax_device_put():
    import jax

    a = np.ones(N // 4, dtype=np.float32)
    d = jax.device_put(a)  # site: jax_device_put
    d.block_until_ready()
    assert float(d.sum()) == N // 4
    return a.nbytes


def torch_graph_capture():
    """A pageable tensor copied (non_blocking) inside torch.cuda.graph: pinguard reports
    it as captured at this line, unless PyTorch refuses such a copy during capture (it
    prints what PyTorch said). A replay after the source changed copies the new values:
    the graph reads the pageable buffer at each launch."""
    import torch

    src = torch.ones(N // 4, dtype=torch.float32)
    static = torch.empty(N // 4, dtype=torch.float32, device="cuda")
    g = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(g):
            static.copy_(src, non_blocking=True)  # site: torch_graph_capture
    except RuntimeError as e:
        print(f"torch_refused={str(e).splitlines()[0][:200]}", flush=True)
        return src.numel() * src.element_size()
    src.fill_(2.0)
    g.replay()
    torch.cuda.synchronize()
    print(f"replayed_sum={float(static.sum()):.0f} (2x{N // 4}: read at replay)", flush=True)
    return src.numel() * src.element_size()


def _train(pin_memory, steps, workers):
    """A small classifier trained on random data through a DataLoader; returns ms/step."""
    import time

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(steps * 64, 1024), torch.randint(0, 10, (steps * 64,)))
    loader = DataLoader(data, batch_size=64, num_workers=workers, pin_memory=pin_memory)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    start = None
    for i, (x, y) in enumerate(loader):
        if i == 10:
            torch.cuda.synchronize()
            start = time.perf_counter()
        x, y = x.to("cuda", non_blocking=True), y.to("cuda", non_blocking=True)  # site: torch_dataloader_pageable
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3 / (steps - 10)


def torch_dataloader_pageable():
    """A training loop whose DataLoader does not pin memory (2 worker processes): every
    batch is a pageable async copy. Returns the bytes of one input batch."""
    ms = _train(pin_memory=False, steps=60, workers=2)
    print(f"ms_per_step={ms:.3f}", flush=True)
    return 64 * 1024 * 4


def torch_train_step():
    """The benchmark's training step: pinned DataLoader, no workers; prints ms/step."""
    ms = _train(pin_memory=True, steps=400, workers=0)
    print(f"ms_per_step={ms:.3f}", flush=True)
    return 64 * 1024 * 4


SCENARIOS = {
    f.__name__: f
    for f in (
        torch_pageable,
        torch_pinned,
        cupy_set,
        cupy_asarray,
        cupy_get,
        jax_device_put,
        torch_graph_capture,
        torch_dataloader_pageable,
        torch_train_step,
    )
}

if __name__ == "__main__":
    name = sys.argv[1]
    nbytes = SCENARIOS[name]()
    print(f"scenario={name} bytes={nbytes}", flush=True)
