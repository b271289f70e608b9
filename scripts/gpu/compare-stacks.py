#!/usr/bin/env python3
"""Compares the call sites of two pinguard report folders, made by one program run twice:
with fast_unwind=1 (pinguard's caching unwinder) and fast_unwind=0 (the C library's).
The sites' stacks (function, file, line of every frame; addresses differ between runs)
must be the same sets, and the caching run must have left no stack to the C library's
unwinder unless --allow-slow is given.

    python3 scripts/gpu/compare-stacks.py FAST_DIR LIBGCC_DIR [--allow-slow]

Prints one PASS or FAIL line; exit status 0 on PASS.
"""
import json
import pathlib
import sys


def stacks(folder):
    found, slow = set(), 0
    for path in sorted(pathlib.Path(folder).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "site":
                found.add(tuple((f.get("function"), f.get("file"), f.get("line")) for f in record["frames"]))
            elif record.get("event") == "summary":
                slow += record["counts"].get("slow_stacks", 0)
    return found, slow


def main():
    fast_dir, libgcc_dir = sys.argv[1], sys.argv[2]
    allow_slow = "--allow-slow" in sys.argv[3:]
    (fast, slow), (libgcc, _) = stacks(fast_dir), stacks(libgcc_dir)
    name = pathlib.Path(fast_dir).name
    if not fast:
        print(f"FAIL unwind {name}: no sites")
        return 1
    if fast != libgcc:
        print(f"FAIL unwind {name}: {len(fast ^ libgcc)} stacks differ between the unwinders")
        for s in sorted(fast - libgcc, key=str)[:3]:
            print("  caching only:", s)
        for s in sorted(libgcc - fast, key=str)[:3]:
            print("  libgcc only: ", s)
        return 1
    if slow and not allow_slow:
        print(f"FAIL unwind {name}: {slow} stacks left to the C library's unwinder")
        return 1
    depth = max(len(s) for s in fast)
    print(f"PASS unwind {name}: {len(fast)} sites, the same stacks from both unwinders "
          f"(deepest {depth} frames); slow_stacks={slow}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
