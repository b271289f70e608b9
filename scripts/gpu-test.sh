#!/usr/bin/env bash
# The GPU suite. Runs on the GPU machine from the repository root, with the Linux build
# of pinguard carried in .gpu/ (see scripts/prepare-gpu.sh):
#
#   bash scripts/gpu-test.sh
#
# 1. every test app built by nvcc in four builds (-cudart shared, -cudart static, the
#    driver API, dlopen + dlsym), run under libpinguard.so in log and abort mode and
#    compared with test-apps/manifest.txt;
# 2. the differential check: every verdict against the driver's own answer
#    (PINGUARD_OPTIONS=verify_with_driver=1), zero disagreements allowed;
# 3. PyTorch and CuPy scenarios (scripts/gpu_scenarios.py).
# Logs go to $OUT (or /tmp/pinguard-gpu). Ends with `N passed, M failed`.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-/tmp/pinguard-gpu}
mkdir -p "$out"
lib="$root/.gpu/libpinguard.so"
runner="$root/.gpu/pinguard-manifest-run"
for f in "$lib" "$runner"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "gpu-test: $f missing: run scripts/prepare-gpu.sh here first" >&2; exit 2; }
done
passed=0
failed=0
pass() { passed=$((passed + $1)); }
fail() { failed=$((failed + $1)); }

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    nvcc --version | tail -n 2
    python3 -c 'import torch, cupy; print("torch", torch.__version__, "cupy", cupy.__version__)'
    libcuda=$(ldconfig -p | awk '/libcuda.so.1 /{print $NF; exit}')
    echo "libcuda: $libcuda"
} > "$out/env.txt" 2>&1
cat "$out/env.txt"

# The real driver's exports of the entry points pinguard wraps (routing is by pointer;
# this shows which variants exist).
nm -D --defined-only "$(ldconfig -p | awk '/libcuda.so.1 /{print $NF; exit}')" 2>/dev/null |
    awk '{print $NF}' | grep -E '^cu(GetProcAddress|MemAllocHost|MemHost|MemFreeHost|Memcpy.*Async)' | sort > "$out/libcuda-exports.txt"
echo "libcuda exports of interest: $(wc -l < "$out/libcuda-exports.txt")"

echo "== building the test apps with nvcc"
if ! JOBS=16 bash scripts/build-test-apps.sh build/gpu --nvcc > "$out/build.log" 2>&1; then
    # Keep going: the apps that did build still run, and each missing one fails its case.
    grep -E 'error|FAILED' "$out/build.log" | head -n 20
fi
tail -n 1 "$out/build.log"

echo "== manifest: four builds, log and abort"
"$runner" --lib "$lib" --apps build/gpu > "$out/manifest.log" 2>&1
grep -v '^PASS' "$out/manifest.log" | cut -c1-2000 | tail -n 60
read -r p f < <(awk '/ passed, .* failed$/ {print $1, $3}' "$out/manifest.log")
pass "${p:-0}"; fail "${f:-1}"

echo "== differential: every verdict against the driver's cudaPointerGetAttributes"
"$runner" --lib "$lib" --apps build/gpu --modes log --options verify_with_driver=1 > "$out/differential.log" 2>&1
grep -v '^PASS' "$out/differential.log" | cut -c1-2000 | tail -n 30
read -r p f < <(awk '/ passed, .* failed$/ {print $1, $3}' "$out/differential.log")
pass "${p:-0}"; fail "${f:-1}"

echo "== framework scenarios"
# expect: "found" (a pageable H2D finding of exactly the scenario's bytes) or "none"
# (no finding of that size).
for spec in torch_pageable:found torch_pinned:none cupy_set:found cupy_asarray:none; do
    name=${spec%%:*}
    want=${spec##*:}
    log="$out/scenario-$name.log"
    PYTHONUNBUFFERED=1 LD_PRELOAD="$lib" timeout 300 python3 scripts/gpu_scenarios.py "$name" > "$log.out" 2> "$log"
    rc=$?
    bytes=$(sed -n 's/.*bytes=\([0-9]*\)$/\1/p' "$log.out")
    hits=$(grep -c "verdict=pageable api=[^ ]* layer=[^ ]* dir=H2D bytes=${bytes:-x} " "$log")
    total=$(grep -c '\[verdict=' "$log")
    summary=$(grep 'pinguard: summary' "$log" | sed 's/.*\[//; s/\]//')
    checked=$(sed -n 's/.*\[summary=1 .*checked=\([0-9]*\).*/\1/p' "$log" | head -n 1)
    if [ "$rc" -ne 0 ] || [ -z "$bytes" ]; then
        echo "FAIL $name: exit $rc"; tail -n 5 "$log"; fail 1
    elif [ "${checked:-0}" -lt 1 ]; then
        # A "none" verdict means nothing unless pinguard was there and checked copies.
        echo "FAIL $name: no pinguard summary with checked copies: was pinguard loaded?"; tail -n 5 "$log"; fail 1
    elif { [ "$want" = found ] && [ "$hits" -ge 1 ]; } || { [ "$want" = none ] && [ "$hits" -eq 0 ]; }; then
        echo "PASS $name: $hits findings of $bytes bytes ($total records in all) [$summary]"; pass 1
    else
        echo "FAIL $name: expected $want, got $hits findings of $bytes bytes ($total in all) [$summary]"
        grep 'pinguard:' "$log" | cut -c1-600 | head -n 5
        fail 1
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
