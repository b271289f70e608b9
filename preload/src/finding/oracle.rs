//! The driver oracle: `cuPointerGetAttributes` through the real driver, asked only when
//! the registry has no pinned range for a copy's host side. It returns success with
//! zero values for memory CUDA does not know (docs/cuda-facts.md, section 1), which reads as
//! pageable; it costs about 0.2 us a query, on the miss path only.

use std::ffi::c_void;

use pinguard_core::cuda_types::{memory_type, pointer_attribute};
use pinguard_core::verdict::{DriverMemory, DriverOracle};

use crate::base::symbols::{Library, RealSlot};

type PointerGetAttributes = unsafe extern "C" fn(u32, *mut u32, *mut *mut c_void, u64) -> i32;

static REAL: RealSlot = RealSlot::new();

/// The oracle backed by the process's real `libcuda`.
pub struct Driver;

impl DriverOracle for Driver {
    fn memory_at(&self, addr: usize) -> Option<DriverMemory> {
        let f = REAL.get(Library::Driver, c"cuPointerGetAttributes");
        if f.is_null() {
            return None; // libcuda is not loaded: the registry alone decides
        }
        // SAFETY: f is the driver's cuPointerGetAttributes (CUDA 7.0 ABI, unchanged since).
        let f = unsafe { std::mem::transmute::<*mut c_void, PointerGetAttributes>(f) };
        let mut attrs = [pointer_attribute::MEMORY_TYPE, pointer_attribute::IS_MANAGED];
        let (mut kind, mut managed) = (0u32, 0u32);
        let mut data = [(&raw mut kind).cast::<c_void>(), (&raw mut managed).cast::<c_void>()];
        // SAFETY: two attributes, each with a u32 to write into, as the API documents
        // for MEMORY_TYPE and IS_MANAGED; the address is only inspected, never accessed.
        let rc = unsafe { f(2, attrs.as_mut_ptr(), data.as_mut_ptr(), addr as u64) };
        if rc != 0 {
            return None;
        }
        Some(match (managed, kind) {
            (m, _) if m != 0 => DriverMemory::Managed,
            (_, memory_type::HOST) => DriverMemory::PinnedHost,
            (_, 0) => DriverMemory::Unregistered,
            _ => DriverMemory::Device,
        })
    }
}
