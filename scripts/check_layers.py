#!/usr/bin/env python3
"""The preload library's modules import one way: each only modules below it.

The order is written twice for readers, in the map at the top of src/lib.rs and in the
layout in docs/design.md; this check holds the code to both, so neither can go stale.
Each module's imports are read from its source outside test code (`#[cfg(test)]` items
are left out: a test may reach anywhere): `crate::name` paths and `use crate::{...}`
groups. Exit 1 with one line per import that points up, or per module a list misses.

    python3 scripts/check_layers.py [ROOT]      (scripts/check-guards.sh runs it in CI)
"""
import re
import sys
from pathlib import Path


def non_test_code(text):
    """The source without `#[cfg(test)]` items (a block by its braces, else one line)."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].strip() != "#[cfg(test)]":
            out.append(lines[i])
            i += 1
            continue
        i += 1
        if i < len(lines) and "{" in lines[i]:
            depth = 0
            while i < len(lines):
                depth += lines[i].count("{") - lines[i].count("}")
                i += 1
                if depth <= 0:
                    break
        else:
            i += 1
    return "\n".join(out)


def imports(path, modules):
    code = re.sub(r"//.*", "", non_test_code(path.read_text()))
    found = set(re.findall(r"\bcrate::(\w+)", code))
    for group in re.findall(r"\buse\s+crate::\{(.*?)\};", code, re.S):
        depth, item = 0, ""
        for ch in group + ",":
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if ch == "," and depth == 0:
                lead = re.match(r"\s*(\w+)", item)
                if lead:
                    found.add(lead.group(1))
                item = ""
            else:
                item += ch
    return {m for m in found if m in modules and m != path.stem}


def lib_map_order(root, modules):
    """Module names in the order the map in src/lib.rs gives them."""
    text = (root / "src/lib.rs").read_text()
    start = text.index("//! Map")
    block = text[start:].split("\n//!\n", 1)[0]
    return [m for m in re.findall(r"`(\w+)`", block) if m in modules]


def design_order(root, modules):
    """Module names in the order the layout block of docs/design.md lists under src/."""
    lines = (root / "docs/design.md").read_text().split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("src/ "))
    order = []
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        lead = re.match(r"  ((?:\w+\.rs ?)+)", line)  # a name at two spaces, not a continuation
        if lead:
            order += [f[:-3] for f in lead.group(1).split() if f[:-3] in modules]
    return order


def check(order, where, edges, modules):
    problems = []
    for m in sorted(modules - set(order)):
        problems.append(f"{where}: module `{m}` is not listed")
    for m in sorted({m for m in order if order.count(m) > 1}):
        problems.append(f"{where}: module `{m}` is listed twice")
    pos = {m: i for i, m in enumerate(order)}
    for m in order:
        for d in sorted(edges[m]):
            if d in pos and pos[d] <= pos[m]:
                problems.append(f"{where}: `{m}` imports `{d}`, which is listed above it")
    return problems


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    files = {p.stem: p for p in (root / "src").glob("*.rs") if p.stem != "lib"}
    modules = set(files)
    edges = {m: imports(p, modules) for m, p in files.items()}
    problems = check(lib_map_order(root, modules), "src/lib.rs map", edges, modules)
    problems += check(design_order(root, modules), "docs/design.md layout", edges, modules)
    for p in problems:
        print(f"check-layers: {p}", file=sys.stderr)
    if not problems:
        n = sum(len(d) for d in edges.values())
        print(f"check-layers: {len(modules)} modules, {n} imports, every one pointing down both lists")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
