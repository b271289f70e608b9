#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine to build and test pinguard:
# - Debian packages: a C++ compiler and binutils (fakecuda, the test apps, readelf),
#   python3 with pip and venv (to fetch wheels; CI installs pinguard's own wheel into a
#   fresh virtual environment) and its headers (python3-dev), valgrind, strace and time (instruction and system-call
#   counts, a call site's memory), chromium (the HTML report's browser test), Open MPI
#   (ranks under a real mpirun), util-linux's unshare (a tiny file system of a test's
#   own);
# - the CUDA 13 headers, from the PyPI wheels nvidia-cuda-runtime and nvidia-cuda-crt,
#   downloaded and unpacked into build/cuda (no system-wide pip install: a stock Debian
#   or Ubuntu Python refuses one, as it is "externally managed"). No GPU or CUDA toolkit
#   is needed.
# The Rust toolchain (stable, 1.88 or newer) is expected to be there already.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
need=()
command -v g++ >/dev/null || need+=(g++)
command -v readelf >/dev/null || need+=(binutils)
command -v python3 >/dev/null || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
# CPython's headers, internal ones too: a test checks pinguard's table of CPython's
# frame layout against them (core/tests/py_layout.rs).
ls /usr/include/python3.*/internal/pycore_frame.h >/dev/null 2>&1 || need+=(python3-dev)
command -v valgrind >/dev/null || need+=(valgrind)
command -v strace >/dev/null || need+=(strace)
command -v mpirun >/dev/null || need+=(openmpi-bin)
command -v unshare >/dev/null || need+=(util-linux)
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/bin/chromium ] || [ -x /usr/bin/chromium-browser ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
headers="$root/build/cuda"
if [ ! -f "$headers/nvidia/cu13/include/cuda_runtime_api.h" ] || [ ! -f "$headers/nvidia/cu13/include/crt/host_defines.h" ]; then
    wheels="$root/build/wheels"
    mkdir -p "$wheels" "$headers"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --dest "$wheels" nvidia-cuda-runtime==13.0.88 nvidia-cuda-crt==13.0.88
    python3 - "$wheels" "$headers" <<'PY'
import pathlib, sys, zipfile
wheels, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for w in sorted(wheels.glob("nvidia_cuda_*13.0.88*.whl")):
    with zipfile.ZipFile(w) as z:
        z.extractall(dest, [n for n in z.namelist() if "/include/" in n])
PY
fi
echo "setup: CUDA 13 headers in $headers/nvidia/cu13/include"
command -v cargo >/dev/null || { echo "setup: cargo not found; install a stable Rust toolchain (rustup)" >&2; exit 1; }
cargo --version
echo "setup: ready"
