#!/usr/bin/env bash
# Builds pinguard and runs a demo program under `pinguard run --error-exitcode 3`, as a CI
# job would: the program copies a pageable buffer to the GPU with cudaMemcpyAsync
# (testing/apps/pageable_h2d.cpp). With nvcc and a GPU present it uses
# real CUDA (nvcc's default static runtime, so the driver layer catches it); otherwise
# the fakecuda stand-in. It says which. (Without cargo, as on the GPU machine, it uses
# the build scripts/dev/prepare-gpu.sh put in .gpu/.) Ends with the exit code pinguard run
# gave and what it means.
#
# PINGUARD=COMMAND runs an installed pinguard instead (a wheel's, a release's,
# `cargo install`'s), which finds its own library: CI runs the demo through each.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -n "${PINGUARD:-}" ]; then
    bin=""
elif command -v cargo >/dev/null; then
    cargo build --release --quiet -p pinguard -p pinguard-cli
    bin="$root/target/release"
elif [ -f "$root/.gpu/libpinguard.so" ] && [ -x "$root/.gpu/pinguard" ]; then
    bin="$root/.gpu"   # a machine without Rust: the build carried there
else
    echo "demo: no cargo to build pinguard with, and no .gpu/ build" >&2
    exit 1
fi
mkdir -p build/demo
if command -v nvcc >/dev/null && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    echo "demo: real CUDA ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)), app built by nvcc -cudart static"
    nvcc -x cu -std=c++17 -O1 -Xcompiler -Wno-deprecated-declarations -Itesting/apps testing/apps/pageable_h2d.cpp -o build/demo/pageable_h2d
    env=()
else
    echo "demo: no GPU/nvcc here, so the app runs against fakecuda (a test double, not a GPU)"
    bash scripts/dev/build-test-apps.sh build/demo-fake >/dev/null
    cp build/demo-fake/static/pageable_h2d build/demo/pageable_h2d
    env=(LD_LIBRARY_PATH="$root/build/demo-fake/fakecuda")
fi
rm -rf build/demo/report
echo "demo: pinguard run --error-exitcode 3 --report-dir build/demo/report -- build/demo/pageable_h2d"
echo
rc=0
if [ -n "${PINGUARD:-}" ]; then
    pg=("$PINGUARD")
    lib=()
else
    pg=("$bin/pinguard")
    lib=(--lib "$bin/libpinguard.so")
fi
env "${env[@]}" "${pg[@]}" run "${lib[@]}" --error-exitcode 3 \
    --report-dir build/demo/report -- build/demo/pageable_h2d || rc=$?
echo
case $rc in
    3) echo "demo: exit 3: pinguard found the pageable copy (a CI job fails here); the report: ${pg[*]} report build/demo/report --format html -o report.html" ;;
    *) echo "demo: exit $rc: expected 3 (a finding)" >&2; exit 1 ;;
esac
