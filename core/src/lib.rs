//! pinguard's pure core, free of FFI so that it can be tested and benchmarked directly:
//!
//! - [`registry`] - `PinnedRegistry`, the pinned host ranges of the process, in a
//!   persistent B+tree ([`pinned_tree`]);
//! - [`cuda_types`] - the CUDA structures pinguard reads, with the headers' layouts;
//! - [`copy_shape`] - from an API call's arguments to the sides of its copy;
//! - [`extent`] - which host bytes a 1D/2D/3D copy touches, with checked arithmetic;
//! - [`verdict`] - from a copy's sides to a `CopyVerdict`, with the driver oracle on the
//!   registry's miss path;
//! - [`settings`] - `PINGUARD_OPTIONS`;
//! - [`report`] - findings and their one-line form;
//! - [`summary`] - the exit summary's counters, declared once;
//! - [`site`] - call sites: frames, location, fingerprint, per-site totals;
//! - [`cpp_name`] - demangled C++ names shortened for people and for `skip_frames`;
//! - [`site_table`] - the live site table, its totals as atomics (the aggregation path);
//! - [`records`] - the JSON Lines report's records, each declared once: writer, reader
//!   and documentation (`docs/report-format.md`);
//! - [`jsonl`] - writing JSON without allocating;
//! - [`suppressions`], [`glob`] - rules for findings to ignore;
//! - [`advice`] - the fix a finding suggests, by framework;
//! - [`py_layout`], [`py_lines`] - CPython's frame and code layouts per version, and its
//!   line tables: for the Python frames of a finding (issue 27, in progress).
//!
//! The preload library (`libpinguard.so`, the `preload/` crate) wires these to CUDA.

/// The commit pinguard was built from (`git rev-parse`, or `PINGUARD_COMMIT` where the
/// source is not a git checkout; "unknown" without either), `-modified` if it had
/// uncommitted changes.
pub const COMMIT: &str = env!("PINGUARD_COMMIT");

/// `0.1.0 (commit abc123def456)`.
pub const VERSION_AND_COMMIT: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PINGUARD_COMMIT"), ")");

pub mod advice;
pub mod copy_shape;
pub mod cpp_name;
pub mod cuda_types;
pub mod extent;
pub mod glob;
pub mod jsonl;
pub mod pinned_range;
pub mod pinned_table;
pub mod pinned_tree;
pub mod py_layout;
pub mod py_lines;
pub mod records;
pub mod registered_granules;
pub mod registry;
pub mod report;
pub mod settings;
pub mod site;
pub mod site_table;
pub mod summary;
pub mod suppressions;
pub mod verdict;
