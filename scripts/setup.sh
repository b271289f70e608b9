#!/usr/bin/env bash
# Installs what building and testing pinguard needs on a fresh Debian/Ubuntu machine:
# a C++ compiler and binutils (fakecuda, the test apps, readelf), and the CUDA 13
# headers from PyPI (host code only; no GPU or CUDA toolkit is needed). The Rust
# toolchain (stable, 1.88 or newer) is expected to be there already.
set -euo pipefail
need=()
command -v g++ >/dev/null || need+=(g++)
command -v readelf >/dev/null || need+=(binutils)
command -v python3 >/dev/null || need+=(python3 python3-pip)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}"
fi
python3 -m pip install --quiet --disable-pip-version-check nvidia-cuda-runtime==13.0.88 nvidia-cuda-crt==13.0.88
command -v cargo >/dev/null || { echo "setup: cargo not found; install a stable Rust toolchain (rustup)" >&2; exit 1; }
cargo --version
echo "setup: ready"
