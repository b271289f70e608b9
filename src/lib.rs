//! `libpinguard.so`: loaded with `LD_PRELOAD` into unmodified CUDA programs, it finds
//! asynchronous copies whose host side is pageable memory: such a copy blocks the host
//! thread until the stream drains and runs at about 1/8 of pinned bandwidth.
//!
//! Map (`docs/design.md` has the whole story); imports point down this list:
//! - `hooks`: THE declarations: every hooked function, its signature and its action;
//! - `loader`: the interposed `dlsym`;
//! - `intercept`: what every hook does (classify, call the real function, report);
//! - `routing`: handing out our wrapper for the exact variant CUDA returned;
//! - `describe`: reading the call's argument memory (parameter blocks, batches);
//! - `gate`: the check at the top of every hook, and the panic boundary;
//! - `sites`, `stack`: findings aggregated by call site; native stacks;
//! - `unwind`, `frame_rule`: the caching unwinder stacks are walked with, and its rules;
//! - `report_file`, `finish`: the JSON Lines report; the summary at exit;
//! - `lifecycle`: constructor, fork handlers, destructor; `process`: initialisation;
//! - `hook_table`: what a row of the table is; `name_index`: its rows by name, one
//!   probe each; `symbols`: finding the real functions;
//! - `oracle`, `pinned`, `counters`, `sink`, `spin`: the driver's word, the registry,
//!   per-thread counters, the descriptors lines go to, a fork-safe lock.
//!
//! The pure logic (registry, extents, verdicts, settings, report lines, counters) lives
//! in the `pinguard-core` crate, where it is unit- and property-tested.
#![allow(non_snake_case, reason = "hooks carry the exact CUDA symbol names they replace")]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

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
mod name_index;
mod oracle;
mod pinned;
mod process;
mod report_file;
mod routing;
mod sink;
mod sites;
mod spin;
mod stack;
mod symbols;
mod unwind;
