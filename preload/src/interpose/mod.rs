//! What the program calls into: the library's constructor, fork handlers and destructor,
//! the interposed `dlsym`, the exec and spawn hooks under `pinguard run`, and every
//! hooked CUDA function. The top layer: it may use every folder below.

pub mod lifecycle;
pub mod loader;
pub mod run_marks;
pub mod hooks;
pub mod releases;
