//! `libpinguard.so`: loaded with `LD_PRELOAD` into unmodified CUDA programs, it finds
//! asynchronous copies whose host side is pageable memory: such a copy blocks the host
//! thread until the stream drains and runs at about 1/8 of pinned bandwidth.
//!
//! Map (`docs/design.md` has the whole story):
//! - `exports::runtime`, `exports::driver`, `exports::loader`: every exported hook;
//! - `api_table`: the one table of hooks, and routing by exact pointer;
//! - `intercept`: what every hook does (classify, call the real function, report);
//! - `guard`: one report per user call, and no panic across the FFI boundary;
//! - `symbols`: finding the real functions without calling our own `dlsym`;
//! - `oracle`: the driver's word on memory the registry does not know;
//! - `state`: settings, registry, counters, exit summary, fork handler.
//!
//! The pure logic (registry, extents, verdicts, settings, report lines) lives in the
//! `pinguard-core` crate, where it is unit- and property-tested.
#![allow(non_snake_case, reason = "hooks carry the exact CUDA symbol names they replace")]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod api_table;
mod exports;
mod guard;
mod intercept;
mod oracle;
mod state;
mod symbols;
