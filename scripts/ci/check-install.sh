#!/usr/bin/env bash
# Every way of installing pinguard, checked as a user gets it (CI runs this):
#   1. the release build for glibc 2.17 (scripts/dev/build-release.sh): its glibc baseline
#      checked (and the check seen to fail on a build that needs more);
#   2. the wheel, installed into a fresh virtual environment: the demo through its
#      `pinguard` command, `python -m pinguard`, and no `--lib` anywhere;
#   3. the release tarball, unpacked elsewhere: the demo through its bin/pinguard, and
#      its library under every test app and reliability scenario on fakecuda (the tests
#      run the host's build; this is the build that ships, linked by another linker);
#   4. `cargo install --path cli`: the demo through the one file it installs.
# Installs cargo-zigbuild (crates.io) and zig (the PyPI package ziglang) if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v cargo-zigbuild >/dev/null || cargo install --quiet --locked cargo-zigbuild
python3 -c 'import ziglang' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages ziglang 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check ziglang

echo "== the release build (glibc 2.17)"
bash scripts/dev/build-release.sh
# The baseline check can fail: the host build needs a newer glibc than 2.17.
cargo build --release --quiet -p pinguard
if bash scripts/ci/check-glibc.sh 2.17 target/release/libpinguard.so >/dev/null 2>&1; then
    echo "check-install: check-glibc.sh passed a library that needs glibc $(objdump -T target/release/libpinguard.so | grep -o 'GLIBC_2\.[0-9]*' | sort -V | tail -n 1)" >&2
    exit 1
fi

echo "== the wheel's launcher on unsupported machines"
python3 python/test_main.py

echo "== the wheel, in a fresh virtual environment"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check dist/pinguard-*.whl
"$work/venv/bin/pinguard" --version
"$work/venv/bin/python" -m pinguard --version
PINGUARD="$work/venv/bin/pinguard" bash scripts/demo.sh

echo "== the release tarball, unpacked elsewhere"
tar -C "$work" -xzf dist/pinguard-*-x86_64-linux.tar.gz
(cd "$work"/pinguard-*-x86_64-linux && sha256sum -c --quiet SHA256SUMS)
PINGUARD=$(echo "$work"/pinguard-*-x86_64-linux/bin/pinguard) bash scripts/demo.sh
shipped=$(echo "$work"/pinguard-*-x86_64-linux/lib/libpinguard.so)
bash scripts/dev/build-test-apps.sh "$work/apps" >/dev/null
cargo build --quiet -p pinguard-harness
harness() {
    target/debug/pinguard-manifest-run --lib "$shipped" --apps "$work/apps" --library-path "$work/apps/fakecuda" "$@" \
        >"$work/harness.log" 2>&1 || { grep -v '^PASS' "$work/harness.log" >&2; exit 1; }
    tail -n 1 "$work/harness.log"
}
harness
harness --reliability --quick
# Full scale for the signal handler's copies: zig's linker once gave this build an
# unwinder that crashed in 1 of 20 runs there.
harness --reliability --only signal_copy

echo "== cargo install --path cli"
cargo install --quiet --locked --path cli --root "$work/cargo"
XDG_CACHE_HOME="$work/cache" PINGUARD="$work/cargo/bin/pinguard" bash scripts/demo.sh
echo "check-install: the wheel, the tarball and cargo install each ran the demo"
