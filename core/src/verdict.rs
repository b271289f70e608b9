//! From a copy's sides to a `CopyVerdict`.
//!
//! Each side of a copy is either known not to be host memory (a device pointer, an
//! array), known to be host memory (`cudaMemcpyHostToDevice`'s source, `srcHost` of a
//! `CU_MEMORYTYPE_HOST` operand), or *unified*: a pointer whose kind CUDA infers
//! (`cudaMemcpyDefault`, `cuMemcpyAsync`, batch copies). Host and unified sides are
//! classified the same way: the registry first (lock-free, the fast path), and only on a
//! miss the driver oracle (`cuPointerGetAttributes`), which also catches memory pinned
//! by paths pinguard did not see.

use crate::extent::HostSpan;
use crate::registry::{PinOrigin, PinnedRegistry, RangeLookup};

/// What the driver says one address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverMemory {
    /// Not known to CUDA: ordinary pageable host memory.
    Unregistered,
    /// Pinned (page-locked) host memory.
    PinnedHost,
    Device,
    Managed,
}

/// The driver oracle, asked on the registry's miss path only.
pub trait DriverOracle {
    /// `None` when the driver cannot be asked (not loaded, or the query failed).
    fn memory_at(&self, addr: usize) -> Option<DriverMemory>;
}

/// An oracle that is never available: verdicts from the registry alone.
pub struct NoOracle;

impl DriverOracle for NoOracle {
    fn memory_at(&self, _addr: usize) -> Option<DriverMemory> {
        None
    }
}

/// One side of a copy, as the API call describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopySide {
    /// Not host memory by the call's own description (device pointer, array, symbol).
    NotHost,
    /// Host memory by the call's description.
    Host(HostSpan),
    /// A pointer whose kind CUDA infers from the address.
    Unified(HostSpan),
    /// Nothing is copied (zero bytes).
    Empty,
}

/// Which way the bytes move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    HostToDevice,
    DeviceToHost,
    HostToHost,
    DeviceToDevice,
}

impl Direction {
    pub fn short(self) -> &'static str {
        match self {
            Direction::HostToDevice => "H2D",
            Direction::DeviceToHost => "D2H",
            Direction::HostToHost => "H2H",
            Direction::DeviceToDevice => "D2D",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Direction::HostToDevice => "host-to-device",
            Direction::DeviceToHost => "device-to-host",
            Direction::HostToHost => "host-to-host",
            Direction::DeviceToDevice => "device-to-device",
        }
    }

    pub fn from_short(s: &str) -> Option<Direction> {
        [Direction::HostToDevice, Direction::DeviceToHost, Direction::HostToHost, Direction::DeviceToDevice]
            .into_iter()
            .find(|d| d.short() == s)
    }
}

/// What one side turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residency {
    /// Pinned, by a range pinguard saw (`Some`) or by the driver's word alone (`None`).
    Pinned(Option<PinOrigin>),
    Pageable,
    /// Part pinned, part not; the pinned range met, where known.
    Straddles {
        edge: Option<(usize, usize)>,
    },
    Device,
    Managed,
}

impl Residency {
    fn is_host(self) -> bool {
        matches!(self, Residency::Pinned(_) | Residency::Pageable | Residency::Straddles { .. })
    }
}

/// The verdict for a whole copy (or one element of a batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictKind {
    Pinned,
    Pageable,
    Straddles,
    Device,
    Managed,
    /// Nothing copied.
    Empty,
}

impl VerdictKind {
    pub fn name(self) -> &'static str {
        match self {
            VerdictKind::Pinned => "pinned",
            VerdictKind::Pageable => "pageable",
            VerdictKind::Straddles => "straddles",
            VerdictKind::Device => "device",
            VerdictKind::Managed => "managed",
            VerdictKind::Empty => "empty",
        }
    }

    /// Verdicts that are findings: the copy blocks the host, or CUDA rejects it.
    pub fn is_finding(self) -> bool {
        matches!(self, VerdictKind::Pageable | VerdictKind::Straddles)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyVerdict {
    pub kind: VerdictKind,
    pub direction: Direction,
    /// The host side that decided the verdict (the pageable or straddling one).
    pub host: Option<HostSpan>,
    /// For straddles: the pinned range whose edge the copy crosses, where known.
    pub edge: Option<(usize, usize)>,
    /// A side was pinned by a path pinguard did not see (the driver oracle said so).
    pub pinned_unseen: bool,
}

/// Classifies one host byte range.
pub fn classify_span(registry: &PinnedRegistry, oracle: &dyn DriverOracle, span: HostSpan) -> Residency {
    residency_of(registry.lookup(span.start, span.len), oracle, span)
}

/// A host range's residency from the registry's answer for it, asking the driver on a miss.
fn residency_of(found: RangeLookup, oracle: &dyn DriverOracle, span: HostSpan) -> Residency {
    match found {
        RangeLookup::Inside(r) => Residency::Pinned(Some(r.origin)),
        RangeLookup::Straddles(r) => Residency::Straddles { edge: Some((r.start, r.end)) },
        RangeLookup::Outside => classify_by_driver(oracle, span),
    }
}

/// Classifies a host byte range by the driver's word alone (the registry's miss path,
/// and the driver's side of the differential check). As CUDA does, by its first byte:
/// a copy that starts in pageable memory runs as pageable whatever follows (measured:
/// one that starts in pageable memory and runs into a registered range returns success),
/// and one that starts in pinned memory straddles if its last byte is not pinned (CUDA
/// rejects it with invalid value).
pub fn classify_by_driver(oracle: &dyn DriverOracle, span: HostSpan) -> Residency {
    let last = span.end() - 1;
    match oracle.memory_at(span.start) {
        // Oracle unavailable: no byte is pinned that we know of.
        None => Residency::Pageable,
        Some(DriverMemory::Device) => Residency::Device,
        Some(DriverMemory::Managed) => Residency::Managed,
        Some(DriverMemory::PinnedHost) => match oracle.memory_at(last) {
            Some(DriverMemory::PinnedHost) | None => Residency::Pinned(None),
            _ => Residency::Straddles { edge: None },
        },
        Some(DriverMemory::Unregistered) => Residency::Pageable,
    }
}

/// The differential check (`verify_with_driver=1`): classifies a side twice, with the
/// registry and with the driver alone, and returns both answers when they disagree.
/// Pinned ranges compare equal whatever their origin, straddles whatever their edge.
/// `None` when they agree, when the side is not host memory, or when the driver cannot
/// be asked.
pub fn differential(
    registry: &PinnedRegistry,
    oracle: &dyn DriverOracle,
    side: CopySide,
) -> Option<(Residency, Residency)> {
    let (CopySide::Host(span) | CopySide::Unified(span)) = side else {
        return None;
    };
    oracle.memory_at(span.start)?;
    let ours = classify_span(registry, oracle, span);
    let drivers = classify_by_driver(oracle, span);
    let same = match (ours, drivers) {
        (Residency::Pinned(_), Residency::Pinned(_)) => true,
        (Residency::Straddles { .. }, Residency::Straddles { .. }) => true,
        (a, b) => a == b,
    };
    (!same).then_some((ours, drivers))
}

impl Residency {
    pub fn name(self) -> &'static str {
        match self {
            Residency::Pinned(Some(_)) => "pinned (registry)",
            Residency::Pinned(None) => "pinned (driver)",
            Residency::Pageable => "pageable",
            Residency::Straddles { .. } => "straddling a pinned edge",
            Residency::Device => "device memory",
            Residency::Managed => "managed memory",
        }
    }
}

/// One side's residency (`None`: nothing is copied).
fn classify_side(registry: &PinnedRegistry, oracle: &dyn DriverOracle, side: CopySide) -> Option<Residency> {
    match side {
        CopySide::NotHost => Some(Residency::Device),
        CopySide::Empty => None,
        CopySide::Host(span) | CopySide::Unified(span) => Some(classify_span(registry, oracle, span)),
    }
}

/// Classifies a copy from its two sides. `declared` is the direction the call states
/// (`cudaMemcpyHostToDevice`, `cuMemcpyHtoDAsync`, ...); `None` when CUDA infers it.
pub fn classify_copy(
    registry: &PinnedRegistry,
    oracle: &dyn DriverOracle,
    src: CopySide,
    dst: CopySide,
    declared: Option<Direction>,
) -> CopyVerdict {
    // The common case first: one host side, the other not host memory (an H2D or D2H
    // copy), decided by the host side alone: one registry lookup for a pinned one.
    if let (Some(direction), CopySide::Host(span), CopySide::NotHost)
    | (Some(direction), CopySide::NotHost, CopySide::Host(span)) = (declared, src, dst)
    {
        return one_host_side(classify_span(registry, oracle, span), span, direction);
    }
    classify_sides(registry, oracle, src, dst, declared)
}

/// The verdict of a copy whose one host side has residency `r` and whose other side is
/// not host memory: what [`classify_sides`] concludes for it, without classifying the
/// other side (the pageable path's common case; a test holds the two equal).
fn one_host_side(r: Residency, span: HostSpan, direction: Direction) -> CopyVerdict {
    let verdict = |kind, host, edge| CopyVerdict { kind, direction, host, edge, pinned_unseen: false };
    match r {
        Residency::Straddles { edge } => verdict(VerdictKind::Straddles, Some(span), edge),
        Residency::Pageable => verdict(VerdictKind::Pageable, Some(span), None),
        Residency::Pinned(origin) => {
            CopyVerdict { pinned_unseen: origin.is_none(), ..verdict(VerdictKind::Pinned, None, None) }
        }
        Residency::Managed => verdict(VerdictKind::Managed, None, None),
        Residency::Device => verdict(VerdictKind::Device, None, None),
    }
}

/// Classifies a copy side by side: every shape of copy.
fn classify_sides(
    registry: &PinnedRegistry,
    oracle: &dyn DriverOracle,
    src: CopySide,
    dst: CopySide,
    declared: Option<Direction>,
) -> CopyVerdict {
    let s = classify_side(registry, oracle, src);
    let d = classify_side(registry, oracle, dst);
    let (Some(s), Some(d)) = (s, d) else {
        return CopyVerdict {
            kind: VerdictKind::Empty,
            direction: declared.unwrap_or(Direction::DeviceToDevice),
            host: None,
            edge: None,
            pinned_unseen: false,
        };
    };
    let direction = declared.unwrap_or(match (s.is_host(), d.is_host()) {
        (true, true) => Direction::HostToHost,
        (true, false) => Direction::HostToDevice,
        (false, true) => Direction::DeviceToHost,
        (false, false) => Direction::DeviceToDevice,
    });
    let span_of = |side: CopySide| match side {
        CopySide::Host(sp) | CopySide::Unified(sp) => Some(sp),
        _ => None,
    };
    let sides = [(s, span_of(src)), (d, span_of(dst))];
    let pinned_unseen = sides.iter().any(|(r, _)| *r == Residency::Pinned(None));
    let verdict = |kind, host, edge| CopyVerdict { kind, direction, host, edge, pinned_unseen };
    if let Some((Residency::Straddles { edge }, sp)) =
        sides.iter().find(|(r, _)| matches!(r, Residency::Straddles { .. }))
    {
        return verdict(VerdictKind::Straddles, *sp, *edge);
    }
    if let Some((_, sp)) = sides.iter().find(|(r, _)| *r == Residency::Pageable) {
        return verdict(VerdictKind::Pageable, *sp, None);
    }
    if sides.iter().any(|(r, _)| matches!(r, Residency::Pinned(_))) {
        return verdict(VerdictKind::Pinned, None, None);
    }
    if sides.iter().any(|(r, _)| *r == Residency::Managed) {
        return verdict(VerdictKind::Managed, None, None);
    }
    verdict(VerdictKind::Device, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::PinnedRange;
    use std::collections::BTreeMap;

    /// A driver model: address ranges with their memory kind.
    struct FakeDriver(BTreeMap<usize, (usize, DriverMemory)>);

    impl DriverOracle for FakeDriver {
        fn memory_at(&self, addr: usize) -> Option<DriverMemory> {
            let found = self.0.range(..=addr).next_back().filter(|(_, (end, _))| addr < *end);
            Some(found.map(|(_, (_, m))| *m).unwrap_or(DriverMemory::Unregistered))
        }
    }

    fn span(start: usize, len: usize) -> HostSpan {
        HostSpan::linear(start, len).unwrap().unwrap()
    }

    fn setup() -> (PinnedRegistry, FakeDriver) {
        let reg = PinnedRegistry::new();
        reg.insert(PinnedRange::new(0x10000, 0x1000, PinOrigin::MallocHost).unwrap());
        let mut drv = BTreeMap::new();
        drv.insert(0x10000, (0x11000, DriverMemory::PinnedHost));
        drv.insert(0x20000, (0x21000, DriverMemory::PinnedHost)); // pinned, unseen by the registry
        drv.insert(0x80000, (0x90000, DriverMemory::Device));
        drv.insert(0xa0000, (0xb0000, DriverMemory::Managed));
        (reg, FakeDriver(drv))
    }

    #[test]
    fn explicit_h2d() {
        let (reg, drv) = setup();
        let dev = CopySide::NotHost;
        let h2d = Some(Direction::HostToDevice);
        let v = classify_copy(&reg, &drv, CopySide::Host(span(0x10100, 64)), dev, h2d);
        assert_eq!((v.kind, v.pinned_unseen), (VerdictKind::Pinned, false));
        let v = classify_copy(&reg, &drv, CopySide::Host(span(0x50000, 64)), dev, h2d);
        assert_eq!((v.kind, v.host), (VerdictKind::Pageable, Some(span(0x50000, 64))));
        let v = classify_copy(&reg, &drv, CopySide::Host(span(0x10ff0, 0x20)), dev, h2d);
        assert_eq!((v.kind, v.edge), (VerdictKind::Straddles, Some((0x10000, 0x11000))));
    }

    #[test]
    fn oracle_finds_unseen_pinned_memory_and_its_edges() {
        let (reg, drv) = setup();
        let h2d = Some(Direction::HostToDevice);
        let v = classify_copy(&reg, &drv, CopySide::Host(span(0x20010, 64)), CopySide::NotHost, h2d);
        assert_eq!((v.kind, v.pinned_unseen), (VerdictKind::Pinned, true));
        let v = classify_copy(&reg, &drv, CopySide::Host(span(0x20ff0, 0x20)), CopySide::NotHost, h2d);
        assert_eq!((v.kind, v.edge), (VerdictKind::Straddles, None));
        // Starting before it: pageable, as CUDA runs it.
        let v = classify_copy(&reg, &drv, CopySide::Host(span(0x1fff0, 0x20)), CopySide::NotHost, h2d);
        assert_eq!(v.kind, VerdictKind::Pageable);
    }

    #[test]
    fn unified_copies_infer_direction() {
        let (reg, drv) = setup();
        let u = |s, l| CopySide::Unified(span(s, l));
        let v = classify_copy(&reg, &drv, u(0x50000, 16), u(0x80000, 16), None);
        assert_eq!((v.kind, v.direction), (VerdictKind::Pageable, Direction::HostToDevice));
        let v = classify_copy(&reg, &drv, u(0x80000, 16), u(0x50000, 16), None);
        assert_eq!((v.kind, v.direction), (VerdictKind::Pageable, Direction::DeviceToHost));
        let v = classify_copy(&reg, &drv, u(0x80000, 16), u(0x80100, 16), None);
        assert_eq!((v.kind, v.direction), (VerdictKind::Device, Direction::DeviceToDevice));
        let v = classify_copy(&reg, &drv, u(0xa0000, 16), u(0x80000, 16), None);
        assert_eq!((v.kind, v.direction), (VerdictKind::Managed, Direction::DeviceToDevice));
        let v = classify_copy(&reg, &drv, u(0x10000, 16), u(0x50000, 16), None);
        assert_eq!((v.kind, v.direction), (VerdictKind::Pageable, Direction::HostToHost));
        assert_eq!(v.host, Some(span(0x50000, 16)));
    }

    #[test]
    fn without_an_oracle_a_registry_miss_is_pageable() {
        let (reg, _) = setup();
        let v = classify_copy(&reg, &NoOracle, CopySide::Host(span(0x20010, 8)), CopySide::NotHost, None);
        assert_eq!(v.kind, VerdictKind::Pageable);
    }

    #[test]
    fn differential_agrees_where_the_driver_agrees_and_says_where_not() {
        let (reg, drv) = setup();
        let host = |s, l| CopySide::Host(span(s, l));
        assert_eq!(differential(&reg, &drv, host(0x10010, 16)), None, "pinned in both");
        assert_eq!(differential(&reg, &drv, host(0x50000, 16)), None, "pageable in both");
        assert_eq!(differential(&reg, &drv, host(0x10ff0, 0x20)), None, "straddles in both");
        assert_eq!(differential(&reg, &drv, CopySide::NotHost), None);
        // A range the registry believes pinned but the driver does not (a missed free).
        reg.insert(PinnedRange::new(0x60000, 0x1000, PinOrigin::Registered).unwrap());
        let got = differential(&reg, &drv, host(0x60000, 16)).unwrap();
        assert_eq!(got, (Residency::Pinned(Some(PinOrigin::Registered)), Residency::Pageable));
        assert_eq!(differential(&reg, &NoOracle, host(0x60000, 16)), None, "no driver, no check");
    }

    /// CUDA decides by the first byte (measured on an H100): a copy that starts in
    /// pageable memory and runs into or over pinned memory is accepted and pageable; one
    /// that starts in pinned memory and runs past its end is rejected, a straddle. The
    /// registry and the driver's word agree on each.
    #[test]
    fn the_first_byte_decides_as_it_does_for_cuda() {
        let (reg, drv) = setup();
        let h2d = Some(Direction::HostToDevice);
        let host = |s, l| CopySide::Host(span(s, l));
        // [0x1f000, 0x22000): a pageable page, the unseen pinned page 0x20000, pageable.
        for (start, len) in [(0x1f000, 0x3000), (0x1f800, 0x1000), (0x0f000, 0x1800)] {
            let v = classify_copy(&reg, &drv, host(start, len), CopySide::NotHost, h2d);
            assert_eq!(v.kind, VerdictKind::Pageable, "{start:#x}+{len:#x}");
            assert_eq!(differential(&reg, &drv, host(start, len)), None, "{start:#x}+{len:#x}");
        }
        for (start, len) in [(0x20800, 0x1000), (0x10800, 0x1000)] {
            let v = classify_copy(&reg, &drv, host(start, len), CopySide::NotHost, h2d);
            assert_eq!(v.kind, VerdictKind::Straddles, "{start:#x}+{len:#x}");
            assert_eq!(differential(&reg, &drv, host(start, len)), None, "{start:#x}+{len:#x}");
        }
    }

    proptest::proptest! {
        /// The one-host-side shortcut concludes what classifying both sides concludes,
        /// for copies anywhere around registered, driver-only pinned, device and managed
        /// ranges and across their edges, both ways.
        #[test]
        fn the_one_host_side_shortcut_agrees_with_both_sides(start in 0x8000usize..0xc0000, len in 1usize..0x3000, up: bool) {
            let (reg, drv) = setup();
            let host = CopySide::Host(span(start, len));
            let (src, dst, dir) =
                if up { (host, CopySide::NotHost, Direction::HostToDevice) } else { (CopySide::NotHost, host, Direction::DeviceToHost) };
            let short = classify_copy(&reg, &drv, src, dst, Some(dir));
            let general = classify_sides(&reg, &drv, src, dst, Some(dir));
            proptest::prop_assert_eq!(short, general);
        }
    }

    #[test]
    fn empty_copies_are_no_finding() {
        let (reg, drv) = setup();
        let v = classify_copy(&reg, &drv, CopySide::Empty, CopySide::NotHost, Some(Direction::HostToDevice));
        assert_eq!(v.kind, VerdictKind::Empty);
        assert!(!v.kind.is_finding());
    }
}
