#!/usr/bin/env python3
"""Builds pinguard's wheel from a built command and library (no Rust at install time).

    python3 scripts/dev/build-wheel.py BIN_DIR OUT_DIR

BIN_DIR holds `pinguard` and `libpinguard.so` (scripts/dev/build-release.sh builds them for
glibc 2.17 with cargo-zigbuild). The wheel is `py3-none-manylinux_2_17_x86_64`: one
wheel for every CPython 3.9+ on x86-64 Linux, since nothing in it is a Python
extension. Its `pinguard` command (a console script) and `python -m pinguard` run the
carried binary, which finds the library beside it (`pinguard/bin/../lib`).
"""
import base64
import hashlib
import os
import stat
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TAG = "py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64"


def version():
    for line in (ROOT / "Cargo.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise SystemExit("build-wheel: no version in Cargo.toml")


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    bins, out = Path(sys.argv[1]), Path(sys.argv[2])
    ver = version()
    readme = (ROOT / "README.md").read_text()
    files = {}
    for f in ("__init__.py", "__main__.py"):
        files["pinguard/" + f] = ((ROOT / "python/pinguard" / f).read_text().replace("@VERSION@", ver).encode(), 0o644)
    files["pinguard/bin/pinguard"] = ((bins / "pinguard").read_bytes(), 0o755)
    files["pinguard/lib/libpinguard.so"] = ((bins / "libpinguard.so").read_bytes(), 0o755)
    info = "pinguard-%s.dist-info" % ver
    files[info + "/METADATA"] = (
        (
            "Metadata-Version: 2.1\n"
            "Name: pinguard\n"
            "Version: %s\n"
            "Summary: Finds CUDA async copies from pageable host memory (they block the host and run at 1/8 of pinned bandwidth)\n"
            "License: Apache-2.0\n"
            "Requires-Python: >=3.9\n"
            "Classifier: Operating System :: POSIX :: Linux\n"
            "Classifier: Environment :: GPU :: NVIDIA CUDA\n"
            "Description-Content-Type: text/markdown\n\n%s" % (ver, readme)
        ).encode(),
        0o644,
    )
    files[info + "/WHEEL"] = (
        ("Wheel-Version: 1.0\nGenerator: pinguard build-wheel.py\nRoot-Is-Purelib: false\nTag: %s\n" % TAG).encode(),
        0o644,
    )
    files[info + "/entry_points.txt"] = (b"[console_scripts]\npinguard = pinguard.__main__:main\n", 0o644)
    files[info + "/LICENSE"] = ((ROOT / "LICENSE").read_bytes(), 0o644)
    files[info + "/top_level.txt"] = (b"pinguard\n", 0o644)
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / ("pinguard-%s-%s.whl" % (ver, TAG))
    record = [record_line(n, d) for n, (d, _) in files.items()] + [info + "/RECORD,,"]
    files[info + "/RECORD"] = (("\n".join(record) + "\n").encode(), 0o644)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (data, mode) in files.items():
            zi = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            zi.external_attr = (stat.S_IFREG | mode) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    print(wheel)


if __name__ == "__main__":
    main()
