/* Prints the offsets pinguard reads in CPython's thread states, frames, code objects and
 * strings, from the interpreter's own headers (core/tests/py_layout.rs compiles this
 * against each CPython found and compares with core/src/py_layout.rs). Built with
 * Py_BUILD_CORE, as the frame and thread-state structs are internal from 3.11 on. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#else
#include "frameobject.h"
#endif

#define P(name, value) printf("%s %ld\n", name, (long)(value))

int main(void) {
    P("version_hex", PY_VERSION_HEX);
#if PY_VERSION_HEX >= 0x030D0000
    P("tstate.current_frame", offsetof(PyThreadState, current_frame));
#elif PY_VERSION_HEX >= 0x030B0000
    P("tstate.cframe", offsetof(PyThreadState, cframe));
    P("cframe.current_frame", offsetof(_PyCFrame, current_frame));
#else
    P("tstate.frame", offsetof(PyThreadState, frame));
#endif
#if PY_VERSION_HEX >= 0x030D0000
    P("frame.code", offsetof(_PyInterpreterFrame, f_executable));
    P("frame.previous", offsetof(_PyInterpreterFrame, previous));
    P("frame.instr", offsetof(_PyInterpreterFrame, instr_ptr));
    P("frame.owner", offsetof(_PyInterpreterFrame, owner));
#elif PY_VERSION_HEX >= 0x030B0000
    P("frame.code", offsetof(_PyInterpreterFrame, f_code));
    P("frame.previous", offsetof(_PyInterpreterFrame, previous));
    P("frame.instr", offsetof(_PyInterpreterFrame, prev_instr));
    P("frame.owner", offsetof(_PyInterpreterFrame, owner));
#if PY_VERSION_HEX < 0x030C0000
    P("frame.is_entry", offsetof(_PyInterpreterFrame, is_entry));
#endif
#else
    P("frame.code", offsetof(PyFrameObject, f_code));
    P("frame.previous", offsetof(PyFrameObject, f_back));
    P("frame.lasti", offsetof(PyFrameObject, f_lasti));
#endif
    P("code.filename", offsetof(PyCodeObject, co_filename));
#if PY_VERSION_HEX >= 0x030B0000
    P("code.qualname", offsetof(PyCodeObject, co_qualname));
    P("code.code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
#else
    P("code.name", offsetof(PyCodeObject, co_name));
    P("code.code", offsetof(PyCodeObject, co_code));
#endif
    P("code.firstlineno", offsetof(PyCodeObject, co_firstlineno));
    P("code.linetable", offsetof(PyCodeObject, co_linetable));
    P("bytes.size", offsetof(PyBytesObject, ob_base.ob_size));
    P("bytes.data", offsetof(PyBytesObject, ob_sval));
    P("unicode.length", offsetof(PyASCIIObject, length));
    P("unicode.state", offsetof(PyASCIIObject, state));
    P("unicode.ascii_data", sizeof(PyASCIIObject));
    P("unicode.compact_data", sizeof(PyCompactUnicodeObject));
    P("object.type", offsetof(PyObject, ob_type));
    /* The string's state bits: where the kind, compact and ascii fields lie in the word. */
    PyASCIIObject probe;
    unsigned int word;
    memset(&probe, 0, sizeof probe);
    probe.state.kind = 1;
    memcpy(&word, &probe.state, sizeof word);
    P("unicode.kind_shift", __builtin_ctz(word));
    memset(&probe, 0, sizeof probe);
    probe.state.compact = 1;
    memcpy(&word, &probe.state, sizeof word);
    P("unicode.compact_bit", __builtin_ctz(word));
    memset(&probe, 0, sizeof probe);
    probe.state.ascii = 1;
    memcpy(&word, &probe.state, sizeof word);
    P("unicode.ascii_bit", __builtin_ctz(word));
#if PY_VERSION_HEX >= 0x030C0000
    P("frame.owned_by_cstack", FRAME_OWNED_BY_CSTACK);
#endif
    return 0;
}
