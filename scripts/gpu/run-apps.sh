#!/usr/bin/env bash
# A few test apps on the GPU machine, quickly: each built by nvcc in the four builds
# (shared runtime, static runtime, driver API, dlopen + dlsym) and checked against its
# line of testing/apps/manifest.txt in log and abort mode, with and without
# verify_with_driver. For a change that touches only these apps' paths, when the whole
# suite (scripts/gpu/test.sh) would cost more device time than is left:
#
#   bash scripts/gpu/run-apps.sh captured_copy pinned_lifetime
#
# Needs .gpu/ (scripts/dev/prepare-gpu.sh). Ends with `N passed, M failed`.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
[ $# -gt 0 ] || { echo "usage: run-apps.sh APP..." >&2; exit 2; }
out=$(mktemp -d)
base=(-std=c++17 -O1 -Itesting/apps -Xcompiler -Wno-attributes,-Wno-deprecated-declarations)
for b in dynamic static driver dlsym; do mkdir -p "$out/$b"; done
for app in "$@"; do
    grep -q "^$app " testing/apps/manifest.txt || { echo "run-apps: $app is not in the manifest" >&2; exit 2; }
    grep "^$app " testing/apps/manifest.txt >> "$out/manifest.txt"
    src=testing/apps/$app.cpp
    nvcc -x cu "${base[@]}" -cudart shared "$src" -o "$out/dynamic/$app" -lpthread &&
        nvcc -x cu "${base[@]}" -cudart static "$src" -o "$out/static/$app" -lpthread &&
        nvcc -x c++ "${base[@]}" -DTK_DRIVER "$src" -o "$out/driver/$app" -lcuda -lpthread &&
        nvcc -x c++ "${base[@]}" -DTK_DLSYM "$src" -o "$out/dlsym/$app" -ldl -lpthread ||
        { echo "run-apps: nvcc failed for $app" >&2; exit 1; }
done
runner=.gpu/pinguard-manifest-run
"$runner" --lib .gpu/libpinguard.so --apps "$out" --manifest "$out/manifest.txt" 2>&1 | tee "$out/log" | grep -v '^PASS' | cut -c1-1500
"$runner" --lib .gpu/libpinguard.so --apps "$out" --manifest "$out/manifest.txt" --modes log \
    --options verify_with_driver=1 2>&1 | tee "$out/log2" | grep -v '^PASS' | cut -c1-1500
p=$(( $(grep -c '^PASS' "$out/log") + $(grep -c '^PASS' "$out/log2") ))
f=$(( $(grep -c '^FAIL' "$out/log") + $(grep -c '^FAIL' "$out/log2") ))
grep -h '^PASS' "$out/log" "$out/log2" | head -n 20
echo "$p passed, $f failed"
rm -rf "$out"
[ "$f" -eq 0 ]
