//! The calling thread's Python frames (issue 27), read from the interpreter's memory
//! without calling into it and without the GIL: the thread's state (CPython's
//! `PyGILState_GetThisThreadState`, which reads a thread-specific key and nothing else,
//! so it answers with the GIL released, as frameworks copy), the chain of frames, each
//! frame's code object and instruction, and for a new site each code object's qualified
//! name, file and line.
//!
//! Every read goes through [`guarded_read`]: a torn or corrupted chain gives a shorter
//! stack, never a fault. Every code object is checked to be one (its type is
//! `PyCode_Type`) and every name to be a string before it is believed, so a layout that
//! did not match would stop the walk at its first frame rather than invent frames.

use std::ffi::{CStr, c_void};
use std::mem::MaybeUninit;
use std::num::NonZeroU32;

use pinguard_core::py_layout::{self, BytecodeAt, FrameRoot, InstructionAt, PyLayout};
use pinguard_core::py_lines::{LineTableFormat, line_at};
use pinguard_core::report::LINE_PREFIX;
use pinguard_core::site::{self, FrameInfo, FrameKind};

use crate::base::guarded_read::Reader;
use crate::base::process::Process;
use crate::base::sink;
use crate::base::spin::ForkSafeLazy;
use crate::base::symbols;
use crate::stacks::stack::{self, SYMBOLS, Stack};

/// The Python interpreter of this process, where pinguard can read its frames.
pub struct PyRuntime {
    pub layout: PyLayout,
    pub types: PyTypes,
    this_thread_state: unsafe extern "C" fn() -> *mut c_void,
}

/// Found at the first finding (never on a copy's path): `None` for a process without
/// Python, or with one whose layout pinguard cannot vouch for (said once).
static RUNTIME: ForkSafeLazy<Option<PyRuntime>> = ForkSafeLazy::new(find_runtime);

/// In a fork child: what the parent found holds (the same image), unless it was being
/// found at the fork.
pub fn reset_in_child() {
    RUNTIME.reset_in_child();
}

fn global(name: &CStr) -> usize {
    // SAFETY: RTLD_DEFAULT is a valid pseudo-handle; the name is NUL-terminated.
    unsafe { symbols::lookup(libc::RTLD_DEFAULT, name) as usize }
}

fn find_runtime() -> Option<PyRuntime> {
    let this_thread_state = global(c"PyGILState_GetThisThreadState");
    if this_thread_state == 0 {
        return None; // no Python in this process (or one loaded privately)
    }
    let say = |what: &str| sink::line(&format!("{LINE_PREFIX}{what}; findings show native frames only"));
    // The interpreter's file: a free-threaded build (`python3.13t`) or PyPy has other
    // layouts.
    let file = symbols::object_path_of(this_thread_state as *const c_void)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = file.rsplit('/').next().unwrap_or("");
    if base.contains("pypy")
        || base.split('.').any(|part| part.ends_with('t') && part.chars().next().is_some_and(|c| c.is_ascii_digit()))
    {
        say(&format!("the Python in {file} is not one whose frames pinguard reads (a free-threaded build or PyPy)"));
        return None;
    }
    let (major, minor) = python_version()?;
    let Some(layout) = py_layout::for_version(major, minor) else {
        say(&format!("Python {major}.{minor}'s frames are not read (pinguard reads those of 3.10 to 3.13)"));
        return None;
    };
    let types =
        PyTypes { code: global(c"PyCode_Type"), unicode: global(c"PyUnicode_Type"), bytes: global(c"PyBytes_Type") };
    if types.code == 0 || types.unicode == 0 || types.bytes == 0 {
        say(&format!("Python {major}.{minor}: its type objects were not found"));
        return None;
    }
    // SAFETY: the symbol is CPython's `PyThreadState *PyGILState_GetThisThreadState(void)`.
    let this_thread_state =
        unsafe { std::mem::transmute::<usize, unsafe extern "C" fn() -> *mut c_void>(this_thread_state) };
    Some(PyRuntime { layout, types, this_thread_state })
}

/// The interpreter's version: `Py_Version` (3.11+, a `const unsigned long` like
/// `PY_VERSION_HEX`), else `Py_GetVersion()`'s text (`3.10.13 (main, ...`).
fn python_version() -> Option<(u8, u8)> {
    let hex = global(c"Py_Version");
    if hex != 0 {
        let v = Reader::new().read::<std::ffi::c_ulong>(hex)?;
        return Some(((v >> 24) as u8, (v >> 16 & 0xff) as u8));
    }
    let get = global(c"Py_GetVersion");
    if get == 0 {
        return None;
    }
    // SAFETY: CPython's `const char *Py_GetVersion(void)`: a static string, made once,
    // read without the GIL.
    let text = unsafe {
        let f = std::mem::transmute::<usize, unsafe extern "C" fn() -> *const libc::c_char>(get);
        let p = f();
        if p.is_null() {
            return None;
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The Python frames of the calling thread, innermost first, if it runs Python.
pub struct PyStack {
    /// `keys[..len]` are written; the rest is left unwritten (zeroing 1.5 KiB on every
    /// finding would cost more than the walk of a short stack).
    keys: [MaybeUninit<PyFrameKey>; PY_STACK_FRAMES],
    len: usize,
    runtime: &'static PyRuntime,
}

/// The Python frames a finding keeps (as many as a deep training step has).
pub const PY_STACK_FRAMES: usize = 64;

impl PyStack {
    /// The calling thread's Python frames; `None` without a Python this process can be
    /// read from, or on a thread that runs no Python. Allocates nothing once the
    /// interpreter was found.
    #[inline]
    pub fn of_this_thread() -> Option<PyStack> {
        // A process found to have no Python: one load (measured: the call as a whole
        // was 36 instructions on every C++ finding).
        if let Some(None) = RUNTIME.get_if_built() {
            return None;
        }
        PyStack::of_this_thread_slow()
    }

    #[inline(never)]
    fn of_this_thread_slow() -> Option<PyStack> {
        let runtime = RUNTIME.try_get()?.as_ref()?;
        // SAFETY: CPython's PyGILState_GetThisThreadState takes no argument and only reads
        // a thread-specific key (no GIL, no lock); null on a thread Python never saw.
        let tstate = unsafe { (runtime.this_thread_state)() } as usize;
        if tstate == 0 {
            return None;
        }
        let mut stack = PyStack { keys: [MaybeUninit::uninit(); PY_STACK_FRAMES], len: 0, runtime };
        stack.len = frame_keys(&runtime.layout, &runtime.types, tstate, &mut stack.keys);
        (stack.len > 0).then_some(stack)
    }

    pub fn keys(&self) -> &[PyFrameKey] {
        // SAFETY: frame_keys wrote keys[..len] (it returns how many it wrote); a
        // MaybeUninit<PyFrameKey> has PyFrameKey's layout.
        unsafe { std::slice::from_raw_parts(self.keys.as_ptr().cast::<PyFrameKey>(), self.len) }
    }

    /// A hash of the frames' code objects and instructions (never 0): what tells two
    /// lines apart where the native stacks are the same.
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0x6a09_e667_f3bc_c908;
        for k in self.keys() {
            h = (h ^ k.code as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
            h = (h ^ u64::from(k.offset)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f).rotate_left(31);
        }
        h.max(1)
    }

    /// The frames as a site keeps them (`interpreted`), with where each run of frames one
    /// C evaluation loop ran ends.
    fn frames(&self) -> Vec<(FrameInfo, bool)> {
        let (layout, types) = (&self.runtime.layout, &self.runtime.types);
        let described: Vec<(PyFrame, &PyFrameKey)> =
            self.keys().iter().map(|k| (describe(layout, types, *k), k)).collect();
        let mut names = SYMBOLS.lock();
        described
            .into_iter()
            .map(|(f, k)| {
                let info = FrameInfo {
                    kind: FrameKind::Interpreted,
                    address: k.code,
                    function: Some(names.get(&f.function)),
                    file: Some(names.get(&f.file)),
                    line: f.line.and_then(NonZeroU32::new),
                    module: None,
                    offset: k.offset as usize,
                };
                (info, k.ends_run)
            })
            .collect()
    }

    /// The native frames with these Python frames where the interpreter's evaluation
    /// loops are (as py-spy's `--native` shows them): each native
    /// `_PyEval_EvalFrameDefault` gives way to the run of Python frames it was running;
    /// runs beyond the native frames kept (the native stack is cut at `stack_depth`)
    /// follow them.
    pub fn merged_with(&self, native: Vec<FrameInfo>) -> Vec<FrameInfo> {
        let mut python = self.frames().into_iter().peekable();
        let mut out = Vec::with_capacity(native.len() + self.len);
        for f in native {
            let evaluates = f.function.as_deref().is_some_and(|n| n.starts_with("_PyEval_EvalFrameDefault"));
            if evaluates && python.peek().is_some() {
                for (p, ends_run) in python.by_ref() {
                    out.push(p);
                    if ends_run {
                        break;
                    }
                }
            } else {
                out.push(f);
            }
        }
        out.extend(python.map(|(p, _)| p));
        out
    }
}

/// A stack's frames, symbolised and merged with the thread's Python frames, and which of
/// them is the place in the program's code (a Python program's: a line of its Python).
pub fn frames_and_location(
    process: &Process,
    stack: &Stack,
    python: Option<&PyStack>,
) -> (Vec<FrameInfo>, Option<usize>) {
    let native = stack::symbolise(stack.ips(), &process.skip);
    match python {
        Some(p) => {
            let frames = p.merged_with(native);
            let location = site::python_location(&frames, &process.settings.skip_python.0, &process.skip);
            (frames, location)
        }
        None => {
            let location = site::location(&native, &process.skip);
            (native, location)
        }
    }
}

/// The type objects a walk checks against (their addresses in this process).
#[derive(Clone, Copy, Debug)]
pub struct PyTypes {
    pub code: usize,
    pub unicode: usize,
    pub bytes: usize,
}

/// One Python frame as a site keeps it: its code object and instruction (bytes from
/// the code's start). Enough to tell two lines apart on every finding, without reading
/// any name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PyFrameKey {
    pub code: usize,
    pub offset: u32,
    /// The last frame of a run one native evaluation loop ran (its caller, if any, was
    /// called from C).
    pub ends_run: bool,
}

/// One Python frame as a report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyFrame {
    pub function: String,
    pub file: String,
    pub line: Option<u32>,
}

/// The most frames a walk follows (a cycle in a corrupted chain ends here too).
pub const MAX_PY_FRAMES: usize = 128;

/// The frames of the thread whose state is at `tstate`, innermost first, into `out`;
/// returns how many (`out[..n]` written). Allocates nothing.
pub fn frame_keys(layout: &PyLayout, types: &PyTypes, tstate: usize, out: &mut [MaybeUninit<PyFrameKey>]) -> usize {
    let r = &mut Reader::new();
    let mut frame = match layout.frame_root {
        FrameRoot::Direct(o) => r.read::<usize>(tstate.wrapping_add(o)),
        FrameRoot::ViaCFrame { cframe, current_frame } => {
            r.read::<usize>(tstate.wrapping_add(cframe)).and_then(|c| r.read::<usize>(c.wrapping_add(current_frame)))
        }
    };
    let mut n = 0;
    let mut steps = 0;
    while let Some(f) = frame.filter(|f| *f != 0) {
        if n == out.len() || steps == MAX_PY_FRAMES {
            break;
        }
        steps += 1;
        let owned_by_c = layout.frame_owner.is_some_and(|(o, cstack)| r.read::<u8>(f.wrapping_add(o)) == Some(cstack));
        if owned_by_c {
            // 3.12+: a shim between runs; the frame before it ended one.
            if n > 0 {
                // SAFETY: out[n - 1] was written by this walk (n counts what it wrote).
                unsafe { out[n - 1].assume_init_mut() }.ends_run = true;
            }
        } else {
            let Some(mut key) = key_of(r, layout, types, f) else { break };
            key.ends_run = match (layout.frame_is_entry, layout.frame_instruction) {
                (Some(o), _) => r.read::<u8>(f.wrapping_add(o)).is_some_and(|b| b != 0),
                // 3.10: one native loop a frame.
                (None, InstructionAt::LastIndex(_)) => true,
                _ => false,
            };
            out[n] = MaybeUninit::new(key);
            n += 1;
        }
        frame = r.read::<usize>(f.wrapping_add(layout.frame_previous));
    }
    n
}

/// A frame's code object and instruction offset; `None` where it is not a frame of
/// Python code (which ends the walk).
fn key_of(r: &mut Reader, layout: &PyLayout, types: &PyTypes, frame: usize) -> Option<PyFrameKey> {
    let code = r.read::<usize>(frame.wrapping_add(layout.frame_code))?;
    if r.read::<usize>(code.wrapping_add(layout.object_type))? != types.code {
        return None;
    }
    let offset = match layout.frame_instruction {
        InstructionAt::LastIndex(o) => {
            let units = r.read::<i32>(frame.wrapping_add(o))?;
            u32::try_from(units).ok()?.checked_mul(2)?
        }
        InstructionAt::Pointer { offset, points_before } => {
            let at = r.read::<usize>(frame.wrapping_add(offset))?;
            let start = match layout.code_bytecode {
                BytecodeAt::Inline(o) => code.wrapping_add(o),
                BytecodeAt::BytesObject(_) => return None, // no version pairs these
            };
            // 3.11 and 3.12's `prev_instr` is the unit before the next instruction, and
            // CPython takes its line for the frame's (`_PyInterpreterFrame_LASTI`); in a
            // frame not yet started it is one unit before the code: offset 0 then.
            // 3.13's `instr_ptr` is the current instruction.
            let from = if points_before { start.wrapping_sub(2) } else { start };
            u32::try_from(at.checked_sub(from)?).ok()?.saturating_sub(u32::from(points_before) * 2)
        }
    };
    Some(PyFrameKey { code, offset, ends_run: false })
}

/// A frame's name, file and line, for a new site. Parts that cannot be read are left
/// out (`?`), never guessed.
pub fn describe(layout: &PyLayout, types: &PyTypes, key: PyFrameKey) -> PyFrame {
    let r = &mut Reader::new();
    let mut text = |field: usize| {
        r.read::<usize>(key.code.wrapping_add(field))
            .and_then(|s| string(r, layout, types, s))
            .unwrap_or_else(|| "?".to_string())
    };
    let (function, file) = (text(layout.code_name), text(layout.code_filename));
    let mut line = || {
        let first = r.read::<i32>(key.code.wrapping_add(layout.code_firstlineno))?;
        let table_at = r.read::<usize>(key.code.wrapping_add(layout.code_linetable))?;
        let table = bytes(r, layout, types, table_at)?;
        let format = if layout.version >= (3, 11) { LineTableFormat::Locations } else { LineTableFormat::Pep626 };
        line_at(&table, first, format, key.offset)
    };
    PyFrame { function, file, line: line() }
}

/// The longest string or table read (a hostile length reads no more than this).
const MAX_TEXT: usize = 64 << 10;

/// A bytes object's contents.
fn bytes(r: &mut Reader, layout: &PyLayout, types: &PyTypes, obj: usize) -> Option<Vec<u8>> {
    if r.read::<usize>(obj.wrapping_add(layout.object_type))? != types.bytes {
        return None;
    }
    let len = usize::try_from(r.read::<isize>(obj.wrapping_add(layout.bytes_size))?).ok()?;
    let mut out = vec![0u8; len.min(MAX_TEXT)];
    r.read_into(obj.wrapping_add(layout.bytes_data), &mut out).then_some(out)
}

/// A compact string's text (names and file names are compact: made by the compiler).
fn string(r: &mut Reader, layout: &PyLayout, types: &PyTypes, obj: usize) -> Option<String> {
    if r.read::<usize>(obj.wrapping_add(layout.object_type))? != types.unicode {
        return None;
    }
    let len = usize::try_from(r.read::<isize>(obj.wrapping_add(layout.unicode_length))?).ok()?.min(MAX_TEXT);
    let state = r.read::<u32>(obj.wrapping_add(layout.unicode_state))?;
    let bit = |b: u32| state >> b & 1 == 1;
    if !bit(layout.unicode_compact_bit) {
        return None;
    }
    let kind = (state >> layout.unicode_kind_shift & 7) as usize; // bytes per character
    let data = obj.wrapping_add(if bit(layout.unicode_ascii_bit) {
        layout.unicode_ascii_data
    } else {
        layout.unicode_compact_data
    });
    let mut raw = vec![0u8; len.checked_mul(kind)?];
    if !r.read_into(data, &mut raw) {
        return None;
    }
    Some(match kind {
        1 => raw.iter().map(|&b| char::from(b)).collect(),
        2 => char::decode_utf16(raw.chunks_exact(2).map(|c| u16::from_ne_bytes([c[0], c[1]])))
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect(),
        4 => raw
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}'))
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    //! A thread state, frames, code objects and strings laid out by hand in 3.12's
    //! layout (the same offsets the table holds), walked as the interpreter's would be.
    use super::*;
    use pinguard_core::py_layout::for_version;

    /// Fake memory: 8-byte aligned words, written at byte offsets.
    struct Mem(Vec<u64>);

    impl Mem {
        fn new(words: usize) -> Mem {
            Mem(vec![0; words])
        }
        fn base(&self) -> usize {
            self.0.as_ptr() as usize
        }
        fn put<T: Copy>(&mut self, at: usize, v: T) {
            assert!(at + std::mem::size_of::<T>() <= self.0.len() * 8);
            // SAFETY: within the vector (checked above); any bit pattern is a valid u64.
            unsafe { std::ptr::write_unaligned((self.0.as_mut_ptr() as *mut u8).add(at).cast::<T>(), v) };
        }
    }

    const CODE_T: usize = 0x1000;
    const STR_T: usize = 0x2000;
    const BYTES_T: usize = 0x3000;
    const TYPES: PyTypes = PyTypes { code: CODE_T, unicode: STR_T, bytes: BYTES_T };

    /// Writes an ASCII string object at `at`; returns its address.
    fn ascii(m: &mut Mem, l: &PyLayout, at: usize, text: &str) -> usize {
        m.put(at + l.object_type, STR_T);
        m.put(at + l.unicode_length, text.len() as isize);
        let state: u32 = (1 << l.unicode_kind_shift) | (1 << l.unicode_compact_bit) | (1 << l.unicode_ascii_bit);
        m.put(at + l.unicode_state, state);
        for (i, b) in text.bytes().enumerate() {
            m.put(at + l.unicode_ascii_data + i, b);
        }
        m.base() + at
    }

    /// Writes a code object at `at` (name, file, first line, a line table); returns it.
    fn code(m: &mut Mem, l: &PyLayout, at: usize, name: &str, file: &str, first: i32, table: &[u8]) -> usize {
        let n = ascii(m, l, at + 1024, name);
        let f = ascii(m, l, at + 1280, file);
        let t = at + 1536;
        m.put(t + l.object_type, BYTES_T);
        m.put(t + l.bytes_size, table.len() as isize);
        for (i, b) in table.iter().enumerate() {
            m.put(t + l.bytes_data + i, *b);
        }
        m.put(at + l.object_type, CODE_T);
        m.put(at + l.code_name, n);
        m.put(at + l.code_filename, f);
        m.put(at + l.code_firstlineno, first);
        m.put(at + l.code_linetable, m.base() + t);
        m.base() + at
    }

    #[test]
    fn a_chain_of_frames_reads_back_with_names_files_and_lines() {
        let l = for_version(3, 12).unwrap();
        let mut m = Mem::new(4096);
        // Lines: 3 code units at the first line, then 4 units one line further (+1).
        let table = [0x80 | (10 << 3) | 2, 0, 0, 0x80 | (11 << 3) | 3, 0, 0];
        let inner = code(&mut m, &l, 0, "Model.forward", "train.py", 40, &table);
        let outer = code(&mut m, &l, 2048, "main", "train.py", 10, &table);
        let BytecodeAt::Inline(start) = l.code_bytecode else { panic!() };
        let FrameRoot::ViaCFrame { cframe, current_frame } = l.frame_root else { panic!() };
        let InstructionAt::Pointer { offset: instr, .. } = l.frame_instruction else { panic!() };
        let (owner, cstack) = l.frame_owner.unwrap();
        // Frames at 8192 (inner), 8448 (a C-stack shim), 8704 (outer); thread state at 9216.
        let (f1, shim, f2, ts, cf) = (8192, 8448, 8704, 9216, 9472);
        m.put(f1 + l.frame_code, inner);
        m.put(f1 + instr, inner + start + 8); // prev_instr at byte 8: CPython's line is byte 8's
        m.put(f1 + l.frame_previous, m.base() + shim);
        m.put(shim + owner, cstack);
        m.put(shim + l.frame_previous, m.base() + f2);
        m.put(f2 + l.frame_code, outer);
        m.put(f2 + instr, outer + start + 2);
        m.put(ts + cframe, m.base() + cf);
        m.put(cf + current_frame, m.base() + f1);
        let mut slots = [MaybeUninit::uninit(); 8];
        let n = frame_keys(&l, &TYPES, m.base() + ts, &mut slots);
        // SAFETY: frame_keys wrote slots[..n].
        let keys: Vec<PyFrameKey> = slots[..n].iter().map(|k| unsafe { k.assume_init() }).collect();
        let (k1, k2) = (
            PyFrameKey { code: inner, offset: 8, ends_run: true },
            PyFrameKey { code: outer, offset: 2, ends_run: false },
        );
        assert_eq!(keys, [k1, k2], "the frame before the shim ends its run");
        let frames: Vec<PyFrame> = keys[..n].iter().map(|k| describe(&l, &TYPES, *k)).collect();
        assert_eq!(
            frames,
            [
                PyFrame { function: "Model.forward".into(), file: "train.py".into(), line: Some(41) },
                PyFrame { function: "main".into(), file: "train.py".into(), line: Some(10) },
            ]
        );

        // A corrupted link: the walk ends there, with the frames before it.
        m.put(f1 + l.frame_previous, 8usize);
        assert_eq!(frame_keys(&l, &TYPES, m.base() + ts, &mut slots), 1);
        // A frame whose code is not a code object: no frame from it on.
        m.put(f1 + l.frame_previous, m.base() + shim);
        let (inner_at, outer_at) = (inner - m.base(), outer - m.base());
        m.put(outer_at + l.object_type, STR_T);
        assert_eq!(frame_keys(&l, &TYPES, m.base() + ts, &mut slots), 1);
        // A cycle: bounded.
        m.put(outer_at + l.object_type, CODE_T);
        m.put(f2 + l.frame_previous, m.base() + f1);
        let mut many = [MaybeUninit::uninit(); 300];
        assert!(frame_keys(&l, &TYPES, m.base() + ts, &mut many) <= MAX_PY_FRAMES);
        // A name that is not a string, or an unreadable one: `?`, never a guess.
        m.put(inner_at + l.code_name, 16usize);
        assert_eq!(describe(&l, &TYPES, keys[0]).function, "?");
        // No thread state: no frames.
        assert_eq!(frame_keys(&l, &TYPES, 0, &mut slots), 0);
    }
}
