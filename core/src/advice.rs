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
    /// Decides from the paths of the loaded objects: the highest ranked framework among
    /// them (PyTorch, then JAX, then CuPy), else plain CUDA.
    pub fn from_loaded<'a>(paths: impl IntoIterator<Item = &'a str>) -> Framework {
        let rank = |f: Option<Framework>| match f {
            Some(Framework::PyTorch) => 3,
            Some(Framework::Jax) => 2,
            Some(Framework::CuPy) => 1,
            _ => 0,
        };
        paths.into_iter().map(Framework::of_path).max_by_key(|f| rank(*f)).flatten().unwrap_or(Framework::Cuda)
    }

    /// The framework whose code a path is: a shared object (`libtorch_cuda.so`, JAX's
    /// `xla_cuda_plugin.so`) or a file inside the framework's package. The component
    /// nearest the file decides: on the H100 every package lives under
    /// `/opt/torch/.venv/...`, so `.../site-packages/cupy_backends/...` is CuPy's.
    pub fn of_path(path: &str) -> Option<Framework> {
        path.rsplit('/').find_map(|part| {
            if part == "torch" || part.starts_with("libtorch") || part.starts_with("libc10") {
                Some(Framework::PyTorch)
            } else if ["jax", "jaxlib", "jax_plugins"].contains(&part)
                || ["jax_cuda", "xla_extension", "xla_cuda_plugin"].iter().any(|p| part.starts_with(p))
            {
                Some(Framework::Jax)
            } else if ["cupy", "cupy_backends", "cupyx"].contains(&part) {
                Some(Framework::CuPy)
            } else {
                None
            }
        })
    }

    /// The framework that made a copy: the innermost of `paths` (a stack's modules and
    /// files, innermost first) that is a framework's code; `None` if none is. A process
    /// that loads PyTorch and JAX gets JAX's advice for a copy XLA made.
    pub fn of_stack<'a>(paths: impl IntoIterator<Item = &'a str>) -> Option<Framework> {
        paths.into_iter().find_map(Framework::of_path)
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

/// The advice for a pageable copy captured into a CUDA graph: a graph keeps the address
/// it captured, so the fix is memory pinned before the capture and refilled between
/// launches.
pub fn for_captured(framework: Framework) -> &'static str {
    match framework {
        Framework::PyTorch => {
            "Give the captured copy a source pinned before capture: a static input made once with torch.empty(..., pin_memory=True) and refilled with copy_() between replays."
        }
        Framework::CuPy => {
            "Give the captured copy a buffer pinned before capture (cupyx.empty_pinned(...), made once) and refill it between launches."
        }
        Framework::Jax => {
            "Keep the captured host buffer in pinned memory (memory_kind='pinned_host'), allocated once before capture and refilled between launches."
        }
        Framework::Cuda => {
            "Capture copies from memory pinned before the capture (cudaMallocHost/cudaHostAlloc, or cudaHostRegister memory you own), allocated once and refilled between launches: the graph keeps the address it captured."
        }
    }
}

/// The advice for memory released while still registered: unregister first, in the
/// words of the framework that registered it.
pub fn for_released(framework: Framework) -> &'static str {
    match framework {
        Framework::PyTorch => {
            "Call torch.cuda.cudart().cudaHostUnregister(ptr) before the memory is freed (or let PyTorch own the pinning: tensor.pin_memory() or torch.empty(..., pin_memory=True)); register exactly for the buffer's life."
        }
        Framework::CuPy => {
            "Call cupy.cuda.runtime.hostUnregister(ptr) before the memory is freed (or allocate it pinned: cupyx.empty_pinned); register exactly for the buffer's life."
        }
        Framework::Jax => {
            "Unregister the buffer (cudaHostUnregister) before its memory is freed, or let JAX own pinned buffers (memory_kind='pinned_host'); register exactly for the buffer's life."
        }
        Framework::Cuda => {
            "Call cudaHostUnregister (cuMemHostUnregister) on the range before free, delete, realloc, munmap or mremap releases it; register exactly for the buffer's life."
        }
    }
}

/// The advice for a site that pins memory and releases it again and again: pin once,
/// keep the buffer, reuse it.
pub fn for_churn(framework: Framework) -> &'static str {
    match framework {
        Framework::PyTorch => {
            "Pin once and reuse: keep one pinned buffer (torch.empty(..., pin_memory=True), made once) and copy_() into it, rather than pinning a fresh tensor for each copy."
        }
        Framework::CuPy => {
            "Allocate the pinned buffer once (cupyx.empty_pinned(...)) and reuse it for every copy, rather than pinning and freeing one each time."
        }
        Framework::Jax => {
            "Keep one pinned host buffer (memory_kind='pinned_host') and reuse it for every transfer, rather than pinning a fresh one each time."
        }
        Framework::Cuda => {
            "Allocate (cudaHostAlloc) or register (cudaHostRegister) the buffer once, keep it and reuse it for every copy; free or unregister it when the program is done with it."
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
        assert_eq!(Framework::from_loaded(["/usr/lib/libc.so.6"]), Framework::Cuda);
        assert_eq!(Framework::from_loaded(["/usr/lib/libc.so.6", "./app"]), Framework::Cuda);
        let all = ["/x/cupy/a.so", "/y/torch/lib/libtorch.so"];
        assert_eq!(Framework::from_loaded(all), Framework::PyTorch, "PyTorch wins when both are loaded");
    }

    #[test]
    fn release_advice_unregisters_first_in_the_framework_s_words() {
        assert!(for_released(Framework::PyTorch).contains("cudaHostUnregister(ptr)"));
        assert!(for_released(Framework::CuPy).contains("hostUnregister(ptr)"));
        assert!(for_released(Framework::Cuda).contains("cuMemHostUnregister"));
        for f in [Framework::PyTorch, Framework::CuPy, Framework::Jax, Framework::Cuda] {
            assert!(for_released(f).contains("before"), "{}", for_released(f));
        }
    }

    #[test]
    fn churn_advice_says_to_keep_the_buffer_in_the_frameworks_words() {
        assert!(for_churn(Framework::PyTorch).contains("pin_memory=True"));
        assert!(for_churn(Framework::CuPy).contains("cupyx.empty_pinned"));
        assert!(for_churn(Framework::Jax).contains("pinned_host"));
        assert!(for_churn(Framework::Cuda).contains("cudaHostAlloc"));
        for f in [Framework::PyTorch, Framework::CuPy, Framework::Jax, Framework::Cuda] {
            assert!(for_churn(f).contains("reuse"), "{}", for_churn(f));
        }
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

    #[test]
    fn captured_advice_pins_before_the_capture() {
        for f in [Framework::PyTorch, Framework::CuPy, Framework::Jax, Framework::Cuda] {
            let a = for_captured(f);
            assert!(a.contains("before") && a.contains("once"), "{a}");
            assert_ne!(a, for_pageable(f, Direction::HostToDevice));
        }
    }

    /// The copy's own stack decides, innermost first: XLA's frames in a process that also
    /// loaded PyTorch get JAX's advice (as on the H100, where an autotuner's copies got
    /// PyTorch's); a stack in no framework's code says nothing.
    #[test]
    fn the_stack_names_the_framework_that_copied() {
        let xla = "/venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so";
        let torch = "/venv/lib/python3.12/site-packages/torch/lib/libtorch_cuda.so";
        assert_eq!(Framework::from_loaded([torch, xla]), Framework::PyTorch);
        assert_eq!(Framework::of_stack(["/usr/lib/libcuda.so.1", xla, torch]), Some(Framework::Jax));
        assert_eq!(
            Framework::of_stack(["/venv/lib/python3.12/site-packages/cupy/_core/core.pyx", torch]),
            Some(Framework::CuPy)
        );
        assert_eq!(Framework::of_stack(["/usr/lib/libcuda.so.1", "/home/me/app"]), None);
        // Every package under a folder named for another framework (as on the H100).
        let venv = "/opt/torch/.venv/lib/python3.12/site-packages";
        assert_eq!(
            Framework::of_path(&format!("{venv}/cupy_backends/cuda/api/runtime.cpython-312.so")),
            Some(Framework::CuPy)
        );
        assert_eq!(
            Framework::of_path(&format!("{venv}/jax_plugins/xla_cuda13/xla_cuda_plugin.so")),
            Some(Framework::Jax)
        );
        assert_eq!(Framework::of_path(&format!("{venv}/torch/lib/libtorch_cuda.so")), Some(Framework::PyTorch));
        assert_eq!(Framework::of_path("/work/cupy/cupy/_core/core.cpp"), Some(Framework::CuPy));
        assert_eq!(Framework::of_path("/home/me/torchvision_app/train.py"), None);
    }
}
