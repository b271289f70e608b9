//! The hook table: what a row is, the rows by name, and which of our wrappers answers a
//! lookup of a CUDA function (the exact variant CUDA returned).

pub mod routing;
pub mod name_index;
pub mod hook_table;
