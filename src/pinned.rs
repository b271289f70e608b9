//! The process's pinned ranges, as pinguard saw CUDA pin and release them.

use std::sync::LazyLock;

use pinguard_core::registry::PinnedRegistry;

/// The pinned ranges of this process.
pub static REGISTRY: LazyLock<PinnedRegistry> = LazyLock::new(PinnedRegistry::new);
