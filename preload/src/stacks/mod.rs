//! Call stacks of findings: native ones captured by the caching unwinder (its rules read
//! from `.eh_frame` once per code address), symbolised once per new site; and the Python
//! frames of the calling thread, read from the interpreter's memory.

pub mod stack;
pub mod unwind;
pub mod frame_rule;
#[allow(dead_code, reason = "the Python frames of findings (issue 27): read and tested, not wired in yet")]
pub mod python;
