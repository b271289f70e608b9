#!/usr/bin/env bash
# Builds the test apps listed in testing/apps/manifest.txt, each in every build it names.
#
#   scripts/dev/build-test-apps.sh OUT_DIR            g++ against fakecuda (no GPU needed)
#   scripts/dev/build-test-apps.sh OUT_DIR --nvcc     nvcc against the real CUDA toolkit
#
# Produces OUT_DIR/<build>/<app> for build in dynamic, static, driver, dlsym, the
# reliability scenarios (testing/apps/reliability/*.cpp) as OUT_DIR/reliability/<build>/<app>
# for build in dynamic, static, and with g++ also OUT_DIR/fakecuda/ (libcuda.so.1,
# libcudart.so.13, libfakecudart_static.a).
# CUDA_INCLUDE overrides where the CUDA 13 headers are (g++ mode; default: the pip
# packages nvidia-cuda-runtime and nvidia-cuda-crt). JOBS sets the parallelism.
set -euo pipefail

out=${1:?usage: build-test-apps.sh OUT_DIR [--nvcc]}
toolchain=${2:-gxx}
root=$(cd "$(dirname "$0")/../.." && pwd)
apps="$root/testing/apps"
jobs=${JOBS:-$(nproc)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ "$toolchain" = "--nvcc" ]; then
    toolchain=nvcc
    command -v nvcc >/dev/null || { echo "build-test-apps: nvcc not found" >&2; exit 2; }
else
    toolchain=gxx
    # The headers scripts/setup.sh unpacked into the build tree, else an installed wheel.
    if [ -z "${CUDA_INCLUDE:-}" ] && [ -f "$root/build/cuda/nvidia/cu13/include/cuda_runtime_api.h" ]; then
        CUDA_INCLUDE="$root/build/cuda/nvidia/cu13/include"
    fi
    if [ -z "${CUDA_INCLUDE:-}" ]; then
        CUDA_INCLUDE=$(python3 - <<'PY' 2>/dev/null || true
import importlib.util, os
spec = importlib.util.find_spec("nvidia.cu13")
print(os.path.join(list(spec.submodule_search_locations)[0], "include") if spec else "")
PY
)
    fi
    if [ -z "$CUDA_INCLUDE" ] || [ ! -f "$CUDA_INCLUDE/cuda_runtime_api.h" ]; then
        echo "build-test-apps: CUDA 13 headers not found; run scripts/setup.sh (it unpacks them into build/cuda), or set CUDA_INCLUDE" >&2
        exit 2
    fi
    fk="$out/fakecuda"
    mkdir -p "$fk"
    # -Bsymbolic-functions: calls inside fakecuda bind inside it, as in the real libraries;
    # otherwise pinguard's exports would interpose fakecuda's internal calls.
    fkflags=(-std=c++17 -O1 -g -Wall -Wextra -Wno-unused-parameter -fPIC -Wl,-Bsymbolic-functions -I"$CUDA_INCLUDE")
    g++ "${fkflags[@]}" -shared "$root/testing/fakecuda/driver.cpp" -o "$fk/libcuda.so.1" -Wl,-soname,libcuda.so.1 -lpthread
    # Named as the real one is (libcudart.so.13 -> libcudart.so.13.0.88): pinguard reads
    # the runtime's version from the file it was loaded from.
    g++ "${fkflags[@]}" -shared "$root/testing/fakecuda/runtime.cpp" -o "$fk/libcudart.so.13.0.88" -Wl,-soname,libcudart.so.13 -ldl -lpthread
    ln -sf libcudart.so.13.0.88 "$fk/libcudart.so.13"
    g++ "${fkflags[@]}" -DFAKE_STATIC -fvisibility=hidden -c "$root/testing/fakecuda/runtime.cpp" -o "$fk/runtime_static.o"
    rm -f "$fk/libfakecudart_static.a"
    ar rcs "$fk/libfakecudart_static.a" "$fk/runtime_static.o"
    ln -sf libcuda.so.1 "$fk/libcuda.so"
    ln -sf libcudart.so.13 "$fk/libcudart.so"
fi

# One line per (build, app) to compile, from the manifest.
plan=$(awk '!/^#/ && NF >= 2 { print $1, $2 }' "$apps/manifest.txt" | while read -r app builds; do
    [ "$builds" = all ] && builds=dynamic,static,driver,dlsym
    for b in ${builds//,/ }; do echo "$b $app"; done
done)

for b in dynamic static driver dlsym; do mkdir -p "$out/$b"; done
for b in dynamic static; do mkdir -p "$out/reliability/$b"; done
# The reliability scenarios: runtime API only, two builds each.
for f in "$apps"/reliability/*.cpp; do
    name=$(basename "$f" .cpp)
    plan="$plan
reliability/dynamic reliability/$name
reliability/static reliability/$name"
done

compile() {
    local build=${1#reliability/} app=$2 src="$apps/$2.cpp" dst="$out/$1/${2#reliability/}"
    local pt=()
    grep -q 'define CUDA_API_PER_THREAD_DEFAULT_STREAM' "$src" && pt=(--default-stream per-thread)
    # `// link: NAME` in a scenario: it needs testing/apps/reliability/lib/NAME.cpp, built
    # beside it as libNAME.so (runtime linked as a shared library), found through $ORIGIN.
    local link=()
    for lib in $(sed -n 's|^//   link: ||p' "$src"); do
        link+=(-L"$(dirname "$dst")" -l"$lib")
        # nvcc takes no -Wl,…; -Xlinker hands each word to the host linker.
        if [ "$toolchain" = nvcc ]; then link+=(-Xlinker -rpath -Xlinker '$ORIGIN'); else link+=(-Wl,-rpath,'$ORIGIN'); fi
    done
    if [ "$toolchain" = nvcc ]; then
        local base=(-std=c++17 -O1 -I"$apps" -Xcompiler -Wno-attributes,-Wno-deprecated-declarations)
        case $build in
            dynamic) nvcc -x cu "${base[@]}" "${pt[@]}" -cudart shared "$src" -o "$dst" "${link[@]}" -lpthread ;;
            static)  nvcc -x cu "${base[@]}" "${pt[@]}" -cudart static "$src" -o "$dst" "${link[@]}" -lpthread ;;
            driver)  nvcc -x c++ "${base[@]}" -DTK_DRIVER "$src" -o "$dst" -lcuda -lpthread ;;
            dlsym)   nvcc -x c++ "${base[@]}" -DTK_DLSYM "$src" -o "$dst" -ldl -lpthread ;;
        esac
    else
        local base=(-std=c++17 -O1 -g -Wall -Wno-attributes -Wno-deprecated-declarations -Wno-unused-variable -I"$apps" -I"$CUDA_INCLUDE")
        local fk="$out/fakecuda"
        case $build in
            dynamic) g++ "${base[@]}" "$src" -o "$dst" "${link[@]}" -L"$fk" -lcudart -lpthread ;;
            static)  g++ "${base[@]}" "$src" -o "$dst" "${link[@]}" "$fk/libfakecudart_static.a" -ldl -lpthread ;;
            driver)  g++ "${base[@]}" -DTK_DRIVER "$src" -o "$dst" -L"$fk" -lcuda -lpthread ;;
            dlsym)   g++ "${base[@]}" -DTK_DLSYM "$src" -o "$dst" -ldl -lpthread ;;
        esac
    fi
}
export -f compile
export toolchain apps out CUDA_INCLUDE

# The scenarios' libraries (testing/apps/reliability/lib/*.cpp), before the apps that link
# them, in both reliability builds: each reaches the driver by dlopen + dlsym (the test
# kit's dlsym backend), so that it links no runtime of its own beside the program's.
# Hidden visibility: the test kit's inline functions exist in the program too (built on
# the runtime backend), and without it the library's calls bind to the program's copies
# (seen on an H100: a static-runtime program's copies in the library never reached the
# driver).
for f in "$apps"/reliability/lib/*.cpp; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .cpp)
    for b in dynamic static; do
        dst="$out/reliability/$b/lib$name.so"
        if [ "$toolchain" = nvcc ]; then
            nvcc -x c++ -std=c++17 -O1 -DTK_DLSYM -I"$apps" -Xcompiler -fPIC,-fvisibility=hidden,-Wno-attributes -shared "$f" -o "$dst" -ldl
        else
            g++ -std=c++17 -O1 -g -fPIC -fvisibility=hidden -shared -DTK_DLSYM -Wno-attributes -Wno-deprecated-declarations -I"$apps" -I"$CUDA_INCLUDE" "$f" -o "$dst" -ldl
        fi
    done
done

echo "$plan" | xargs -P "$jobs" -L 1 bash -c 'compile "$0" "$1"' || {
    echo "build-test-apps: some apps failed to build" >&2
    exit 1
}
echo "build-test-apps: built $(echo "$plan" | wc -l) app builds with $toolchain into $out"
