//! Routing: how static-runtime programs, CuPy and JAX reach our driver wrappers.
//! `cuGetProcAddress` or `dlsym(handle, ...)` returns the real pointer, and we hand back
//! the wrapper whose row holds that exact pointer, so each variant (`_v2`, `_ptsz`, the
//! CUDA 12.8 and 13.0 batch signatures) gets a wrapper of its own ABI that calls that
//! very function. A pointer that matches no row is passed through untouched and counted.

use std::ffi::c_void;

use pinguard_core::report::Layer;

use crate::table::hook_table::HookRow;
use crate::table::name_index::NameIndex;

/// What to hand back for a driver entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Not a function pinguard hooks: hand back the real pointer.
    NotHooked,
    /// Already one of our wrappers (the runtime asked through our own cuGetProcAddress).
    AlreadyWrapped,
    /// Hand back this wrapper.
    Wrapper(*const ()),
    /// A hooked name, but a variant no row matches: hand back the real pointer, count it.
    Unknown,
}

fn is_wrapper(table: &[HookRow], p: *const c_void) -> bool {
    table.iter().any(|h| h.wrapper.0 == p.cast())
}

/// Routes a pointer returned by `cuGetProcAddress` for `base` (the name asked for).
pub fn by_pointer(table: &[HookRow], base: &str, p: *mut c_void) -> Routed {
    if p.is_null() {
        return Routed::NotHooked;
    }
    if is_wrapper(table, p) {
        return Routed::AlreadyWrapped;
    }
    let mut candidates = table.iter().filter(|h| h.layer == Layer::Driver && h.base() == base).peekable();
    if candidates.peek().is_none() {
        return Routed::NotHooked;
    }
    match candidates.find(|h| h.real_ptr() == p) {
        Some(h) => Routed::Wrapper(h.wrapper.0),
        None => Routed::Unknown,
    }
}

/// Routes `dlsym(handle, symbol)` that returned `p`: the symbol names the variant (the
/// interposed `dlsym` finds the row first and calls [`by_row`]).
#[cfg(test)]
pub fn by_symbol(table: &[HookRow], names: &NameIndex, symbol: &[u8], p: *mut c_void) -> Routed {
    match driver_row(table, names, symbol) {
        Some(row) => by_row(row, p),
        None if p.is_null() => Routed::NotHooked,
        None if is_wrapper(table, p) => Routed::AlreadyWrapped,
        None => Routed::NotHooked,
    }
}

/// Routes `p`, returned for the name of `row` (found once by [`driver_row`]). A lookup by
/// name can only have found pinguard's own export of that very name, so the row's own
/// wrapper is the one to compare with.
pub fn by_row(row: &HookRow, p: *mut c_void) -> Routed {
    if p.is_null() {
        return Routed::NotHooked;
    }
    if p.cast_const().cast() == row.wrapper.0 {
        return Routed::AlreadyWrapped;
    }
    let known = row.real.peek();
    if known.is_null() {
        row.real.set_if_empty(p);
    }
    if row.real.peek() == p { Routed::Wrapper(row.wrapper.0) } else { Routed::Unknown }
}

/// The row of `table` exported as `symbol`, any layer: one probe of `names`, the table's
/// name index.
pub fn row_named<'t>(table: &'t [HookRow], names: &NameIndex, symbol: &[u8]) -> Option<&'t HookRow> {
    names.find(symbol, |row| table[row].symbol.to_bytes()).map(|row| &table[row])
}

/// The driver row exported as `symbol`, if any (a cheap filter run on every `dlsym` by
/// handle, before anything is resolved).
pub fn driver_row<'t>(table: &'t [HookRow], names: &NameIndex, symbol: &[u8]) -> Option<&'t HookRow> {
    if !symbol.starts_with(b"cu") {
        return None;
    }
    row_named(table, names, symbol).filter(|h| h.layer == Layer::Driver)
}
