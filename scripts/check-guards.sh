#!/usr/bin/env bash
# Cheap guards on the preload library's source, run in CI:
# - no constructors: pinguard initialises lazily on its first hooked call;
# - no call of the public dlsym (our own hook) and no crate that makes one;
# - exports come only from the hook declarations (src/hooks.rs) and the dlsym
#   trampoline (src/loader.rs); tests/exports.rs checks the built library.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
if grep -rnE 'init_array|#\[ctor|link_section' src/ | grep -vE ':[0-9]+:\s*//'; then
    echo "check-guards: constructors are not allowed in libpinguard.so (initialise lazily)" >&2
    fail=1
fi
if grep -rnE 'libc::dlsym\b|libloading' src/ Cargo.toml | grep -vE ':[0-9]+:\s*//'; then
    echo "check-guards: never call the public dlsym from pinguard (it is our own hook): use symbols::lookup" >&2
    fail=1
fi
if grep -rn 'no_mangle' src/ | grep -vE '^src/(hooks|loader)\.rs:' ; then
    echo "check-guards: exports come only from src/hooks.rs (declarations) and src/loader.rs (dlsym)" >&2
    fail=1
fi
[ $fail -eq 0 ] && echo "check-guards: ok"
exit $fail
