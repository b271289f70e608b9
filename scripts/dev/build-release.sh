#!/usr/bin/env bash
# Builds what a release ships, into dist/:
#   - pinguard and libpinguard.so for x86-64 Linux, glibc 2.17 or newer (cargo-zigbuild,
#     with zig from the PyPI package ziglang), checked against that baseline;
#   - pinguard-VERSION-x86_64-linux.tar.gz: bin/pinguard, lib/libpinguard.so, README.md,
#     LICENSE and SHA256SUMS; it runs from wherever it is unpacked (the command finds
#     the library in ../lib);
#   - the wheel (scripts/dev/build-wheel.py): `pip install` it, and `pinguard` is on the PATH;
#   - dist/SHA256SUMS.
#
#   bash scripts/dev/build-release.sh          (needs: cargo install cargo-zigbuild;
#                                           python3 -m pip install ziglang)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=x86_64-unknown-linux-gnu.2.17
command -v cargo-zigbuild >/dev/null || {
    echo "build-release: cargo-zigbuild is missing: cargo install cargo-zigbuild; python3 -m pip install ziglang" >&2
    exit 2
}
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit-modified"
PINGUARD_COMMIT=$commit cargo zigbuild --release --quiet -p pinguard -p pinguard-cli --target "$target"
built=target/x86_64-unknown-linux-gnu/release
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
rm -rf dist && mkdir -p dist/bin
cp "$built/pinguard" "$built/libpinguard.so" dist/bin/
strip --strip-debug dist/bin/pinguard dist/bin/libpinguard.so
bash scripts/ci/check-glibc.sh 2.17 dist/bin/pinguard dist/bin/libpinguard.so
name=pinguard-$version-x86_64-linux
stage=dist/$name
mkdir -p "$stage/bin" "$stage/lib"
cp dist/bin/pinguard "$stage/bin/"
cp dist/bin/libpinguard.so "$stage/lib/"
cp README.md LICENSE "$stage/"
(cd "$stage" && sha256sum bin/pinguard lib/libpinguard.so README.md LICENSE > SHA256SUMS)
tar -C dist -czf "dist/$name.tar.gz" "$name"
python3 scripts/dev/build-wheel.py dist/bin dist >/dev/null
rm -rf "$stage"
(cd dist && sha256sum ./*.tar.gz ./*.whl > SHA256SUMS)
echo "build-release: pinguard $version (commit $commit), glibc 2.17 baseline:"
ls -l dist/*.tar.gz dist/*.whl | awk '{print "  " $NF " (" int($5/1024) " KiB)"}'
