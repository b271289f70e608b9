//! What every layer stands on: the process's settings and state, the clock, the real
//! functions and the loader, the descriptors lines go to, counters, the registry of
//! pinned ranges, a fork-safe lock, pinguard's own allocator, reads of memory it does not
//! own that never fault, and per-thread values handed back when a thread ends. Imports
//! nothing above.

pub mod process;
pub mod clock;
pub mod symbols;
pub mod sink;
pub mod counters;
pub mod pinned;
pub mod spin;
pub mod memory;
pub mod guarded_read;
pub mod thread_key;
