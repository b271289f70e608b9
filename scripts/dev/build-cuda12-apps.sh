#!/usr/bin/env bash
# Builds the runtime-API test apps against CUDA 12.9 (headers, libcudart.so.12 and
# libcudart_static.a from the PyPI wheels nvidia-cuda-runtime-cu12 and the crt headers of
# nvidia-cuda-nvcc-cu12), for the GPU machine to run on its real (CUDA 13) driver: the
# CUDA 12 runtime's batch signatures, loader protocol and entry points.
#
#   bash scripts/dev/build-cuda12-apps.sh OUT_DIR
#
# Produces OUT_DIR/{dynamic,static}/<app> and OUT_DIR/lib/libcudart.so.12 (run the
# dynamic builds with LD_LIBRARY_PATH=OUT_DIR/lib). The test apps are host code: g++
# builds them, no nvcc is needed.
set -euo pipefail
out=${1:?usage: build-cuda12-apps.sh OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
wheels="$root/build/wheels12"
cuda="$root/build/cuda12"
if [ ! -f "$cuda/include/cuda_runtime_api.h" ] || [ ! -f "$cuda/include/crt/host_defines.h" ]; then
    mkdir -p "$wheels" "$cuda"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.12 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --dest "$wheels" nvidia-cuda-runtime-cu12==12.9.79 nvidia-cuda-nvcc-cu12==12.9.86
    python3 - "$wheels" "$cuda" <<'PY'
import pathlib, sys, zipfile
wheels, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for w in sorted(wheels.glob("*.whl")):
    with zipfile.ZipFile(w) as z:
        for n in z.namelist():
            for part in ("/include/", "/lib/"):
                if part in n and ("runtime" in w.name or "/include/crt/" in n):
                    rel = n.split(part, 1)[1]
                    target = dest / part.strip("/") / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(n))
PY
fi
mkdir -p "$out/dynamic" "$out/static" "$out/lib"
cp "$cuda/lib/libcudart.so.12" "$out/lib/"
ln -sf libcudart.so.12 "$cuda/lib/libcudart.so"
apps="$root/testing/apps"
base=(-std=c++17 -O1 -g -w -I"$apps" -I"$cuda/include")
# Apps that need device code (symbol_copies copies to a __device__ variable) are built
# by nvcc only; g++ cannot make them, so the manifest these builds run by leaves them out.
nvcc_only="symbol_copies"
grep -v -E "^($(echo $nvcc_only | tr ' ' '|')) " "$apps/manifest.txt" > "$out/manifest.txt"
built=0
for src in "$apps"/*.cpp; do
    app=$(basename "$src" .cpp)
    grep -q "^$app " "$out/manifest.txt" || continue
    awk -v a="$app" '$1 == a { exit !($2 == "all" || $2 ~ /dynamic|static/) }' "$apps/manifest.txt" || continue
    pt=()
    grep -q 'define CUDA_API_PER_THREAD_DEFAULT_STREAM' "$src" && pt=(-DCUDA_API_PER_THREAD_DEFAULT_STREAM)
    g++ "${base[@]}" "${pt[@]}" "$src" -o "$out/dynamic/$app" -L"$cuda/lib" -lcudart -lpthread
    g++ "${base[@]}" "${pt[@]}" "$src" -o "$out/static/$app" "$cuda/lib/libcudart_static.a" "$cuda/lib/libculibos.a" -ldl -lpthread -lrt
    built=$((built + 2))
done
echo "build-cuda12-apps: built $built app builds against CUDA 12.9 into $out"
