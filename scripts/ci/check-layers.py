#!/usr/bin/env python3
"""The preload library's folders are its layers, and its imports point one way.

preload/src/ holds one folder per layer (interpose, finding, stacks, table, base, from
the program's side down). A module may import a module listed below it in its own
folder, or any module of a folder further down; never one above. The order is written
three times for readers: the map at the top of preload/src/lib.rs, each folder's mod.rs
(its `pub mod` lines) and the layout in docs/design.md; this check holds the code to all
three, so none can go stale. Imports are read from each module's source outside test
code (`#[cfg(test)]` items are left out: a test may reach anywhere): `crate::folder::module`
paths and `use crate::{...}` groups. Exit 1 with one line per import that points up, per
module a list misses, and per list that disagrees.

    python3 scripts/ci/check-layers.py [ROOT]     (scripts/ci/check-guards.sh runs it in CI)
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


def crate_paths(code):
    """Every path that starts at `crate::`, with `{...}` groups expanded (nested too)."""

    def expand(prefix, rest):
        rest = rest.strip()
        if not rest.startswith("{"):
            path = re.match(r"[\w:]*", rest).group(0)
            return [prefix + path]
        depth, item, items = 0, "", []
        for ch in rest[1:]:
            if ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0:
                    items.append(item)
                    break
                depth -= 1
            if ch == "," and depth == 0:
                items.append(item)
                item = ""
            else:
                item += ch
        paths = []
        for it in items:
            it = it.strip()
            if not it:
                continue
            head = re.match(r"([\w:]*?)(::)?(\{.*)?$", it, re.S)
            if head and head.group(3):
                paths += expand(prefix + head.group(1) + "::", head.group(3))
            else:
                paths.append(prefix + re.match(r"[\w:]*", it).group(0))
        return paths

    paths = []
    for m in re.finditer(r"\bcrate::", code):
        paths += expand("", code[m.end() :])
    return paths


def imports(path, where):
    """The modules (folder, name) a module's non-test code uses."""
    code = re.sub(r"//.*", "", non_test_code(path.read_text()))
    found = set()
    for p in crate_paths(code):
        parts = p.split("::")
        if len(parts) >= 2 and (parts[0], parts[1]) in where:
            found.add((parts[0], parts[1]))
    return found


def lib_map(root):
    """[(folder, [modules])] in the order the map in preload/src/lib.rs gives them."""
    text = (root / "preload/src/lib.rs").read_text()
    block = text[text.index("//! Map") :].split("\n//!\n", 1)[0]
    order = []
    for entry in re.split(r"\n//! - ", block)[1:]:
        names = re.findall(r"`(\w+)`", entry)
        order.append((names[0], names[1:]))
    return order


def mod_rs_order(root, folder):
    return re.findall(r"^pub mod (\w+);", (root / "preload/src" / folder / "mod.rs").read_text(), re.M)


def design_map(root):
    """[(folder, [modules])] from the layout block of docs/design.md, under preload/src/."""
    lines = (root / "docs/design.md").read_text().split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("  src/"))
    order = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        folder = re.match(r"    (\w+)/ ", line)
        if folder:
            order.append((folder.group(1), []))
            continue
        files = re.match(r"      ((?:\w+\.rs ?)+)", line)  # names at six spaces, not a continuation
        if files and order:
            order[-1][1].extend(f[:-3] for f in files.group(1).split())
    return order


def check(order, where_written, edges, modules):
    problems = []
    listed = [(f, m) for f, ms in order for m in ms]
    for fm in sorted(modules - set(listed)):
        problems.append(f"{where_written}: module `{fm[0]}::{fm[1]}` is not listed")
    for fm in sorted({x for x in listed if listed.count(x) > 1}):
        problems.append(f"{where_written}: module `{fm[0]}::{fm[1]}` is listed twice")
    for fm in sorted(set(listed) - modules):
        problems.append(f"{where_written}: `{fm[0]}::{fm[1]}` is listed but there is no such file")
    folder_pos = {f: i for i, (f, _) in enumerate(order)}
    pos = {fm: i for i, fm in enumerate(listed)}
    for fm in listed:
        for d in sorted(edges.get(fm, ())):
            if d not in pos:
                continue
            same = d[0] == fm[0]
            if (same and pos[d] <= pos[fm]) or (not same and folder_pos[d[0]] < folder_pos[fm[0]]):
                problems.append(
                    f"{where_written}: `{fm[0]}::{fm[1]}` imports `{d[0]}::{d[1]}`, which is listed above it"
                )
    return problems


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent.parent)
    src = root / "preload/src"
    files = {(p.parent.name, p.stem): p for p in src.glob("*/*.rs") if p.stem != "mod"}
    strays = [p.name for p in src.glob("*.rs") if p.name != "lib.rs"]
    modules = set(files)
    edges = {fm: imports(p, modules) for fm, p in files.items()}
    lib = lib_map(root)
    problems = [f"preload/src/{s}: a module outside the layer folders" for s in strays]
    problems += check(lib, "preload/src/lib.rs map", edges, modules)
    problems += check(design_map(root), "docs/design.md layout", edges, modules)
    for folder, ms in lib:
        if (src / folder / "mod.rs").exists() and mod_rs_order(root, folder) != ms:
            problems.append(f"preload/src/{folder}/mod.rs: its `pub mod` lines are not in the map's order {ms}")
    for p in problems:
        print(f"check-layers: {p}", file=sys.stderr)
    if not problems:
        n = sum(len(d) for d in edges.values())
        up = sum(1 for fm, ds in edges.items() for d in ds if d[0] != fm[0])
        print(
            f"check-layers: {len(lib)} folders, {len(modules)} modules, {n} imports ({up} between folders), "
            "every one pointing down"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
