//! Call stacks of findings: native ones captured by the caching unwinder (its rules read
//! from `.eh_frame` once per code address), symbolised once per new site; and the Python
//! frames of the calling thread, read from the interpreter's memory.

pub mod python;
pub mod stack;
pub mod unwind;
pub mod frame_rule;
