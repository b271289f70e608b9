#!/usr/bin/env bash
# Builds what the GPU machine needs (it has no Rust) into .gpu/, a git-ignored folder
# that the device tool carries: the release libpinguard.so and the manifest runner.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --workspace
mkdir -p .gpu
cp target/release/libpinguard.so target/release/pinguard-manifest-run .gpu/
du -sh .gpu
