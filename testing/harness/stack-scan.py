#!/usr/bin/env python3
"""What a stopped or blocked thread was doing, without a debugger: reads the thread's
stack from its stack pointer (/proc/PID/task/TID/syscall gives it, and the program
counter) through /proc/PID/mem, keeps the words that point into an executable mapping,
and names each by its module, offset and the nearest symbol at or below it (nm; the
dynamic table where a library has no other). Words that only look like return
addresses are included too: read it as a scan, not as an unwound stack. One thing is
read exactly: a word that points at the C library's signal return (`mov $15, %rax;
syscall`) starts a signal frame, and the line after it gives the program counter and
stack pointer the signal interrupted (from the frame's saved registers):

       signal at sp+0x0130: interrupted at pc 0x... libc.so.6+0xa27e7 sym, sp sp+0x0e60

    stack_scan.py PID [TID...]      (every thread of PID when no TID is given)
"""
import bisect
import os
import subprocess
import sys

SCAN_BYTES = 16 * 1024
# x86-64 rt_sigreturn trampoline: mov $15, %rax; syscall.
RESTORER = bytes.fromhex("48c7c00f0000000f05")
# In the signal frame, after the restorer's address: the ucontext, whose saved registers
# start 40 bytes in (uc_flags, uc_link, uc_stack); RSP is register 15 and RIP 16.
SAVED_RSP, SAVED_RIP = 8 + 40 + 15 * 8, 8 + 40 + 16 * 8


def mappings(pid):
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[1] == "r-xp":
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi, int(parts[2], 16), parts[5]))
    return out


_symbols = {}


def symbols(path):
    """(addresses, names) of path's function symbols, sorted, by file offset where the
    module's text is mapped at its link address minus the segment offset (the usual
    case for shared objects and PIE executables)."""
    if path not in _symbols:
        table = []
        for args in (["nm", "-C", "--defined-only", path], ["nm", "-C", "-D", "--defined-only", path]):
            try:
                text = subprocess.run(args, capture_output=True, text=True, timeout=60).stdout
            except (OSError, subprocess.TimeoutExpired):
                text = ""
            for line in text.splitlines():
                parts = line.split(" ", 2)
                if len(parts) == 3 and parts[1] in "tTwW":
                    table.append((int(parts[0], 16), parts[2]))
            if table:
                break
        table.sort()
        _symbols[path] = ([a for a, _ in table], [n for _, n in table])
    return _symbols[path]


def name(maps, addr):
    for lo, hi, off, path in maps:
        if lo <= addr < hi:
            # For a shared object the link address of a text byte is its file offset
            # (true for the usual layouts; nm prints link addresses).
            rel = addr - lo + off
            addrs, names = symbols(path)
            i = bisect.bisect_right(addrs, rel) - 1
            sym = f"{names[i]}+{rel - addrs[i]:#x}" if i >= 0 else "?"
            return f"{os.path.basename(path)}+{rel:#x} {sym}"
    return None


def scan(pid, tid, maps):
    try:
        with open(f"/proc/{pid}/task/{tid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return
    if len(fields) < 3 or fields[0] == "running":
        print(f"-- tid {tid}: running, no stack to read")
        return
    sp, pc = int(fields[-2], 16), int(fields[-1], 16)
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            comm = f.read().strip().replace(" ", "_")
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        comm, state = "?", "?"
    try:
        with open(f"/proc/{pid}/task/{tid}/wchan") as f:
            wchan = f.read().strip() or "0"
    except OSError:
        wchan = "?"
    # The header the harness reads (testing/harness/src/hang.rs): tid, name, state, the system
    # call the thread is blocked in (-1: none) and its first argument (a futex's address:
    # threads waiting on one lock show the same), where in the kernel it sleeps, then
    # where in the program.
    arg1 = fields[1] if len(fields) > 3 else "-"
    print(f"-- tid {tid} {comm} {state} syscall={fields[0]} arg1={arg1} wchan={wchan}: pc {pc:#x} {name(maps, pc) or '?'}")
    # Page by page: a read that runs past the top of the stack fails as a whole.
    data = b""
    try:
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            at = sp
            while len(data) < SCAN_BYTES:
                step = min(4096 - at % 4096, SCAN_BYTES - len(data))
                mem.seek(at)
                data += mem.read(step)
                at += step
    except OSError as e:
        if not data:
            print(f"   stack unreadable: {e}")
            return
    for i in range(0, len(data) - 7, 8):
        word = int.from_bytes(data[i : i + 8], "little")
        where = name(maps, word)
        if where:
            print(f"   sp+{i:#06x}: {word:#x} {where}")
            if i + SAVED_RIP + 8 <= len(data) and is_restorer(pid, word):
                rip = int.from_bytes(data[i + SAVED_RIP : i + SAVED_RIP + 8], "little")
                rsp = int.from_bytes(data[i + SAVED_RSP : i + SAVED_RSP + 8], "little")
                at = f"sp+{rsp - sp:#06x}" if rsp >= sp else f"{rsp:#x}"
                print(f"   signal at sp+{i:#06x}: interrupted at pc {rip:#x} {name(maps, rip) or '?'}, sp {at}")


def is_restorer(pid, addr):
    try:
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            mem.seek(addr)
            return mem.read(len(RESTORER)) == RESTORER
    except OSError:
        return False


def main():
    pid = int(sys.argv[1])
    tids = sys.argv[2:] or sorted(os.listdir(f"/proc/{pid}/task"), key=int)
    maps = mappings(pid)
    for tid in tids:
        scan(pid, tid, maps)


if __name__ == "__main__":
    main()
