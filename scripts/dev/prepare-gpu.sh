#!/usr/bin/env bash
# Builds what the GPU machine needs (it has no Rust) into .gpu/, a git-ignored folder
# that the device tool carries: the release libpinguard.so (the glibc 2.17 build that
# ships, where cargo-zigbuild is installed), the pinguard command, the
# manifest runner, the benchmark binaries, fakecuda with its hot loop (pinguard's own
# cost without GPU noise), and the test apps built against CUDA 12.9 (a solid tar.xz:
# their static builds each hold the runtime).
#
# BEFORE=COMMIT also builds that commit's libpinguard.so and registry benchmark into
# .gpu/before/ (from a temporary worktree), so that scripts/gpu/bench.sh measures the
# change before and after in one run.
#
# BUILDS="COMMIT..." builds each commit's libpinguard.so into .gpu/builds/SHORT/, for
# scripts/gpu/bench.sh's pinned loop, which runs each as one more configuration in the
# same rounds: a bisection of a cost between builds takes one GPU run, not one a build
# (each library is about 1.6 MB stripped; the carry holds 64 MiB in all).
#
# CUDA_SAMPLES=DIR (a checkout of github.com/NVIDIA/cuda-samples, or its bare git
# directory) copies two of NVIDIA's programs, asyncAPI and simpleStreams, with the helper
# headers they include, into .gpu/samples/, for scripts/gpu/bench.sh's real programs
# (built there by nvcc; the GPU machine has no copy of the samples and no network).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# The release build for glibc 2.17 (cargo-zigbuild), the one that ships, where it can be
# made here; else the host's build (GLIBC_217=0 asks for that).
if [ "${GLIBC_217:-1}" = 1 ] && command -v cargo-zigbuild >/dev/null; then
    PINGUARD_EMBED_LIBRARY= cargo zigbuild --release -p pinguard -p pinguard-cli -p pinguard-harness \
        --target x86_64-unknown-linux-gnu.2.17
    built=target/x86_64-unknown-linux-gnu/release
    echo "glibc 2.17 (cargo-zigbuild)" > .gpu-build-kind
else
    cargo build --release --workspace
    built=target/release
    echo "host glibc ($(ldd --version | head -n 1))" > .gpu-build-kind
fi
mkdir -p .gpu
mv .gpu-build-kind .gpu/build-kind
cp "$built/libpinguard.so" "$built/pinguard" "$built/pinguard-manifest-run" .gpu/
strip --strip-debug .gpu/libpinguard.so .gpu/pinguard .gpu/pinguard-manifest-run
bash scripts/ci/check-glibc.sh 9.99 .gpu/libpinguard.so .gpu/pinguard
git rev-parse --short HEAD > .gpu/commit
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "+uncommitted" >> .gpu/commit
# Benchmarks (criterion and plain binaries), run there by scripts/gpu/bench.sh.
for bench in "pinguard-core registry" "pinguard-core scaling" "pinguard-core memory" "pinguard-report render"; do
    set -- $bench
    exe=$(cargo bench -p "$1" --bench "$2" --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and m.get("target",{}).get("name")==sys.argv[1]][-1])' "$2")
    cp "$exe" ".gpu/bench-$2"
    strip --strip-debug ".gpu/bench-$2"
done
rm -rf .gpu/before
if [ -n "${BEFORE:-}" ]; then
    wt=$(mktemp -d)
    git worktree add --detach "$wt" "$BEFORE" >/dev/null
    (cd "$wt" && CARGO_TARGET_DIR="$root/target/before" cargo build --release -p pinguard &&
        CARGO_TARGET_DIR="$root/target/before" cargo bench -p pinguard-core --bench registry --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and m.get("target",{}).get("name")=="registry"][-1])' > "$wt/.bench-exe")
    mkdir -p .gpu/before
    cp target/before/release/libpinguard.so "$(cat "$wt/.bench-exe")" .gpu/before/
    mv .gpu/before/registry-* .gpu/before/bench-registry
    strip --strip-debug .gpu/before/libpinguard.so .gpu/before/bench-registry
    git rev-parse --short "$BEFORE" > .gpu/before/commit
    git worktree remove --force "$wt"
fi
rm -rf .gpu/builds
for rev in ${BUILDS:-}; do
    short=$(git rev-parse --short "$rev")
    wt=$(mktemp -d)
    git worktree add --detach "$wt" "$rev" >/dev/null
    (cd "$wt" && CARGO_TARGET_DIR="$root/target/builds" cargo build --release -p pinguard)
    mkdir -p ".gpu/builds/$short"
    cp target/builds/release/libpinguard.so ".gpu/builds/$short/"
    strip --strip-debug ".gpu/builds/$short/libpinguard.so"
    echo "$short" > ".gpu/builds/$short/commit"
    git worktree remove --force "$wt"
done
# Two cuda-samples programs and their headers (NVIDIA's code, carried, never committed).
rm -rf .gpu/samples
if [ -n "${CUDA_SAMPLES:-}" ]; then
    mkdir -p .gpu/samples
    samples=(Samples/0_Introduction/asyncAPI/asyncAPI.cu Samples/0_Introduction/simpleStreams/simpleStreams.cu
        Common/helper_cuda.h Common/helper_functions.h Common/helper_string.h Common/helper_timer.h
        Common/helper_image.h Common/exception.h)
    for f in "${samples[@]}"; do
        if [ -f "$CUDA_SAMPLES/$f" ]; then
            cp "$CUDA_SAMPLES/$f" .gpu/samples/
        else
            git --git-dir="$CUDA_SAMPLES" show "HEAD:$f" > ".gpu/samples/$(basename "$f")"
        fi
    done
    git --git-dir="$CUDA_SAMPLES" rev-parse --short HEAD > .gpu/samples/commit 2>/dev/null ||
        git -C "$CUDA_SAMPLES" rev-parse --short HEAD > .gpu/samples/commit 2>/dev/null || true
fi
# fakecuda and its hot loop.
bash scripts/dev/build-test-apps.sh build/fake-bench >/dev/null
rm -rf .gpu/fakecuda && cp -r build/fake-bench/fakecuda .gpu/fakecuda
g++ -std=c++17 -O2 -w -Itesting/apps -I"$(ls -d build/cuda/nvidia/cu13/include)" bench/fake/hotloop.cpp -o .gpu/hotloop \
    -L.gpu/fakecuda -lcudart -lpthread
# The test apps against CUDA 12.9.
rm -rf build/cu12-apps && bash scripts/dev/build-cuda12-apps.sh build/cu12-apps >/dev/null
strip --strip-debug build/cu12-apps/dynamic/* build/cu12-apps/static/*
rm -rf build/cu12 && mv build/cu12-apps build/cu12 && tar -cJf .gpu/cu12.tar.xz -C build cu12
du -sh .gpu
