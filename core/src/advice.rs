//! The fix a finding suggests, for the framework the process runs. Pinning costs more
//! than it saves when done at every copy, so the advice is always to pin once and reuse.

use crate::verdict::Direction;

/// What the process loaded, as far as the advice is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    PyTorch,
    CuPy,
    Jax,
    /// Plain CUDA (C, C++, or anything else).
    Cuda,
}

impl Framework {
    /// Decides from the paths of the loaded objects (first match wins).
    pub fn from_loaded<'a>(paths: impl IntoIterator<Item = &'a str>) -> Framework {
        let mut found = Framework::Cuda;
        for p in paths {
            let rank = |f: Framework| match f {
                Framework::PyTorch => 3,
                Framework::Jax => 2,
                Framework::CuPy => 1,
                Framework::Cuda => 0,
            };
            let this = if p.contains("libtorch") || p.contains("/torch/") {
                Framework::PyTorch
            } else if p.contains("jaxlib") || p.contains("xla_extension") || p.contains("/jax_") {
                Framework::Jax
            } else if p.contains("cupy") {
                Framework::CuPy
            } else {
                Framework::Cuda
            };
            if rank(this) > rank(found) {
                found = this;
            }
        }
        found
    }

    pub fn name(self) -> &'static str {
        match self {
            Framework::PyTorch => "pytorch",
            Framework::CuPy => "cupy",
            Framework::Jax => "jax",
            Framework::Cuda => "cuda",
        }
    }

    pub fn from_name(name: &str) -> Framework {
        match name {
            "pytorch" => Framework::PyTorch,
            "cupy" => Framework::CuPy,
            "jax" => Framework::Jax,
            _ => Framework::Cuda,
        }
    }
}

/// The advice for a pageable copy, in one sentence.
pub fn for_pageable(framework: Framework, direction: Direction) -> &'static str {
    match (framework, direction) {
        (_, Direction::HostToHost) => {
            "Copy host to host with memcpy, or keep one side on the device; an async host-to-host copy is synchronous."
        }
        (Framework::PyTorch, Direction::DeviceToHost) => {
            "Copy into a tensor allocated once with torch.empty(..., pin_memory=True) and reused (x.to('cpu', non_blocking=True) into pinned memory), not into a fresh pageable tensor."
        }
        (Framework::PyTorch, _) => {
            "Pin the source once and reuse it: DataLoader(pin_memory=True) for batches, tensor.pin_memory() or torch.empty(..., pin_memory=True) for buffers you refill; do not pin a fresh tensor at every copy."
        }
        (Framework::CuPy, _) => {
            "Stage through pinned memory allocated once: cupyx.empty_pinned(...) (or cupy.cuda.alloc_pinned_memory) reused across copies; do not pin at every copy."
        }
        (Framework::Jax, _) => {
            "Keep host buffers in pinned memory: jax.device_put(x, device.with_memory_kind('pinned_host')) or a sharding with memory_kind='pinned_host', allocated once and reused."
        }
        (Framework::Cuda, _) => {
            "Allocate the host buffer once with cudaMallocHost/cudaHostAlloc, or cudaHostRegister memory you own once, and reuse it; pinning at every copy costs more than it saves."
        }
    }
}

/// The advice for a copy straddling a pinned edge.
pub fn for_straddle() -> &'static str {
    "Keep each copy inside one pinned allocation or registration (CUDA rejects copies that span pinned and unpinned memory)."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framework_comes_from_what_is_loaded() {
        let torch = ["/usr/lib/libc.so.6", "/opt/venv/lib/python3.12/site-packages/torch/lib/libtorch_cuda.so"];
        assert_eq!(Framework::from_loaded(torch), Framework::PyTorch);
        assert_eq!(Framework::from_loaded(["/x/cupy_backends/cuda/api/runtime.so"]), Framework::CuPy);
        assert_eq!(Framework::from_loaded(["/x/jaxlib/xla_extension.so"]), Framework::Jax);
        assert_eq!(Framework::from_loaded(["/usr/lib/libc.so.6", "./app"]), Framework::Cuda);
        let all = ["/x/cupy/a.so", "/y/torch/lib/libtorch.so"];
        assert_eq!(Framework::from_loaded(all), Framework::PyTorch, "PyTorch wins when both are loaded");
    }

    #[test]
    fn advice_fits_the_framework_and_never_says_pin_at_every_copy() {
        let d = Direction::HostToDevice;
        assert!(for_pageable(Framework::PyTorch, d).contains("pin_memory=True"));
        assert!(for_pageable(Framework::CuPy, d).contains("cupyx.empty_pinned"));
        assert!(for_pageable(Framework::Jax, d).contains("pinned_host"));
        assert!(for_pageable(Framework::Cuda, d).contains("cudaMallocHost"));
        for f in [Framework::PyTorch, Framework::CuPy, Framework::Jax, Framework::Cuda] {
            for d in [Direction::HostToDevice, Direction::DeviceToHost] {
                let a = for_pageable(f, d);
                assert!(a.contains("once"), "{a}");
                assert_eq!(Framework::from_name(f.name()), f);
            }
        }
    }
}
