//! `libpinguard.so`: loaded with `LD_PRELOAD` into unmodified CUDA programs, it finds
//! asynchronous copies whose host side is pageable memory: such a copy blocks the host
//! thread until the stream drains and runs at about 1/8 of pinned bandwidth.
//!
//! Map (`docs/design.md` has the whole story). Five folders, one layer each, from the
//! program's side down; a module imports only modules below it, later in its own folder
//! or in a folder further down (`scripts/ci/check-layers.py` holds the code to it in CI):
//! - `interpose`: what the program calls into: `lifecycle` (constructor, fork handlers,
//!   destructor), `loader` (the interposed dlsym), `run_marks` (under `pinguard run`,
//!   the start mark and the exec and spawn hooks), `hooks` (THE declarations: every
//!   hooked CUDA function, its signature and its action), `releases` (the C library's
//!   free, realloc, munmap and mremap: memory released while still registered);
//! - `finding`: what a hook does with a call: `pinning` (pinning and releasing host
//!   memory: the registry in step, churn), `released` (a release that takes
//!   registered memory with it), `intercept` (classify, call the real
//!   function, report), `gate` (the check at the top of every hook, the panic boundary),
//!   `report_file` (the JSON Lines report), `finish` (the summary at exit), `sites`
//!   (findings by call site), `describe` (reading a call's parameter blocks and
//!   batches), `oracle` (the driver's word), `capture` (is a finding's stream being
//!   captured into a CUDA graph, and where each capture began), `pinnings`
//!   (where each pinned range was pinned, and each place's cycles);
//! - `stacks`: call stacks: `python` (a thread's Python frames, read from the
//!   interpreter's memory), `stack` (native ones: capture and symbols), `unwind` (the
//!   caching unwinder), `frame_rule` (its rules, from `.eh_frame`);
//! - `table`: the hook table: `routing` (our wrapper for the exact variant CUDA returned),
//!   `name_index` (the table's rows by name), `hook_table` (what a row is);
//! - `base`: what every layer stands on: `process` (settings and state, made at the
//!   first hooked call), `clock`, `symbols` (the real functions, the loader, libgcc's
//!   unwinder), `sink` (the descriptors lines go to), `counters`, `pinned` (the
//!   registry), `spin` (a fork-safe lock), `memory` (pinguard's own allocator),
//!   `guarded_read` (reading memory pinguard does not own, never faulting),
//!   `thread_key` (per-thread values handed back when a thread ends).
//!
//! The pure logic (registry, extents, verdicts, settings, report records, counters)
//! lives in the `pinguard-core` crate, where it is unit- and property-tested.
#![allow(non_snake_case, reason = "hooks carry the exact CUDA symbol names they replace")]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

/// Every allocation pinguard makes comes from its own memory, never the C library's
/// `malloc` (`base::memory`: a handler that interrupted `malloc` may build a site; memory
/// the system refuses stops pinguard, not the program).
#[global_allocator]
static MEMORY: base::memory::PinguardMemory = base::memory::PinguardMemory;

mod base;
mod finding;
mod interpose;
mod stacks;
mod table;
