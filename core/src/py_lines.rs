//! CPython's line tables: from a code object's `co_linetable` bytes and an instruction's
//! offset to its source line, without calling into the interpreter (for the Python
//! frames of a finding, issue 27). Two formats, each taken from CPython's own
//! description of it:
//!
//! - **3.10** (`Objects/lnotab_notes.txt` of the 3.10 branch, PEP 626): pairs of bytes
//!   `(sdelta, ldelta)`: the range's length in bytes of bytecode (unsigned), then its
//!   line's difference from the previous line (signed); `ldelta == -128` marks a range
//!   with no line. A pair whose `sdelta` is 0 only moves the line (long deltas are split
//!   over several pairs).
//! - **3.11 and later** (`Objects/locations.md`): entries of one first byte (bit 7 set;
//!   bits 3-6 a code; bits 0-2 the length, in code units of 2 bytes, minus one), then
//!   what the code says: 15, no location; 14, the long form (a signed varint line delta,
//!   then three unsigned varints: end line delta, start column + 1, end column + 1); 13,
//!   no column (a signed varint line delta); 10 to 12, one line (line delta `code - 10`,
//!   then two column bytes); 0 to 9, the short form (line delta 0, one column byte).
//!   Varints hold 6 bits a byte, least significant first, bit 6 set on every byte but
//!   the last; a signed varint is an unsigned one whose low bit is the sign.
//!
//! Both decoders give every instruction the line Python's own `code.co_lines()` gives
//! it (a test compares them on every interpreter it finds), and a torn or hostile table
//! ends the ranges early: never a panic, never a read past the slice.

/// Which table format a code object carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineTableFormat {
    /// CPython 3.10.
    Pep626,
    /// CPython 3.11 and later.
    Locations,
}

/// A range of bytecode, in bytes from the code's start, and its line as the table
/// computes it (`None`: the range has none, as for code the compiler made up; 0 and
/// below are what Python says too, for the instructions before the first line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRange {
    pub start: u32,
    pub end: u32,
    pub line: Option<i32>,
}

/// The ranges of a line table, in order, one for each entry (as `code.co_lines()`
/// gives them in 3.11; other versions join neighbours of one line: the same lines).
pub fn ranges(table: &[u8], first_line: i32, format: LineTableFormat) -> Vec<LineRange> {
    match format {
        LineTableFormat::Pep626 => Pep626 { table, at: 0, offset: 0, line: first_line }.collect(),
        LineTableFormat::Locations => Locations { table, at: 0, offset: 0, line: first_line }.collect(),
    }
}

/// The line of the instruction at `offset` (bytes from the code's start) as a person
/// reads it: positive, or `None` where the table gives none or ends first. Walks the
/// table without allocating.
pub fn line_at(table: &[u8], first_line: i32, format: LineTableFormat, offset: u32) -> Option<u32> {
    let hit = |r: &LineRange| (r.start..r.end).contains(&offset);
    let line = match format {
        LineTableFormat::Pep626 => Pep626 { table, at: 0, offset: 0, line: first_line }.find(hit)?.line,
        LineTableFormat::Locations => Locations { table, at: 0, offset: 0, line: first_line }.find(hit)?.line,
    };
    u32::try_from(line?).ok().filter(|l| *l > 0)
}

/// The 3.10 table's ranges, one pair at a time.
struct Pep626<'a> {
    table: &'a [u8],
    at: usize,
    offset: u32,
    line: i32,
}

impl Iterator for Pep626<'_> {
    type Item = LineRange;

    fn next(&mut self) -> Option<LineRange> {
        loop {
            let (&sdelta, &ldelta) = (self.table.get(self.at)?, self.table.get(self.at + 1)?);
            self.at += 2;
            let ldelta = ldelta as i8;
            let line = if ldelta == -128 {
                None
            } else {
                self.line = self.line.checked_add(i32::from(ldelta))?;
                Some(self.line)
            };
            if sdelta == 0 {
                continue; // moves the line only
            }
            let start = self.offset;
            self.offset = start.checked_add(u32::from(sdelta))?;
            return Some(LineRange { start, end: self.offset, line });
        }
    }
}

/// The 3.11+ table's ranges, one entry at a time.
struct Locations<'a> {
    table: &'a [u8],
    at: usize,
    offset: u32,
    line: i32,
}

impl Locations<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.table.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    /// An unsigned varint: 6 bits a byte, bit 6 set where more follow (at most 32 bits).
    fn varint(&mut self) -> Option<u32> {
        let mut value: u32 = 0;
        for shift in (0..32).step_by(6) {
            let b = self.byte()?;
            value |= u32::from(b & 0x3f) << shift;
            if b & 0x40 == 0 {
                return Some(value);
            }
        }
        None // longer than any real table writes
    }

    /// A signed varint: the low bit is the sign.
    fn svarint(&mut self) -> Option<i32> {
        let v = self.varint()?;
        let magnitude = (v >> 1) as i32;
        Some(if v & 1 == 1 { -magnitude } else { magnitude })
    }
}

impl Iterator for Locations<'_> {
    type Item = LineRange;

    fn next(&mut self) -> Option<LineRange> {
        let first = self.byte()?;
        if first & 0x80 == 0 {
            return None; // not the start of an entry: a torn table
        }
        let code = (first >> 3) & 0x0f;
        let units = u32::from(first & 0x07) + 1;
        let delta = match code {
            15 => None,
            14 => {
                let d = self.svarint()?;
                for _ in 0..3 {
                    self.varint()?; // end line, start and end columns
                }
                Some(d)
            }
            13 => Some(self.svarint()?),
            10..=12 => {
                self.byte()?;
                self.byte()?;
                Some(i32::from(code) - 10)
            }
            _ => {
                self.byte()?;
                Some(0)
            }
        };
        let line = match delta {
            None => None,
            Some(d) => {
                self.line = self.line.checked_add(d)?;
                Some(self.line)
            }
        };
        let start = self.offset;
        self.offset = start.checked_add(units * 2)?;
        Some(LineRange { start, end: self.offset, line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(start: u32, end: u32, line: Option<i32>) -> LineRange {
        LineRange { start, end, line }
    }

    #[test]
    fn pep626_pairs_move_lines_and_mark_ranges_without_one() {
        // 4 bytes at line 10, a line-only move of +3, 6 bytes at 13, 2 bytes with no line.
        let table = [4u8, 0, 0, 3, 6, 0, 2, 0x80];
        assert_eq!(
            ranges(&table, 10, LineTableFormat::Pep626),
            [r(0, 4, Some(10)), r(4, 10, Some(13)), r(10, 12, None)]
        );
        assert_eq!(line_at(&[2, 0xff], 1, LineTableFormat::Pep626, 0), None, "line 0 is no line");
        assert_eq!(line_at(&table, 10, LineTableFormat::Pep626, 6), Some(13));
        assert_eq!(line_at(&table, 10, LineTableFormat::Pep626, 12), None);
    }

    #[test]
    fn locations_entries_of_every_form() {
        let table = [
            0x80 | (10 << 3) | 1,
            0,
            4, // one-line form, +0, 2 units
            0x80 | (13 << 3),
            0x04, // no column, +2, 1 unit
            0x80 | (14 << 3),
            0x03,
            0,
            1,
            5,                    // long form, -1, 1 unit
            0x80 | (15 << 3) | 2, // no location, 3 units
            0x80 | (11 << 3),
            0,
            1, // one-line form, +1, 1 unit
        ];
        assert_eq!(
            ranges(&table, 7, LineTableFormat::Locations),
            [r(0, 4, Some(7)), r(4, 6, Some(9)), r(6, 8, Some(8)), r(8, 14, None), r(14, 16, Some(9))]
        );
    }

    #[test]
    fn a_torn_table_ends_the_ranges() {
        assert_eq!(ranges(&[0x80 | (13 << 3), 0x44], 1, LineTableFormat::Locations), []);
        assert_eq!(ranges(&[0x01, 0x80 | (13 << 3), 0x02], 1, LineTableFormat::Locations), []);
        assert_eq!(ranges(&[4], 1, LineTableFormat::Pep626), []);
    }

    proptest! {
        /// Any bytes: ranges in order, never a panic.
        #[test]
        fn any_bytes_give_ordered_ranges(table in proptest::collection::vec(any::<u8>(), 0..200), first in -5i32..100_000) {
            for format in [LineTableFormat::Pep626, LineTableFormat::Locations] {
                let rs = ranges(&table, first, format);
                for w in rs.windows(2) {
                    prop_assert!(w[0].end <= w[1].start && w[0].start < w[0].end);
                }
                let _ = line_at(&table, first, format, 7);
            }
        }
    }
}
