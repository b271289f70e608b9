//! A pinned range and how it came to be pinned: the value the registry stores and
//! answers with. Its own file so that the registry and its tree both use it and neither
//! imports the other's insides both ways.

/// How a pinned range came to be pinned. A whole word (`repr(u64)`), so a `PinnedRange`
/// has no padding: copies of a struct with padding compile to overlapping partial moves,
/// and the loads that read them back stall (seen tripling a kept registry answer's cost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum PinOrigin {
    /// `cudaMallocHost` / `cuMemAllocHost`.
    MallocHost,
    /// `cudaHostAlloc` / `cuMemHostAlloc`.
    HostAlloc,
    /// `cudaHostRegister` / `cuMemHostRegister` on memory the program owns.
    Registered,
}

impl PinOrigin {
    /// The origin as two bits, for stores that pack it beside other fields (the tree's
    /// entries and the hashed table's).
    pub fn bits(self) -> u64 {
        match self {
            PinOrigin::MallocHost => 0,
            PinOrigin::HostAlloc => 1,
            PinOrigin::Registered => 2,
        }
    }

    /// The origin [`bits`](Self::bits) gave (its low two bits; 3 reads as `Registered`).
    pub fn from_bits(bits: u64) -> PinOrigin {
        match bits & 3 {
            0 => PinOrigin::MallocHost,
            1 => PinOrigin::HostAlloc,
            _ => PinOrigin::Registered,
        }
    }

    /// The call a user would recognise, for messages.
    pub fn api_hint(self) -> &'static str {
        match self {
            PinOrigin::MallocHost => "cudaMallocHost",
            PinOrigin::HostAlloc => "cudaHostAlloc",
            PinOrigin::Registered => "cudaHostRegister",
        }
    }
}

/// One pinned range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedRange {
    pub start: usize,
    pub end: usize,
    pub origin: PinOrigin,
}

impl PinnedRange {
    /// A range of `len` bytes at `start`; `None` if it is empty or wraps the address space.
    pub fn new(start: usize, len: usize, origin: PinOrigin) -> Option<Self> {
        let end = start.checked_add(len)?;
        (len > 0).then_some(PinnedRange { start, end, origin })
    }

    #[cfg(test)]
    pub(crate) fn overlaps(&self, start: usize, end: usize) -> bool {
        self.start < end && start < self.end
    }
}
