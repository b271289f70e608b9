//! `libpinguard.so`: loaded with `LD_PRELOAD` into unmodified CUDA programs, it finds
//! asynchronous copies whose host side is pageable memory: such a copy blocks the host
//! thread until the stream drains and runs at about 1/8 of pinned bandwidth.
//!
//! Map (`docs/design.md` has the whole story). Each module imports only modules below it
//! in this list (`scripts/check_layers.py` holds the code to it in CI):
//! - `lifecycle`: constructor, fork handlers, destructor (they reach every file);
//! - `loader`: the interposed `dlsym`;
//! - `run_marks`: under `pinguard run`, the start mark each process image leaves, and
//!   the exec and spawn hooks that note the programs it starts;
//! - `hooks`: THE declarations: every hooked function, its signature and its action;
//! - `intercept`: what every hook does (classify, call the real function, report);
//! - `routing`, `name_index`: handing out our wrapper for the exact variant CUDA
//!   returned; the table's rows by name, one probe each;
//! - `gate`: the check at the top of every hook, and the panic boundary;
//! - `report_file`, `finish`: the JSON Lines report; the summary at exit;
//! - `sites`, `stack`: findings aggregated by call site; native stacks;
//! - `unwind`, `frame_rule`: the caching unwinder stacks are walked with, and its rules;
//! - `describe`, `oracle`: reading the call's argument memory (parameter blocks,
//!   batches); the driver's word;
//! - `hook_table`: what a row of the table is;
//! - `process`, `clock`: initialisation; the copy path's clock;
//! - `symbols`: finding the real functions;
//! - `sink`, `counters`: the descriptors lines go to; per-thread counters;
//! - `pinned`, `spin`: the registry; a fork-safe lock;
//! - `memory`: pinguard's own allocator (no `malloc`; starved, pinguard stops).
//!
//! The pure logic (registry, extents, verdicts, settings, report lines, counters) lives
//! in the `pinguard-core` crate, where it is unit- and property-tested.
#![allow(non_snake_case, reason = "hooks carry the exact CUDA symbol names they replace")]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

/// Every allocation pinguard makes comes from its own memory, never the C library's
/// `malloc` (`memory`: a handler that interrupted `malloc` may build a site; memory the
/// system refuses stops pinguard, not the program).
#[global_allocator]
static MEMORY: memory::PinguardMemory = memory::PinguardMemory;

mod clock;
mod counters;
mod describe;
mod finish;
mod frame_rule;
mod gate;
mod hook_table;
mod hooks;
mod intercept;
mod lifecycle;
mod loader;
mod memory;
mod name_index;
mod oracle;
mod pinned;
mod process;
mod report_file;
mod routing;
mod run_marks;
mod sink;
mod sites;
mod spin;
mod stack;
mod symbols;
mod unwind;
