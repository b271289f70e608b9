//! Host extents of copies: which bytes of host memory a 1D, 2D, 3D or batched copy
//! touches. All arithmetic is checked; a copy whose extent overflows gets no verdict
//! (the hook still runs the real call, and CUDA decides).

/// A non-empty host byte range `[start, start + len)` that does not wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSpan {
    pub start: usize,
    pub len: usize,
}

/// Why an extent could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentError {
    /// Some product or sum of the copy's parameters overflows the address space.
    Overflow,
}

/// Pitched-copy parameters, in bytes and rows, as the 2D and 3D APIs describe them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pitched {
    pub base: usize,
    /// Offset of the first byte in each row (srcXInBytes / srcPos.x).
    pub x: usize,
    /// First row (srcY / srcPos.y).
    pub y: usize,
    /// First slice (srcZ / srcPos.z).
    pub z: usize,
    pub pitch: usize,
    /// Rows per slice (srcHeight / srcPtr.ysize); only used when `depth > 1` or `z > 0`.
    pub slice_rows: usize,
    pub width: usize,
    pub height: usize,
    pub depth: usize,
}

impl HostSpan {
    /// `len` bytes at `start`. `Ok(None)` for an empty copy.
    pub fn linear(start: usize, len: usize) -> Result<Option<HostSpan>, ExtentError> {
        if len == 0 {
            return Ok(None);
        }
        start.checked_add(len).ok_or(ExtentError::Overflow)?;
        Ok(Some(HostSpan { start, len }))
    }

    /// The bytes a pitched copy touches: from its first byte,
    /// `pitch*slice_rows*(depth-1) + pitch*(height-1) + width` bytes. `Ok(None)` when
    /// width, height or depth is zero (nothing is copied).
    pub fn pitched(p: Pitched) -> Result<Option<HostSpan>, ExtentError> {
        if p.width == 0 || p.height == 0 || p.depth == 0 {
            return Ok(None);
        }
        let slice = p.pitch.checked_mul(p.slice_rows);
        let of = ExtentError::Overflow;
        // slice_rows is unused (may be 0) for a single slice at z = 0.
        let slice_bytes = if p.depth > 1 || p.z > 0 { slice.ok_or(of)? } else { 0 };
        let first =
            p.z.checked_mul(slice_bytes)
                .and_then(|v| v.checked_add(p.y.checked_mul(p.pitch)?))
                .and_then(|v| v.checked_add(p.x))
                .and_then(|v| v.checked_add(p.base))
                .ok_or(of)?;
        let len = slice_bytes
            .checked_mul(p.depth - 1)
            .and_then(|v| v.checked_add(p.pitch.checked_mul(p.height - 1)?))
            .and_then(|v| v.checked_add(p.width))
            .ok_or(of)?;
        HostSpan::linear(first, len)
    }

    pub fn end(&self) -> usize {
        self.start + self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn linear_spans() {
        assert_eq!(HostSpan::linear(0x1000, 0), Ok(None));
        assert_eq!(HostSpan::linear(0x1000, 8), Ok(Some(HostSpan { start: 0x1000, len: 8 })));
        assert_eq!(HostSpan::linear(usize::MAX, 2), Err(ExtentError::Overflow));
    }

    #[test]
    fn two_d_touches_pitch_times_rows_minus_one_plus_width() {
        let p = Pitched { base: 0x10000, pitch: 1024, width: 1000, height: 64, depth: 1, ..Default::default() };
        assert_eq!(HostSpan::pitched(p), Ok(Some(HostSpan { start: 0x10000, len: 1024 * 63 + 1000 })));
        let offset = Pitched { x: 8, y: 2, ..p };
        assert_eq!(HostSpan::pitched(offset).unwrap().unwrap().start, 0x10000 + 2 * 1024 + 8);
    }

    #[test]
    fn three_d_touches_whole_extent() {
        let p = Pitched { base: 0, pitch: 256, slice_rows: 16, width: 200, height: 16, depth: 4, ..Default::default() };
        assert_eq!(HostSpan::pitched(p).unwrap().unwrap().len, 256 * 16 * 3 + 256 * 15 + 200);
        let at_z = Pitched { z: 1, ..p };
        assert_eq!(HostSpan::pitched(at_z).unwrap().unwrap().start, 256 * 16);
    }

    #[test]
    fn empty_copies_have_no_span() {
        let p = Pitched { base: 1, pitch: 4, width: 0, height: 3, depth: 1, ..Default::default() };
        assert_eq!(HostSpan::pitched(p), Ok(None));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let p = Pitched { base: 1, pitch: usize::MAX / 2, width: 8, height: 4, depth: 1, ..Default::default() };
        assert_eq!(HostSpan::pitched(p), Err(ExtentError::Overflow));
        let p = Pitched {
            base: 0,
            pitch: 1 << 40,
            slice_rows: 1 << 30,
            width: 8,
            height: 1,
            depth: 2,
            ..Default::default()
        };
        assert_eq!(HostSpan::pitched(p), Err(ExtentError::Overflow));
    }

    proptest! {
        /// Against a u128 model: never panics, and either agrees exactly or reports overflow
        /// exactly when the true value does not fit.
        #[test]
        fn pitched_matches_wide_arithmetic(
            base in any::<usize>(), x in 0usize..1 << 20, y in 0usize..1 << 20, z in 0usize..64,
            pitch in any::<usize>(), slice_rows in 0usize..1 << 20,
            width in 0usize..1 << 40, height in 0usize..1 << 20, depth in 0usize..64,
        ) {
            let p = Pitched { base, x, y, z, pitch, slice_rows, width, height, depth };
            let got = HostSpan::pitched(p);
            if width == 0 || height == 0 || depth == 0 {
                prop_assert_eq!(got, Ok(None));
                return Ok(());
            }
            let w = |v: usize| v as u128;
            let slice = if depth > 1 || z > 0 { w(pitch) * w(slice_rows) } else { 0 };
            let first = w(base) + w(z) * slice + w(y) * w(pitch) + w(x);
            let len = slice * w(depth - 1) + w(pitch) * w(height - 1) + w(width);
            let max = w(usize::MAX);
            // Intermediate products are checked individually, so overflow may be reported
            // when a partial product overflows; it must never yield a wrong span.
            match got {
                Ok(Some(s)) => {
                    prop_assert_eq!(w(s.start), first);
                    prop_assert_eq!(w(s.len), len);
                    prop_assert!(first + len <= max);
                }
                Ok(None) => prop_assert!(false, "non-empty copy without span"),
                Err(ExtentError::Overflow) => prop_assert!(
                    first + len > max || slice > max || w(y) * w(pitch) > max || w(z) * slice > max
                        || slice * w(depth - 1) > max || w(pitch) * w(height - 1) > max
                ),
            }
        }
    }
}
