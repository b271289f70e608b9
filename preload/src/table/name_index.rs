//! Which hook a symbol name belongs to, in one probe: an open-addressing table from a
//! hash of the name to its row of the hook table, built at compile time from the hook
//! declarations.
//!
//! Every `dlsym` in the process passes through pinguard, and JAX looks up every driver
//! function it uses by name: a lookup of a name pinguard does not hook must cost next to
//! nothing, and one of a name it does hook must not search the whole table (a linear scan
//! of the rows was about a third of pinguard's cost on a hooked `dlsym`). The hash reads
//! the name's length and three 8-byte words of it (first, middle, last): CUDA's names
//! share long prefixes (`cuMemcpy...`) and suffixes (`..._v2`), so one word would collide
//! often. A probe always ends with an exact comparison of the whole name, so the hash
//! decides only speed, never the answer.

use std::ffi::CStr;

/// Slots in the table: a power of two, at least twice the number of hooks.
const SLOTS: usize = 512;
const SHIFT: u32 = 64 - SLOTS.trailing_zeros();

/// Row numbers (plus one; 0 is an empty slot), placed by name hash.
pub struct NameIndex {
    slots: [u8; SLOTS],
}

/// Eight bytes of `b` from `at`, little-endian, zero past the end.
const fn word(b: &[u8], at: usize) -> u64 {
    if at + 8 <= b.len() {
        // One unaligned load at run time.
        return u64::from_le_bytes([
            b[at],
            b[at + 1],
            b[at + 2],
            b[at + 3],
            b[at + 4],
            b[at + 5],
            b[at + 6],
            b[at + 7],
        ]);
    }
    let mut v = 0u64;
    let mut i = 0;
    while i < 8 && at + i < b.len() {
        v |= (b[at + i] as u64) << (8 * i);
        i += 1;
    }
    v
}

/// The name's first slot.
const fn slot_of(name: &[u8]) -> usize {
    let n = name.len();
    let (first, middle, last) = (word(name, 0), word(name, (n / 2).saturating_sub(4)), word(name, n.saturating_sub(8)));
    let h = (first ^ middle.rotate_left(21) ^ last.rotate_left(42) ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> SHIFT) as usize
}

impl NameIndex {
    /// The index of `names`, in row order. Fails to compile if there are too many.
    pub const fn build(names: &[&CStr]) -> NameIndex {
        assert!(names.len() * 2 <= SLOTS && names.len() < u8::MAX as usize, "too many hooks for the name index");
        let mut slots = [0u8; SLOTS];
        let mut row = 0;
        while row < names.len() {
            let mut at = slot_of(names[row].to_bytes());
            while slots[at] != 0 {
                at = (at + 1) % SLOTS;
            }
            slots[at] = (row + 1) as u8;
            row += 1;
        }
        NameIndex { slots }
    }

    /// The row whose name is exactly `name`, if any. `name_of(row)` gives a row's name
    /// (the hook table's symbols, in the order the index was built from).
    #[inline]
    pub fn find<'a>(&self, name: &[u8], name_of: impl Fn(usize) -> &'a [u8]) -> Option<usize> {
        let mut at = slot_of(name);
        for _ in 0..SLOTS {
            let row = match self.slots[at] {
                0 => return None,
                r => r as usize - 1,
            };
            if name_of(row) == name {
                return Some(row);
            }
            at = (at + 1) % SLOTS;
        }
        None
    }

    /// The longest probe any of the indexed names takes (for tests: the hash spreads them).
    #[cfg(test)]
    pub fn longest_probe<'a>(&self, rows: usize, name_of: impl Fn(usize) -> &'a [u8]) -> usize {
        (0..rows)
            .map(|row| {
                let start = slot_of(name_of(row));
                (0..SLOTS).position(|k| self.slots[(start + k) % SLOTS] as usize == row + 1).unwrap_or(SLOTS) + 1
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&CStr; 6] = [
        c"cuMemcpyHtoDAsync_v2",
        c"cuMemcpyDtoHAsync_v2",
        c"cuMemcpyHtoDAsync_v2_ptsz",
        c"cuMemcpyDtoHAsync_v2_ptsz",
        c"cuMem",
        c"dlsym",
    ];
    static INDEX: NameIndex = NameIndex::build(&NAMES);

    fn name_of(row: usize) -> &'static [u8] {
        NAMES[row].to_bytes()
    }

    #[test]
    fn every_name_finds_its_own_row_and_nothing_else_is_found() {
        for (row, name) in NAMES.iter().enumerate() {
            assert_eq!(INDEX.find(name.to_bytes(), name_of), Some(row), "{name:?}");
        }
        for other in [&b"cuMemcpyHtoDAsync"[..], b"cuMemcpyHtoDAsync_v3", b"cuMe", b"", b"cuMemAlloc_v2", b"dlsyn"] {
            assert_eq!(INDEX.find(other, name_of), None, "{other:?}");
        }
    }

    /// A full table of names that share their first and last eight bytes: every probe
    /// chain is walked to its end, and every name is still found at its own row.
    #[test]
    fn collisions_only_lengthen_the_probe() {
        static SAME_ENDS: [&CStr; 4] = [c"cuMemcpyAAAAsync_v2", c"cuMemcpyAAAAsync_v2", c"cuMemcpyBBBBsync_v2", c"cu"];
        static INDEX: NameIndex = NameIndex::build(&SAME_ENDS);
        let name_of = |row: usize| SAME_ENDS[row].to_bytes();
        // A duplicated name resolves to its first row.
        assert_eq!(INDEX.find(b"cuMemcpyAAAAsync_v2", name_of), Some(0));
        assert_eq!(INDEX.find(b"cuMemcpyBBBBsync_v2", name_of), Some(2));
        assert_eq!(INDEX.find(b"cu", name_of), Some(3));
        assert_eq!(INDEX.find(b"cuMemcpyCCCCsync_v2", name_of), None);
    }

    /// A name of the same length that lands on the same slot as an indexed one is still
    /// not found: the answer comes from the comparison, not from the hash.
    #[test]
    fn a_name_on_an_indexed_names_slot_is_not_taken_for_it() {
        for name in NAMES {
            let name = name.to_bytes();
            let twin = (0u32..100_000)
                .map(|k| {
                    let mut t = name.to_vec();
                    let (middle, last) = (t.len() / 2, t.len() - 1);
                    t[middle] = b'A' + (k % 26) as u8;
                    t[0] = b'a' + (k / 26 % 26) as u8;
                    t[last] = b'a' + (k / 676 % 26) as u8;
                    t
                })
                .find(|t| t.as_slice() != name && slot_of(t) == slot_of(name))
                .expect("a look-alike on the same slot");
            assert_eq!(INDEX.find(&twin, name_of), None, "{:?} taken for {name:?}", String::from_utf8_lossy(&twin));
        }
    }
}
