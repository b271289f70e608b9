//! The process's pinned ranges, as pinguard saw CUDA pin and release them.

use pinguard_core::registry::PinnedRegistry;

use crate::base::spin::ForkSafeLazy;

/// The pinned ranges of this process. Built on first use, fork-safely: a child forked
/// while another thread built it builds its own (the fork handler resets it).
pub static REGISTRY: ForkSafeLazy<PinnedRegistry> = ForkSafeLazy::new(PinnedRegistry::new);
