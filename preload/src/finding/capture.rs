//! Stream capture (issue 28): is the stream of a finding being captured into a CUDA
//! graph, and where did that capture begin.
//!
//! A copy issued while its stream is captured does not run: it becomes a memcpy node
//! that runs at every launch of the graph, reading the host buffer as it is then. A
//! pageable host side there is a finding of its own kind (`captured`).
//!
//! Asked only for a finding, never on the pinned path, through the driver's own query:
//! `cuStreamGetCaptureInfo` in its first ABI (status and the capture's id; CUDA 10.1 on,
//! still exported by CUDA 13 drivers). On an H100 with CUDA 13 it answered in each of
//! the three capture modes, from the capturing thread and from another, and the capture
//! went on to end, instantiate and launch (`testing/probes/capture_facts.cu`). The legacy
//! stream is never asked: it cannot be captured, and while a blocking stream captures,
//! asking about it returns `CUDA_ERROR_STREAM_CAPTURE_IMPLICIT`.
//!
//! Where a capture began: the begin-capture hooks note each capture's id, mode and the
//! first frame of the program's code that began it, in a ring of the last
//! [`REMEMBERED`] captures, read when a captured copy's site is built. A capture begun
//! out of sight (before pinguard loaded, or joined from another stream by an event)
//! has its id and no place.

use std::ffi::c_void;

use pinguard_core::report::StreamKind;
use pinguard_core::site::FrameInfo;

use crate::base::process::Process;
use crate::base::spin::SpinLock;
use crate::base::symbols::{Library, RealSlot};
use crate::stacks::python::{self, PyStack};
use crate::stacks::stack::Stack;

/// `CU_STREAM_CAPTURE_STATUS_ACTIVE` (`cuda.h`).
const STATUS_ACTIVE: u32 = 1;
/// `CU_STREAM_PER_THREAD` (`cuda.h`): the calling thread's default stream, in any API.
const STREAM_PER_THREAD: usize = 2;

/// `CUresult cuStreamGetCaptureInfo(CUstream, CUstreamCaptureStatus *, cuuint64_t *)`:
/// the first ABI (CUDA 10.1), exported under the unversioned name by every later driver.
type GetCaptureInfo = unsafe extern "C" fn(*mut c_void, *mut u32, *mut u64) -> i32;

static GET_CAPTURE_INFO: RealSlot = RealSlot::new();

/// The capture modes by their `cudaStreamCaptureMode` / `CUstreamCaptureMode` value.
pub fn mode_name(mode: u32) -> Option<&'static str> {
    ["global", "thread_local", "relaxed"].get(mode as usize).copied()
}

/// The driver handle of a hook's stream argument, or `None` for the legacy stream, which
/// is never captured (and is not asked about: see the module's note).
fn driver_handle(stream: usize, per_thread_api: bool) -> Option<usize> {
    match StreamKind::of(stream, per_thread_api) {
        StreamKind::LegacyDefault | StreamKind::Legacy => None,
        StreamKind::PerThreadDefault => Some(STREAM_PER_THREAD),
        StreamKind::Explicit => Some(stream),
    }
}

/// The id of the capture `stream` is part of now, if it is being captured; `None` when
/// it is not, or when the driver cannot say.
pub fn active(stream: usize, per_thread_api: bool) -> Option<u64> {
    let handle = driver_handle(stream, per_thread_api)?;
    let f = GET_CAPTURE_INFO.get(Library::Driver, c"cuStreamGetCaptureInfo");
    if f.is_null() {
        return None;
    }
    // SAFETY: f is the driver's cuStreamGetCaptureInfo, first ABI (see GetCaptureInfo).
    let f = unsafe { std::mem::transmute::<*mut c_void, GetCaptureInfo>(f) };
    let (mut status, mut id) = (0u32, 0u64);
    // SAFETY: a stream handle the program passed to CUDA (or CU_STREAM_PER_THREAD), and
    // two out-parameters of the documented types; the query changes no state.
    let rc = unsafe { f(handle as *mut c_void, &mut status, &mut id) };
    (rc == 0 && status == STATUS_ACTIVE).then_some(id)
}

/// One capture, as its begin-capture call left it.
#[derive(Clone, Debug)]
pub struct Begun {
    pub id: u64,
    pub mode: Option<&'static str>,
    /// The first frame of the program's code in the stack that began it.
    pub location: Option<FrameInfo>,
}

/// How many recent captures keep their place (a serving engine captures one graph per
/// batch size, dozens in all, each before its copies).
pub const REMEMBERED: usize = 64;

pub struct Ring {
    slots: [Option<Begun>; REMEMBERED],
    next: usize,
}

/// Held across fork by the fork handlers (never held while allocating or freeing: a
/// `Begun` owns no heap memory).
pub static RING: SpinLock<Ring> = SpinLock::new(Ring { slots: [const { None }; REMEMBERED], next: 0 });

/// After a successful begin-capture call: notes the capture's id, mode and place.
pub fn note_begun(process: &Process, stream: usize, per_thread_api: bool, mode: Option<u32>) {
    let Some(id) = active(stream, per_thread_api) else {
        return;
    };
    let mut stack = Stack::new(process.settings.stack_depth.0 as usize);
    let stack = stack.capture(process.settings.fast_unwind, None);
    let python = PyStack::of_this_thread();
    let (frames, location) = python::frames_and_location(process, stack, python.as_ref());
    let begun = Begun { id, mode: mode.and_then(mode_name), location: location.map(|i| frames[i].clone()) };
    let mut ring = RING.lock();
    let at = ring.next;
    ring.slots[at] = Some(begun);
    ring.next = (at + 1) % REMEMBERED;
}

/// The capture with this id, as its begin-capture call left it: `None` if the ring is
/// busy (a finding never waits for it), and a capture without mode or place if pinguard
/// did not see it begin.
pub fn begun(id: u64) -> Begun {
    let unseen = Begun { id, mode: None, location: None };
    let Some(ring) = RING.try_lock() else {
        return unseen;
    };
    ring.slots.iter().flatten().find(|b| b.id == id).cloned().unwrap_or(unseen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_stream_is_never_asked_about() {
        assert_eq!(driver_handle(0, false), None);
        assert_eq!(driver_handle(1, true), None);
        assert_eq!(driver_handle(0, true), Some(STREAM_PER_THREAD));
        assert_eq!(driver_handle(2, false), Some(STREAM_PER_THREAD));
        assert_eq!(driver_handle(0x5000, false), Some(0x5000));
    }

    #[test]
    fn modes_by_value() {
        assert_eq!(mode_name(0), Some("global"));
        assert_eq!(mode_name(1), Some("thread_local"));
        assert_eq!(mode_name(2), Some("relaxed"));
        assert_eq!(mode_name(3), None);
    }
}
