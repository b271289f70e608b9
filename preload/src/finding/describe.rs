//! Reading a call's argument memory: parameter blocks and batch arrays. Layer-neutral:
//! the runtime and driver batch APIs share these readers.
//!
//! Caller-supplied counts are bounded before anything is read, and nothing is
//! allocated: a batch is read element by element while it is classified.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, Ordering};

use pinguard_core::copy_shape::{self, CopyElement, NoVerdict};
use pinguard_core::cuda_types::{Memcpy3DBatchOp, MemcpyAttributes};

use crate::base::symbols;

/// The most batch elements pinguard reads in one call. A larger batch gets no verdict
/// (counted, noted once) and runs untouched: a hostile count must not make pinguard
/// read or allocate without bound.
pub const MAX_BATCH_ELEMENTS: usize = 1 << 16;

/// The copies one call makes: one, or a batch read lazily.
pub enum Elements {
    One(Result<CopyElement, NoVerdict>),
    Batch(Batch),
}

/// A batch whose arrays are known to hold `count` elements (see the constructors).
pub struct Batch {
    kind: BatchKind,
    count: usize,
}

enum BatchKind {
    Linear {
        dsts: *const usize,
        srcs: *const usize,
        sizes: *const usize,
        attrs: *const MemcpyAttributes,
        attr_idxs: *const usize,
        num_attrs: usize,
    },
    ThreeD {
        ops: *const Memcpy3DBatchOp,
    },
}

impl Batch {
    pub fn len(&self) -> usize {
        self.count
    }

    /// Element `i < len()`.
    pub fn get(&self, i: usize) -> Result<CopyElement, NoVerdict> {
        assert!(i < self.count);
        match self.kind {
            BatchKind::Linear { dsts, srcs, sizes, attrs, attr_idxs, num_attrs } => {
                // SAFETY: the constructor's contract: each array holds `count` elements
                // (`num_attrs` for the attribute arrays, checked <= count), i < count.
                let (d, s, n) = unsafe { (*dsts.add(i), *srcs.add(i), *sizes.add(i)) };
                let attr = if num_attrs == 0 {
                    None
                } else {
                    // SAFETY: as above; num_attrs elements each.
                    let (a, idx) = unsafe {
                        (std::slice::from_raw_parts(attrs, num_attrs), std::slice::from_raw_parts(attr_idxs, num_attrs))
                    };
                    copy_shape::batch_attribute(a, idx, i)
                };
                copy_shape::batch_element(d, s, n, attr)
            }
            // SAFETY: the constructor's contract: `ops` holds `count` operations, i < count.
            BatchKind::ThreeD { ops } => copy_shape::batch3d_op(unsafe { &*ops.add(i) }),
        }
    }
}

/// The elements of a 1D batch (`cudaMemcpyBatchAsync`, `cuMemcpyBatchAsync`).
///
/// # Safety
/// The batch API's contract: non-null `dsts`, `srcs`, `sizes` hold `count` elements;
/// non-null `attrs` and `attr_idxs` hold `num_attrs` elements.
pub unsafe fn batch(
    dsts: *const c_void,
    srcs: *const c_void,
    sizes: *const usize,
    count: usize,
    attrs: *const MemcpyAttributes,
    attr_idxs: *const usize,
    num_attrs: usize,
) -> Elements {
    if dsts.is_null() || srcs.is_null() || sizes.is_null() {
        return Elements::One(Err(NoVerdict::NullParameters));
    }
    if count > MAX_BATCH_ELEMENTS {
        return Elements::One(Err(NoVerdict::BatchTooLarge));
    }
    if num_attrs > count {
        // CUDA requires numAttrs <= count and rejects the call: read no attribute.
        return Elements::One(Err(NoVerdict::InvalidBatch));
    }
    let num_attrs = if attrs.is_null() || attr_idxs.is_null() { 0 } else { num_attrs };
    let kind = BatchKind::Linear { dsts: dsts.cast(), srcs: srcs.cast(), sizes, attrs, attr_idxs, num_attrs };
    Elements::Batch(Batch { kind, count })
}

/// The elements of a 3D batch (`cudaMemcpy3DBatchAsync`, `cuMemcpy3DBatchAsync`).
///
/// # Safety
/// A non-null `ops` holds `count` operations.
pub unsafe fn batch3d(ops: *const Memcpy3DBatchOp, count: usize) -> Elements {
    if ops.is_null() {
        return Elements::One(Err(NoVerdict::NullParameters));
    }
    if count > MAX_BATCH_ELEMENTS {
        return Elements::One(Err(NoVerdict::BatchTooLarge));
    }
    Elements::Batch(Batch { kind: BatchKind::ThreeD { ops }, count })
}

/// One copy described by a parameter block (`CUDA_MEMCPY2D`, `cudaMemcpy3DParms`, ...).
///
/// # Safety
/// A non-null `p` points to a `T` the caller owns for the duration of the call.
pub unsafe fn param_block<T>(p: *const T, shape: fn(&T) -> Result<CopyElement, NoVerdict>) -> Elements {
    // SAFETY: the caller's contract.
    Elements::One(unsafe { p.as_ref() }.ok_or(NoVerdict::NullParameters).and_then(shape))
}

/// The runtime's batch functions have two ABIs behind one name: `libcudart.so.13`'s, and
/// `libcudart.so.12`'s (12.8+) with a `failIdx` argument before the trailing ones. Our
/// export takes the longer argument list and forwards every argument, which is sound for
/// both under the SysV ABI (an extra trailing argument is ignored by the callee); which
/// argument is the stream depends on the library that holds the real function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeBatchAbi {
    /// CUDA 13: the stream comes right after the attributes (1D) or flags (3D).
    Cuda13,
    /// CUDA 12.8: `failIdx` first, so the stream is one argument later.
    Cuda128,
}

static RUNTIME_BATCH_ABI: AtomicU8 = AtomicU8::new(0);

impl RuntimeBatchAbi {
    /// The ABI of the runtime whose function is at `real` (decided once per process).
    pub fn of(real: *const c_void) -> Self {
        match RUNTIME_BATCH_ABI.load(Ordering::Relaxed) {
            1 => RuntimeBatchAbi::Cuda13,
            2 => RuntimeBatchAbi::Cuda128,
            _ => {
                let path = symbols::object_path_of(real).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                let abi =
                    if path.contains("libcudart.so.12") { RuntimeBatchAbi::Cuda128 } else { RuntimeBatchAbi::Cuda13 };
                RUNTIME_BATCH_ABI.store(if abi == RuntimeBatchAbi::Cuda13 { 1 } else { 2 }, Ordering::Relaxed);
                abi
            }
        }
    }

    /// The stream, given the argument where CUDA 13 has it and the one after it.
    pub fn stream(self, cuda13_position: usize, next: usize) -> *mut c_void {
        match self {
            RuntimeBatchAbi::Cuda13 => cuda13_position as *mut c_void,
            RuntimeBatchAbi::Cuda128 => next as *mut c_void,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect (issue 8, item 8): a hostile count is refused before anything is read.
    #[test]
    fn hostile_counts_are_refused_unread() {
        let one = [0usize; 1];
        let p = one.as_ptr().cast::<c_void>();
        // SAFETY: the counts are hostile on purpose; the readers must not read them.
        let e = unsafe { batch(p, p, one.as_ptr(), 1 << 40, std::ptr::null(), std::ptr::null(), 0) };
        assert!(matches!(e, Elements::One(Err(NoVerdict::BatchTooLarge))));
        let attrs = [MemcpyAttributes::default(); 1];
        // SAFETY: as above: num_attrs > count is refused unread.
        let e = unsafe { batch(p, p, one.as_ptr(), 1, attrs.as_ptr(), one.as_ptr(), 1 << 40) };
        assert!(matches!(e, Elements::One(Err(NoVerdict::InvalidBatch))));
        // SAFETY: as above.
        let e = unsafe { batch3d(std::ptr::null::<Memcpy3DBatchOp>().wrapping_add(1), 1 << 40) };
        assert!(matches!(e, Elements::One(Err(NoVerdict::BatchTooLarge))));
    }

    proptest::proptest! {
        /// Fuzzing the batch reader: any counts and contents, read within bounds, never
        /// a panic; a batch within bounds yields exactly `count` elements.
        #[test]
        fn batch_readers_never_read_past_what_they_were_given(
            count in 0usize..40,
            num_attrs in 0usize..60,
            dsts in proptest::collection::vec(proptest::prelude::any::<usize>(), 40),
            srcs in proptest::collection::vec(proptest::prelude::any::<usize>(), 40),
            sizes in proptest::collection::vec(proptest::prelude::any::<usize>(), 40),
            idxs in proptest::collection::vec(0usize..50, 40),
            orders in proptest::collection::vec(0u32..5, 40),
        ) {
            let attrs: Vec<MemcpyAttributes> =
                orders.iter().map(|&o| MemcpyAttributes { srcAccessOrder: o, ..Default::default() }).collect();
            // The arrays hold 40 elements; counts beyond 40 are refused by the
            // reader's own rules only when they break CUDA's (num_attrs > count).
            let num_attrs = num_attrs.min(40);
            // SAFETY: every array holds 40 >= count elements and 40 >= num_attrs attributes.
            let e = unsafe {
                batch(dsts.as_ptr().cast(), srcs.as_ptr().cast(), sizes.as_ptr(), count, attrs.as_ptr(), idxs.as_ptr(), num_attrs)
            };
            match e {
                Elements::Batch(b) => {
                    proptest::prop_assert!(num_attrs <= count);
                    proptest::prop_assert_eq!(b.len(), count);
                    for i in 0..b.len() {
                        let _ = b.get(i);
                    }
                }
                Elements::One(Err(NoVerdict::InvalidBatch)) => proptest::prop_assert!(num_attrs > count),
                Elements::One(other) => proptest::prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_batch_is_read_element_by_element() {
        let dsts = [0x9000usize, 0xa000];
        let srcs = [0x1000usize, 0x2000];
        let sizes = [16usize, 32];
        let attrs = [MemcpyAttributes { srcAccessOrder: 3, ..Default::default() }];
        let idxs = [1usize];
        // SAFETY: every array holds what the counts say.
        let e = unsafe {
            batch(dsts.as_ptr().cast(), srcs.as_ptr().cast(), sizes.as_ptr(), 2, attrs.as_ptr(), idxs.as_ptr(), 1)
        };
        let Elements::Batch(b) = e else { panic!("a batch") };
        assert_eq!(b.len(), 2);
        assert!(!b.get(0).unwrap().allowed_by_attribute, "the attribute applies from element 1");
        assert!(b.get(1).unwrap().allowed_by_attribute);
    }
}
