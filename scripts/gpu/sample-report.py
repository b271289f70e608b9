#!/usr/bin/env python3
"""Summarises bench/prof/sampler.c's samples: where the interrupted thread was, by module
and by function, as shares of all samples.

  sample_report.py SAMPLES [--map NAME=PATH ...] [--top N]

Each address is named with addr2line (functions, inlined ones too, where the module has
line tables) or else with the nearest symbol of nm (a stripped library's dynamic ones).
--map names a module by another file (the unstripped build of a library that travelled
stripped): any module whose path ends with NAME is read from PATH instead. Run it on the
machine that took the samples (bench-gpu.sh does), or map every module you name: a
module is read from its path here, and another build at that path (another machine's C
library, a rebuilt pinguard) gives wrong names. So each module's GNU build-id, which
the sampler records, is compared with the file's here (readelf -n); a module whose file
is missing or is another build is named by offset only, and said so on stderr.

Two views of the same samples: by the function the address's code was written in (the
innermost inlined one) and by the function it was compiled into (the outermost).
"""
import bisect
import collections
import importlib.util
import subprocess
import sys
from pathlib import Path

# The harness's stack scanner (testing/harness/stack-scan.py): its symbols() names an
# address by the nearest symbol. Loaded by path: its file name is not a module name.
_SCAN = Path(__file__).resolve().parent.parent.parent / "testing" / "harness" / "stack-scan.py"
_spec = importlib.util.spec_from_file_location("stack_scan", _SCAN)
stack_scan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stack_scan)


def addr2line(path, offsets):
    """offset -> (innermost function, outermost function) or None."""
    try:
        out = subprocess.run(["addr2line", "-f", "-C", "-i", "-a", "-e", path] + [hex(o) for o in offsets],
                             capture_output=True, text=True, check=False).stdout.splitlines()
    except OSError:
        return {}
    named, current, chain = {}, None, []
    lines = iter(out)
    for line in lines:
        if line.startswith("0x") and all(c in "0123456789abcdefx" for c in line):
            if current is not None and chain:
                named[current] = chain
            current, chain = int(line, 16), []
            continue
        function = line
        next(lines, None)  # the file:line that follows each function
        chain.append(function)
    if current is not None and chain:
        named[current] = chain
    return {o: (c[0], c[-1]) for o, c in named.items() if c and c[0] != "??"}


def build_id(path):
    """The GNU build-id of the ELF file at path, or None."""
    try:
        out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=False).stdout
    except OSError:
        return None
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:", 1)[1].strip()
    return None


def main():
    args = sys.argv[1:]
    maps, top, files = {}, 40, []
    while args:
        a = args.pop(0)
        if a == "--map":
            name, path = args.pop(0).split("=", 1)
            maps[name] = path
        elif a == "--top":
            top = int(args.pop(0))
        else:
            files.append(a)
    samples = collections.Counter()
    ids = {}
    for f in files:
        for line in open(f):
            if line.startswith("# build-id "):
                _, _, module, hexid = line.split()
                ids[module] = hexid
                continue
            count, module, offset = line.split()
            samples[(module, int(offset, 16))] += int(count)
    total = sum(samples.values())
    if not total:
        print("no samples")
        return
    by_module = collections.defaultdict(list)
    for (module, offset), n in samples.items():
        by_module[module].append(offset)
    names = {}
    for module, offsets in by_module.items():
        path = next((p for name, p in maps.items() if module.endswith(name)), module)
        here = build_id(path)
        if module in ids and here != ids[module]:
            why = "is not here" if here is None else f"is another build here ({path}: {here}, sampled: {ids[module]})"
            print(f"sample_report: {module} {why}; its samples are named by offset", file=sys.stderr)
            found = {o: (f"{o:#x}", f"{o:#x}") for o in offsets}
            short = module.rsplit("/", 1)[-1]
            for o in offsets:
                names[(module, o)] = (short, *found[o])
            continue
        found = addr2line(path, sorted(offsets))
        missing = [o for o in offsets if o not in found]
        if missing:
            starts, symbols = stack_scan.symbols(path)
            for o in missing:
                i = bisect.bisect_right(starts, o) - 1
                name = symbols[i] if i >= 0 else f"{o:#x}"
                found[o] = (name, name)
        short = module.rsplit("/", 1)[-1]
        for o in offsets:
            names[(module, o)] = (short, *found[o])
    print(f"{total} samples")
    modules = collections.Counter()
    inner, outer = collections.Counter(), collections.Counter()
    for key, n in samples.items():
        short, i, o = names[key]
        modules[short] += n
        inner[(short, i)] += n
        outer[(short, o)] += n
    print("\nby module:")
    for m, n in modules.most_common():
        print(f"  {100 * n / total:6.2f}%  {m}")
    for title, view in (("by function written (innermost inlined)", inner), ("by function compiled into (outermost)", outer)):
        print(f"\n{title}:")
        for (m, f), n in view.most_common(top):
            print(f"  {100 * n / total:6.2f}%  {m}: {f[:160]}")


if __name__ == "__main__":
    main()
