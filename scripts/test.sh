#!/usr/bin/env bash
# Every test: the workspace (unit, property, integration against fakecuda, reliability
# scenarios) and the model check of the registry's release protocol (shuttle, which
# needs the registry built on its primitives: a feature of its own).
#   bash scripts/test.sh            (CI runs this, through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests give the command its library (--lib): the debug command need not carry one
# (cli/build.rs would build the library a second time to embed it).
export PINGUARD_EMBED_LIBRARY=
cargo test --workspace "$@"
cargo test -p pinguard-core --features model --test model_release
