//! Where CPython keeps what a Python stack needs (issue 27): the calling thread's frame
//! chain, each frame's code object and instruction, a code object's file, name, first
//! line and line table, and a string's characters. Offsets in bytes on x86-64, per minor
//! version, GIL builds only.
//!
//! Sources, each the version's own headers (`Include/cpython/pystate.h`,
//! `Include/internal/pycore_frame.h`, `Include/cpython/code.h`, `Include/cpython/
//! unicodeobject.h`, `Include/cpython/bytesobject.h`; 3.10's frame in
//! `Include/cpython/frameobject.h`): `testing/probes/py_layout.c` prints each offset with
//! `offsetof` compiled against them, and `core/tests/py_layout.rs` compares that with
//! this table on every CPython whose headers it finds (here: 3.10.13, 3.11.2 (Debian's,
//! CI's), 3.11.7, 3.12.1, 3.13.0). A version not in the table (3.14 until its layout is
//! checked the same way, 3.15, a free-threaded build, PyPy) gets no layout: pinguard then
//! reads no interpreter memory at all and says so once.

/// How a thread state leads to its innermost frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameRoot {
    /// `tstate->frame` (3.10: a `PyFrameObject`).
    Direct(usize),
    /// `tstate->cframe->current_frame` (3.11, 3.12: a `_PyInterpreterFrame`).
    ViaCFrame { cframe: usize, current_frame: usize },
}

/// How a frame says which instruction it is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstructionAt {
    /// 3.10's `f_lasti`: an `int` index of code units (2 bytes each) into `co_code`.
    LastIndex(usize),
    /// 3.11+: a pointer to a code unit inside the code object (`prev_instr` in 3.11 and
    /// 3.12, the unit before the next instruction; `instr_ptr` in 3.13, the current one).
    Pointer { offset: usize, points_before: bool },
}

/// Where a code object's bytecode starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BytecodeAt {
    /// 3.10: `co_code`, a bytes object.
    BytesObject(usize),
    /// 3.11+: inside the code object itself (`co_code_adaptive`).
    Inline(usize),
}

/// The layout of one CPython minor version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PyLayout {
    pub version: (u8, u8),
    pub frame_root: FrameRoot,
    /// The frame's code object (`f_code`; 3.13's `f_executable`, a code object or not).
    pub frame_code: usize,
    /// The calling frame (`f_back` in 3.10, `previous` after).
    pub frame_previous: usize,
    pub frame_instruction: InstructionAt,
    /// The frame's owner byte, and the value of a frame the C stack owns (an entry shim,
    /// not Python code: passed over), where the version has one (3.12+).
    pub frame_owner: Option<(usize, u8)>,
    /// 3.11's `is_entry` byte: the frame is the first one its C evaluation loop ran (the
    /// frames of one native `_PyEval_EvalFrameDefault` end there).
    pub frame_is_entry: Option<usize>,
    pub code_filename: usize,
    /// `co_qualname` from 3.11 (`Model.forward`), `co_name` in 3.10.
    pub code_name: usize,
    /// An `int`.
    pub code_firstlineno: usize,
    /// A bytes object.
    pub code_linetable: usize,
    pub code_bytecode: BytecodeAt,
    pub bytes_size: usize,
    pub bytes_data: usize,
    pub unicode_length: usize,
    /// A 32-bit word of bit fields.
    pub unicode_state: usize,
    pub unicode_kind_shift: u32,
    pub unicode_compact_bit: u32,
    pub unicode_ascii_bit: u32,
    /// Where a compact ASCII string's characters start (`sizeof(PyASCIIObject)`).
    pub unicode_ascii_data: usize,
    /// Where another compact string's characters start (`sizeof(PyCompactUnicodeObject)`).
    pub unicode_compact_data: usize,
    pub object_type: usize,
}

/// The fields every version from 3.10 to 3.13 shares.
const COMMON: PyLayout = PyLayout {
    version: (0, 0),
    frame_root: FrameRoot::Direct(0),
    frame_code: 0,
    frame_previous: 0,
    frame_instruction: InstructionAt::LastIndex(0),
    frame_owner: None,
    frame_is_entry: None,
    code_filename: 112,
    code_name: 0,
    code_firstlineno: 0,
    code_linetable: 136,
    code_bytecode: BytecodeAt::Inline(0),
    bytes_size: 16,
    bytes_data: 32,
    unicode_length: 16,
    unicode_state: 32,
    unicode_kind_shift: 2,
    unicode_compact_bit: 5,
    unicode_ascii_bit: 6,
    unicode_ascii_data: 40,
    unicode_compact_data: 56,
    object_type: 8,
};

/// The layout of CPython `major.minor` (GIL build, x86-64), if pinguard can vouch for it.
pub fn for_version(major: u8, minor: u8) -> Option<PyLayout> {
    let version = (major, minor);
    Some(match version {
        (3, 10) => PyLayout {
            version,
            frame_root: FrameRoot::Direct(24),
            frame_code: 32,
            frame_previous: 24,
            frame_instruction: InstructionAt::LastIndex(96),
            code_filename: 104,
            code_name: 112,
            code_firstlineno: 40,
            code_linetable: 120,
            code_bytecode: BytecodeAt::BytesObject(48),
            unicode_ascii_data: 48,
            unicode_compact_data: 72,
            ..COMMON
        },
        (3, 11) => PyLayout {
            version,
            frame_root: FrameRoot::ViaCFrame { cframe: 56, current_frame: 8 },
            frame_code: 32,
            frame_previous: 48,
            frame_instruction: InstructionAt::Pointer { offset: 56, points_before: true },
            frame_is_entry: Some(68),
            code_name: 128,
            code_firstlineno: 72,
            code_bytecode: BytecodeAt::Inline(184),
            unicode_ascii_data: 48,
            unicode_compact_data: 72,
            ..COMMON
        },
        (3, 12) => PyLayout {
            version,
            frame_root: FrameRoot::ViaCFrame { cframe: 56, current_frame: 0 },
            frame_code: 0,
            frame_previous: 8,
            frame_instruction: InstructionAt::Pointer { offset: 56, points_before: true },
            frame_owner: Some((70, 3)),
            code_name: 128,
            code_firstlineno: 68,
            code_bytecode: BytecodeAt::Inline(192),
            ..COMMON
        },
        (3, 13) => PyLayout {
            version,
            frame_root: FrameRoot::Direct(72),
            frame_code: 0,
            frame_previous: 8,
            frame_instruction: InstructionAt::Pointer { offset: 56, points_before: false },
            frame_owner: Some((70, 3)),
            code_name: 128,
            code_firstlineno: 68,
            code_bytecode: BytecodeAt::Inline(200),
            ..COMMON
        },
        _ => return None,
    })
}

impl PyLayout {
    /// The offsets as `testing/probes/py_layout.c` prints them: `name value` lines.
    pub fn probe_lines(&self) -> Vec<(String, i64)> {
        let mut out: Vec<(&str, i64)> = Vec::new();
        let n = |v: usize| v as i64;
        match self.frame_root {
            FrameRoot::Direct(o) if self.version >= (3, 13) => out.push(("tstate.current_frame", n(o))),
            FrameRoot::Direct(o) => out.push(("tstate.frame", n(o))),
            FrameRoot::ViaCFrame { cframe, current_frame } => {
                out.push(("tstate.cframe", n(cframe)));
                out.push(("cframe.current_frame", n(current_frame)));
            }
        }
        out.push(("frame.code", n(self.frame_code)));
        out.push(("frame.previous", n(self.frame_previous)));
        match self.frame_instruction {
            InstructionAt::LastIndex(o) => out.push(("frame.lasti", n(o))),
            InstructionAt::Pointer { offset, .. } => out.push(("frame.instr", n(offset))),
        }
        out.push(("code.filename", n(self.code_filename)));
        let name = if self.version >= (3, 11) { "code.qualname" } else { "code.name" };
        out.push((name, n(self.code_name)));
        match self.code_bytecode {
            BytecodeAt::BytesObject(o) => out.push(("code.code", n(o))),
            BytecodeAt::Inline(o) => out.push(("code.code_adaptive", n(o))),
        }
        out.push(("code.firstlineno", n(self.code_firstlineno)));
        out.push(("code.linetable", n(self.code_linetable)));
        out.push(("bytes.size", n(self.bytes_size)));
        out.push(("bytes.data", n(self.bytes_data)));
        out.push(("unicode.length", n(self.unicode_length)));
        out.push(("unicode.state", n(self.unicode_state)));
        out.push(("unicode.ascii_data", n(self.unicode_ascii_data)));
        out.push(("unicode.compact_data", n(self.unicode_compact_data)));
        out.push(("object.type", n(self.object_type)));
        out.push(("unicode.kind_shift", i64::from(self.unicode_kind_shift)));
        out.push(("unicode.compact_bit", i64::from(self.unicode_compact_bit)));
        out.push(("unicode.ascii_bit", i64::from(self.unicode_ascii_bit)));
        if let Some((o, cstack)) = self.frame_owner {
            out.push(("frame.owner", n(o)));
            out.push(("frame.owned_by_cstack", i64::from(cstack)));
        }
        if let Some(o) = self.frame_is_entry {
            out.push(("frame.is_entry", n(o)));
        }
        out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_versions_checked_against_their_headers_have_a_layout() {
        for minor in 10..=13 {
            assert_eq!(for_version(3, minor).map(|l| l.version), Some((3, minor)));
        }
        for (major, minor) in [(3, 9), (3, 14), (3, 15), (2, 7), (4, 0)] {
            assert_eq!(for_version(major, minor), None, "{major}.{minor}");
        }
    }
}
