//! Native call stacks of findings: captured by the caching unwinder (its rules read from
//! `.eh_frame` once per code address), symbolised once per new site.

pub mod stack;
pub mod unwind;
pub mod frame_rule;
